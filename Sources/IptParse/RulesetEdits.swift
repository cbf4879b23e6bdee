/// Applying a parsed command to a ruleset, with iptables' rules for what may change.
/// A restore file and a live `ebpf-iptables -A ...` both edit through here.
public struct EditError: Error, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case noSuchChain, chainExists, badRule, indexTooBig, builtinChain, chainInUse, chainNotEmpty, badPolicy, invalid
    }
    public var kind: Kind
    public var message: String
    /// The chain the error is about, when it is not the one the command named (`-X` of all chains).
    public var chain: String?
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

extension Table {
    /// Applies one command. Listing commands change nothing; `-C` throws when the rule is absent.
    public mutating func apply(_ cmd: IptCommand) throws(EditError) {
        func chainIndex(_ name: String?) throws(EditError) -> Int {
            guard let name, let i = index(of: name) else {
                throw EditError(.noSuchChain, "no chain '\(name ?? "")' in table \(self.name)")
            }
            return i
        }
        switch cmd.kind {
        case .append:
            let i = try chainIndex(cmd.chain)
            chains[i].rules.append(contentsOf: cmd.rules)
        case .insert:
            let i = try chainIndex(cmd.chain)
            let n = cmd.ruleNumber ?? 1
            guard n <= chains[i].rules.count + 1 else {
                throw EditError(.indexTooBig, "cannot insert at position \(n): chain \(chains[i].name) has \(chains[i].rules.count) rules")
            }
            // Several rules (address lists, names of several addresses) go in one by one at
            // the same number, as iptables inserts them: the last written ends up first.
            chains[i].rules.insert(contentsOf: cmd.rules.reversed(), at: n - 1)
        case .delete:
            let i = try chainIndex(cmd.chain)
            if let n = cmd.ruleNumber {
                guard n <= chains[i].rules.count else {
                    throw EditError(.indexTooBig, "cannot delete rule \(n): chain \(chains[i].name) has \(chains[i].rules.count) rules")
                }
                chains[i].rules.remove(at: n - 1)
            } else {
                for r in cmd.rules {
                    guard let k = chains[i].rules.firstIndex(of: r) else {
                        throw EditError(.badRule, "no such rule in chain \(chains[i].name) (does a matching rule exist in that chain?)")
                    }
                    chains[i].rules.remove(at: k)
                }
            }
        case .replace:
            let i = try chainIndex(cmd.chain)
            guard cmd.rules.count == 1 else {
                throw EditError(.invalid, "-R replaces one rule; the addresses given expand to \(cmd.rules.count)")
            }
            let n = cmd.ruleNumber ?? 1
            guard n <= chains[i].rules.count else {
                throw EditError(.indexTooBig, "cannot replace rule \(n): chain \(chains[i].name) has \(chains[i].rules.count) rules")
            }
            chains[i].rules[n - 1] = cmd.rules[0]
        case .check:
            let i = try chainIndex(cmd.chain)
            for r in cmd.rules where !chains[i].rules.contains(r) {
                throw EditError(.badRule, "no such rule in chain \(chains[i].name) (does a matching rule exist in that chain?)")
            }
        case .policy:
            let i = try chainIndex(cmd.chain)
            guard chains[i].isBuiltin else {
                throw EditError(.builtinChain, "cannot set a policy on user chain \(chains[i].name): only built-in chains have one")
            }
            guard let p = cmd.argument, ["ACCEPT", "DROP"].contains(p) else {
                throw EditError(.badPolicy, "policy must be ACCEPT or DROP, not '\(cmd.argument ?? "")'")
            }
            chains[i].policy = p
        case .newChain:
            guard let name = cmd.chain else { throw EditError(.invalid, "-N needs a chain name") }
            guard index(of: name) == nil else { throw EditError(.chainExists, "chain \(name) already exists in table \(self.name)") }
            guard !["ACCEPT", "DROP", "RETURN", "QUEUE"].contains(name), ExtensionCatalog.targets[name] == nil else {
                throw EditError(.invalid, "'\(name)' is a target name and cannot name a chain")
            }
            chains.append(Chain(name: name))
        case .deleteChain:
            if let name = cmd.chain {
                let i = try chainIndex(name)
                guard !chains[i].isBuiltin else { throw EditError(.builtinChain, "cannot delete built-in chain \(name)") }
                guard references(to: name) == 0 else { throw EditError(.chainInUse, "chain \(name) is still referenced by a rule") }
                guard chains[i].rules.isEmpty else { throw EditError(.chainNotEmpty, "chain \(name) is not empty: flush it first") }
                chains.remove(at: i)
            } else {
                // As iptables-nft: empty unreferenced chains go, referenced ones stay without a
                // word, and the first non-empty one (in listing order) is the error.
                for c in chains where !c.isBuiltin && c.rules.isEmpty && references(to: c.name) == 0 {
                    chains.removeAll { $0.name == c.name }
                }
                let left = SavePrinter.chainOrder(self).first { !$0.isBuiltin && !$0.rules.isEmpty && references(to: $0.name) == 0 }
                if let left {
                    var e = EditError(.chainNotEmpty, "chain \(left.name) is not empty: flush it first")
                    e.chain = left.name
                    throw e
                }
            }
        case .renameChain:
            let i = try chainIndex(cmd.chain)
            guard let new = cmd.argument else { throw EditError(.invalid, "-E needs a new name") }
            guard !chains[i].isBuiltin else { throw EditError(.builtinChain, "cannot rename built-in chain \(chains[i].name)") }
            guard index(of: new) == nil else { throw EditError(.chainExists, "chain \(new) already exists in table \(self.name)") }
            let old = chains[i].name
            chains[i].name = new
            for c in chains.indices {
                for r in chains[c].rules.indices {
                    if case .jump(old) = chains[c].rules[r].target { chains[c].rules[r].target = .jump(new) }
                    if case .goto(old) = chains[c].rules[r].target { chains[c].rules[r].target = .goto(new) }
                }
            }
        case .flush:
            if let name = cmd.chain {
                let i = try chainIndex(name)
                chains[i].rules.removeAll()
            } else {
                for i in chains.indices { chains[i].rules.removeAll() }
            }
        case .zero:
            if let name = cmd.chain { _ = try chainIndex(name) }
            for i in chains.indices where cmd.chain == nil || chains[i].name == cmd.chain {
                chains[i].counters = Counters(packets: 0, bytes: 0)
                for r in chains[i].rules.indices { chains[i].rules[r].counters = nil }
            }
        case .list, .listRules:
            if let name = cmd.chain { _ = try chainIndex(name) }
        }
    }
}
