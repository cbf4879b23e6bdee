import IptParse

/// One stateful match of one rule, wherever the rule is inlined: its state (a bucket, a
/// counter) is one, and the program evaluates it at most once per packet. The Loader
/// numbers the instances of a generation 0, 1, ... in the order the fallback list first
/// holds them (`eipt_ext.id`, the per-packet memo of bpf/ext_stateful.h).
public struct ExtInstance: Hashable, Sendable {
    public var rule: RuleRef
    /// The match's index among the rule's matches.
    public var match: Int
    public init(rule: RuleRef, match: Int) {
        self.rule = rule
        self.match = match
    }
}

/// A test of an extension match that the XDP program evaluates outside the fixed fields of
/// a fallback entry (`struct eipt_ext` in bpf/ebpf_iptables.h, one function per kind in
/// bpf/ext_*.h). A rule with such tests is always a fallback entry; the program evaluates
/// its ext tests in order, and only once every fixed test of the entry holds, as iptables
/// evaluates a rule's matches in order (which matters for the stateful ones).
///
/// Each kind says how it is negated: `negation` is nil for a test whose `!` is not the
/// complement (a stateful match acts whatever its answer), which RETURN cannot invert.
public enum ExtTest: Equatable, Hashable, Sendable {
    /// `-m mac --mac-source`: the Ethernet source address.
    case mac([UInt8], negated: Bool)
    /// `-m recent` (RecentTest.swift, bpf/ext_recent.h): stateful, acts on a list.
    case recent(RecentTest)

    /// The kind, as a word for reports and layout errors.
    public var kind: String {
        switch self {
        case .mac: "mac"
        case .recent: "recent"
        }
    }

    /// The same test negated, when the complement is one test.
    public var negation: ExtTest? {
        switch self {
        case .mac(let a, let n): .mac(a, negated: !n)
        case .recent: nil // it acts whatever it answers: `!` is not its complement
        }
    }

    /// Whether the test changes state when evaluated (a token bucket, a list): it must then be
    /// evaluated exactly where iptables evaluates it, once per packet.
    public var isStateful: Bool {
        switch self {
        case .mac: false
        case .recent: true
        }
    }

    /// The state a stateful test acts on (nil for the others). Stateful cases carry one.
    public var instance: ExtInstance? {
        switch self {
        case .mac: nil
        case .recent(let r): r.instance
        }
    }

    /// Stateful instances one generation may hold (ids of the per-packet memo).
    public static let maxStatefulInstances = 64

    /// How the XDP program answers for `p` (the Swift mirror of bpf/ext_*.h): nil when the
    /// packet facts do not say (the caller then treats the rule as one that may match).
    public func holds(for p: PacketFacts) -> Bool? {
        switch self {
        case .mac(let a, let n):
            guard let mac = p.sourceMAC else { return nil }
            return (mac == a) != n
        case .recent:
            return nil // depends on the list: the mirror cannot say
        }
    }
}
