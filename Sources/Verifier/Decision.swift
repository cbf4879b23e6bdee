import Compiler
import IptParse

/// What decided one probe, on one side: a rule or a chain's policy, and the verdict.
public struct Decision: Equatable, Sendable, CustomStringConvertible {
    public enum Decider: Equatable, Sendable {
        /// Table, chain and 1-based index (the line is not compared: the XDP side knows it,
        /// the counters do not).
        case rule(table: String, chain: String, index: Int)
        case policy(table: String, chain: String)
    }

    public enum Verdict: Equatable, Sendable {
        case accept
        /// DROP, or REJECT (the packet goes no further either way).
        case drop
        /// A target that ends the packet's way through the chain but that we do not name as
        /// accept or drop (NFQUEUE, DNAT in nat PREROUTING, ...).
        case other(String)
    }

    public var decider: Decider
    public var verdict: Verdict

    public init(_ decider: Decider, _ verdict: Verdict) {
        self.decider = decider
        self.verdict = verdict
    }

    public init(rule: RuleRef, _ verdict: Verdict) {
        self.init(.rule(table: rule.table, chain: rule.chain, index: rule.index), verdict)
    }

    /// `SIP 3 (accept)` for filter rules, `raw/PREROUTING 2 (drop)` for others, `policy of INPUT (drop)`.
    public var description: String {
        let who: String
        switch decider {
        case .rule(let t, let c, let i): who = t == "filter" ? "\(c) \(i)" : "\(t)/\(c) \(i)"
        case .policy(let t, let c): who = t == "filter" ? "policy of \(c)" : "policy of \(t)/\(c)"
        }
        switch verdict {
        case .accept: return who + " (accept)"
        case .drop: return who + " (drop)"
        case .other(let target): return who + " (\(target))"
        }
    }
}

extension Decision {
    /// The kernel's decision in a filter table alone, from its counters (the table restored
    /// without the others).
    public static func kernel(before: KernelCounters, after: KernelCounters, filter: Table) -> Decision? {
        KernelWalk(ruleset: Ruleset(family: .ipv4, tables: [filter]), before: before, after: after).decision()
    }

    /// The XDP program's, from its per-position counters.
    public static func xdp(before: [UInt64], after: [UInt64], compiled: CompileResult) -> Decision? {
        XDPAnswer.decision(before: before, after: after, compiled: compiled)
    }
}

/// What XDP did with a probe: the program's action, and the position whose counter moved
/// (drops; with `--xdp-only` tables also accepts), mapped back to its rule.
public struct XDPAnswer: Equatable, Sendable {
    public var dropped: Bool
    /// nil when no counter moved: XDP passed the packet up without deciding it itself.
    public var decision: Decision?

    public init(dropped: Bool, decision: Decision?) {
        self.dropped = dropped
        self.decision = decision
    }

    /// The decision of the position whose counter moved between `before` and `after`.
    public static func decision(before: [UInt64], after: [UInt64], compiled: CompileResult) -> Decision? {
        let t = compiled.tables
        // CONTINUE positions the packet met are counted with the deciding one: skip them.
        guard let pos = zip(before, after).enumerated().first(where: {
            $0.element.1 > $0.element.0 && !($0.offset < t.verdicts.count && t.verdicts[$0.offset].continues)
        })?.offset else { return nil }
        if pos >= compiled.origins.count || compiled.origins[pos].isPolicy {
            return Decision(.policy(table: "filter", chain: "INPUT"), t.policy == .drop ? .drop : .accept)
        }
        let verdict: Decision.Verdict
        switch t.verdicts[pos] {
        case .drop, .reject: verdict = .drop
        case .accept: verdict = .accept
        case .kernel, .continue, .continueWithoutEntry: verdict = .other("KERNEL")
        }
        return Decision(rule: compiled.origins[pos].rule, verdict)
    }
}

/// What the kernel alone did with a probe: whether it got through filter INPUT (and every
/// other INPUT hook) to the host, and the rule the counters name as deciding.
public struct KernelAnswer: Equatable, Sendable {
    public var accepted: Bool
    /// nil when no rule or policy on the way to filter INPUT's end decided it (the routing
    /// dropped it, or a rule the counters cannot tell).
    public var decision: Decision?

    public init(accepted: Bool, decision: Decision?) {
        self.accepted = accepted
        self.decision = decision
    }

    /// The delivery counter and the deciding rule tell the same story: accepted by an
    /// ACCEPT, or not accepted by a DROP (or a target that is neither).
    var isSettled: Bool {
        switch decision?.verdict {
        case .accept?: accepted
        case .drop?: !accepted
        case .other?: true
        case nil: false
        }
    }
}
