import Compiler
import IptParse

/// Names a rule across rewrites of the ruleset: its table, chain, text and which of the
/// rules with that text in that chain it is. Positions change with every edit; this does
/// not unless the rule itself changes (the kernel's counters behave the same way).
public struct RuleIdentity: Hashable, Sendable, Comparable {
    public var key: String

    public init(table: String, chain: String, text: String, occurrence: Int) {
        key = "\(table)\t\(chain)\t\(occurrence)\t\(text)"
    }

    public static func policy(table: String = "filter", chain: String) -> RuleIdentity {
        RuleIdentity(key: "\(table)\t\(chain)\tpolicy")
    }

    init(key: String) { self.key = key }

    public static func < (a: RuleIdentity, b: RuleIdentity) -> Bool { a.key < b.key }

    /// Every rule of `ruleset` by (table, chain, 1-based index).
    static func all(in ruleset: Ruleset) -> [String: [RuleIdentity]] {
        var out: [String: [RuleIdentity]] = [:]
        for t in ruleset.tables {
            for c in t.chains {
                var seen: [String: Int] = [:]
                out[t.name + "\t" + c.name] = c.rules.map { r in
                    let text = RulePrinter.spec(r, family: ruleset.family)
                    seen[text, default: 0] += 1
                    return RuleIdentity(table: t.name, chain: c.name, text: text, occurrence: seen[text] ?? 1)
                }
            }
        }
        return out
    }
}

/// What XDP runs: the compiled tables, and for each position (the policy's last) the rules
/// whose counters a packet XDP decides there belongs to.
public struct XDPProgram: Sendable {
    public var tables: CompiledTables
    public var positions: [[RuleIdentity]]
    /// Per `reject` position, the OUTPUT/POSTROUTING rules and policies its replies count on.
    public var replyPositions: [UInt32: [RuleIdentity]] = [:]
    public var result: CompileResult?

    public init(result: CompileResult, ruleset: Ruleset) {
        tables = result.tables
        self.result = result
        let rules = RuleIdentity.all(in: ruleset)
        var positions: [[RuleIdentity]] = []
        positions.reserveCapacity(result.origins.count + 1)
        for o in result.origins {
            var ids: [RuleIdentity] = []
            if let list = rules[o.rule.table + "\t" + o.rule.chain], o.rule.index >= 1, o.rule.index <= list.count {
                ids.append(list[o.rule.index - 1])
            }
            for v in o.via {
                if let list = rules[v.table + "\t" + v.chain], v.index >= 1, v.index <= list.count { ids.append(list[v.index - 1]) }
            }
            if o.isPolicy { ids.append(.policy(chain: "INPUT")) }
            if !o.replyPlaces.isEmpty {
                replyPositions[UInt32(positions.count)] = o.replyPlaces.compactMap { place in
                    switch place {
                    case .rule(let r):
                        guard let list = rules[r.table + "\t" + r.chain], r.index >= 1, r.index <= list.count else { return nil }
                        return list[r.index - 1]
                    case .policy(let table, let chain):
                        return .policy(table: table, chain: chain)
                    }
                }
            }
            positions.append(ids)
        }
        positions.append([.policy(chain: "INPUT")])
        self.positions = positions
    }

    init(tables: CompiledTables, positions: [[RuleIdentity]]) {
        self.tables = tables
        self.positions = positions
        self.result = nil
    }

    static var passEverything: XDPProgram { XDPProgram(tables: .passEverything, positions: [[], []]) }

    /// Leaves out of the reply positions the policies of built-in chains the kernel does not
    /// have (`KernelLayer.builtinChains`): the kernel's reply never passes them.
    mutating func keepPolicies(of present: Set<String>) {
        replyPositions = replyPositions.mapValues { ids in
            ids.filter { id in
                let parts = id.key.split(separator: "\t", omittingEmptySubsequences: false)
                guard parts.count == 3, parts[2] == "policy" else { return true }
                return present.contains(parts[0] + "\t" + parts[1])
            }
        }
    }

    public var identities: Set<RuleIdentity> { Set(positions.joined()).union(replyPositions.values.joined()) }
}
