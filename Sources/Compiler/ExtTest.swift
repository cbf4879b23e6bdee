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
    /// `-m string` (StringSearch.swift, bpf/ext_string.h).
    case string(StringSearch, negated: Bool)
    /// `-p tcp --tcp-option N` (bpf/ext_tcpopt.h).
    case tcpOption(UInt8, negated: Bool)
    /// `-m iprange`, one direction: host-order inclusive bounds (bpf/ext_iprange.h).
    case ipRange(destination: Bool, lower: UInt32, upper: UInt32, negated: Bool)
    /// A rule's second `-m length` test (the entry's own field holds the first).
    case length(ClosedRange<UInt16>, negated: Bool)
    /// A rule's second `-m ttl` test.
    case ttl(TTLMatch)

    /// The kind, as a word for reports and layout errors.
    public var kind: String {
        switch self {
        case .mac: "mac"
        case .string: "string"
        case .tcpOption: "TCP option"
        case .ipRange(let d, _, _, _): d ? "destination range" : "source range"
        case .length: "length"
        case .ttl: "TTL"
        }
    }

    /// The same test negated, when the complement is one test.
    public var negation: ExtTest? {
        switch self {
        case .mac(let a, let n): .mac(a, negated: !n)
        case .string(let s, let n): .string(s, negated: !n)
        // Not the complement for non-first fragments (the tcp match is false there, `!` or
        // not); the fragment atom every tcp match carries says those apart.
        case .tcpOption(let o, let n): .tcpOption(o, negated: !n)
        case .ipRange(let d, let lo, let hi, let n): .ipRange(destination: d, lower: lo, upper: hi, negated: !n)
        case .length(let r, let n): .length(r, negated: !n)
        case .ttl(let t):
            switch t.op {
            case .eq: .ttl(TTLMatch(op: .ne, value: t.value))
            case .ne: .ttl(TTLMatch(op: .eq, value: t.value))
            default: nil
            }
        }
    }

    /// Whether the test changes state when evaluated (a token bucket, a list): it must then be
    /// evaluated exactly where iptables evaluates it, once per packet.
    public var isStateful: Bool {
        switch self {
        case .mac, .string, .tcpOption, .ipRange, .length, .ttl: false
        }
    }

    /// The state a stateful test acts on (nil for the others). Stateful cases carry one.
    public var instance: ExtInstance? {
        switch self {
        case .mac, .string, .tcpOption, .ipRange, .length, .ttl: nil
        }
    }

    /// MF in an IP header: a first fragment, whose datagram INPUT sees reassembled.
    static func moreFragments(_ ip: [UInt8]) -> Bool { ip.count > 6 && ip[6] & 0x20 != 0 }

    /// Stateful instances one generation may hold (ids of the per-packet memo).
    public static let maxStatefulInstances = 64

    /// How the XDP program answers for `p` (the Swift mirror of bpf/ext_*.h): nil when the
    /// packet facts do not say (the caller then treats the rule as one that may match).
    public func holds(for p: PacketFacts) -> Bool? {
        switch self {
        case .mac(let a, let n):
            guard let mac = p.sourceMAC else { return nil }
            return (mac == a) != n
        case .string(let s, let n):
            // A first fragment: the kernel searches the reassembled datagram.
            guard let ip = p.ipPacket, !Self.moreFragments(ip), let found = s.matches(ipPacket: ip) else { return nil }
            return found != n
        case .tcpOption(let o, let n):
            if p.nonFirstFragment { return false }
            guard let ip = p.ipPacket, let found = TCPOptionWalk.contains(o, ipPacket: ip) else { return nil }
            return found != n
        case .ipRange(let d, let lo, let hi, let n):
            let a = d ? p.destination : p.source
            return (a >= lo && a <= hi) != n
        case .length(let r, let n):
            if let ip = p.ipPacket, Self.moreFragments(ip) { return nil }
            return r.contains(p.totalLength) != n
        case .ttl(let t):
            switch t.op {
            case .eq: return p.ttl == t.value
            case .ne: return p.ttl != t.value
            case .lt: return p.ttl < t.value
            case .gt: return p.ttl > t.value
            }
        }
    }
}
