import IptParse

/// Names the rule that decided one probe in the kernel from which counters moved, by walking
/// the chains as the kernel did: through the hooks an arriving packet for this host passes
/// (raw, mangle, nat PREROUTING, mangle INPUT, filter INPUT), following a jump or goto only
/// when its counter moved. Following the packet's way (rather than scanning for any terminal
/// rule whose counter moved) keeps a rule of OUTPUT, or a user chain a reply walked through,
/// from being taken for the decision.
public struct KernelWalk {
    let ruleset: Ruleset
    let before: KernelCounters
    let after: KernelCounters

    public init(ruleset: Ruleset, before: KernelCounters, after: KernelCounters) {
        self.ruleset = ruleset
        self.before = before
        self.after = after
    }

    /// The hooks before filter INPUT, in the order the kernel runs them.
    static let beforeFilter: [(table: String, chain: String)] = [
        ("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"), ("mangle", "INPUT"),
    ]

    /// Targets that let the packet go on to the next rule.
    static let nonTerminating: Set<String> = ["LOG", "NFLOG", "ULOG", "SET", "MARK", "CONNMARK", "CLASSIFY", "AUDIT",
                                              "TRACE", "DSCP", "TOS", "TTL", "TCPMSS", "CHECKSUM", "IDLETIMER", "LED",
                                              "NETMAP", "CONNSECMARK", "SECMARK", "HMARK", "RATEEST"]

    enum Outcome {
        case decided(Decision)
        /// RETURN, or the end of a user chain: the caller goes on.
        case returned
    }

    /// A DROP before filter INPUT, else filter INPUT's decision (a rule, or the policy when
    /// its counter moved), else nil.
    public func decision() -> Decision? {
        for hook in Self.beforeFilter {
            guard let table = ruleset.table(hook.table) else { continue }
            if case .decided(let d) = walk(table, hook.chain, depth: 0), d.verdict == .drop { return d }
        }
        guard let filter = ruleset.table("filter") else { return nil }
        if case .decided(let d) = walk(filter, "INPUT", depth: 0) { return d }
        guard after.policy("filter", "INPUT") > before.policy("filter", "INPUT"), let p = filter.chain("INPUT")?.policy else { return nil }
        return Decision(.policy(table: "filter", chain: "INPUT"), p == "DROP" ? .drop : .accept)
    }

    private func moved(_ table: String, _ chain: String, _ index: Int) -> Bool {
        after.packets(table, chain, rule: index) > before.packets(table, chain, rule: index)
    }

    /// iptables forbids loops; the bound only guards against counters that lie.
    private static let maxDepth = 64

    private func walk(_ table: Table, _ chainName: String, depth: Int) -> Outcome {
        guard depth < Self.maxDepth, let chain = table.chain(chainName) else { return .returned }
        for (i, rule) in chain.rules.enumerated() where moved(table.name, chainName, i + 1) {
            let ref = Decision.Decider.rule(table: table.name, chain: chainName, index: i + 1)
            switch rule.target {
            case .accept?: return .decided(Decision(ref, .accept))
            case .drop?, .reject?: return .decided(Decision(ref, .drop))
            case .queue?: return .decided(Decision(ref, .other("QUEUE")))
            case .return?: return .returned
            case .jump(let c)?:
                if case .decided(let d) = walk(table, c, depth: depth + 1) { return .decided(d) }
            case .goto(let c)?:
                // A RETURN (or the end) in a goto'd chain returns to this chain's caller.
                return walk(table, c, depth: depth + 1)
            case .opaque(let e)?:
                if !Self.nonTerminating.contains(e.name) { return .decided(Decision(ref, .other(e.name))) }
            case .log?, nil:
                continue
            }
        }
        return .returned
    }
}
