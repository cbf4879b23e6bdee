/// A chain: built-in ones have a policy, user chains have none.
public struct Chain: Equatable, Sendable {
    public var name: String
    public var policy: String?
    public var counters: Counters
    public var rules: [Rule]

    public init(name: String, policy: String? = nil, counters: Counters = Counters(packets: 0, bytes: 0), rules: [Rule] = []) {
        self.name = name
        self.policy = policy
        self.counters = counters
        self.rules = rules
    }
    public var isBuiltin: Bool { policy != nil }
}

public struct Table: Equatable, Sendable {
    public var name: String
    /// Built-in chains first in hook order, then user chains in creation order.
    public var chains: [Chain]

    /// A table as the kernel creates it: its built-in chains, empty, policy ACCEPT.
    public init(name: String) {
        self.name = name
        self.chains = (BuiltinTables.chains[name] ?? []).map { Chain(name: $0, policy: "ACCEPT") }
    }

    public func index(of chain: String) -> Int? { chains.firstIndex { $0.name == chain } }
    public func chain(_ name: String) -> Chain? { index(of: name).map { chains[$0] } }

    /// How many rules jump or go to `chain`.
    public func references(to chain: String) -> Int {
        chains.reduce(0) { n, c in
            n + c.rules.filter { r in
                if case .jump(let t) = r.target, t == chain { return true }
                if case .goto(let t) = r.target, t == chain { return true }
                return false
            }.count
        }
    }
}

/// Everything one family's iptables holds: the tables in the order they were first restored.
public struct Ruleset: Equatable, Sendable {
    public var family: Family
    public var tables: [Table]

    public init(family: Family, tables: [Table] = []) {
        self.family = family
        self.tables = tables
    }

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }

    public mutating func replaceTable(_ t: Table) {
        if let i = tables.firstIndex(where: { $0.name == t.name }) { tables[i] = t } else { tables.append(t) }
    }
}
