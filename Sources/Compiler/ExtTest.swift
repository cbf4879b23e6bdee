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
    /// `-m addrtype`: the kernel's type of the source and/or destination address
    /// (bpf/ext_addrtype.h); `negated` inverts the whole match (the options' own `!` are in
    /// the test).
    case addrtype(AddrTypeTest, negated: Bool)
    /// `-m pkttype --pkt-type`: skb->pkt_type (0 host, 1 broadcast, 2 multicast, 3 otherhost).
    case pkttype(UInt8, negated: Bool)

    /// The kind, as a word for reports and layout errors.
    public var kind: String {
        switch self {
        case .mac: "mac"
        case .addrtype: "addrtype"
        case .pkttype: "pkttype"
        }
    }

    /// The same test negated, when the complement is one test.
    public var negation: ExtTest? {
        switch self {
        case .mac(let a, let n): .mac(a, negated: !n)
        case .addrtype(let a, let n): .addrtype(a, negated: !n)
        case .pkttype(let t, let n): .pkttype(t, negated: !n)
        }
    }

    /// Whether the test changes state when evaluated (a token bucket, a list): it must then be
    /// evaluated exactly where iptables evaluates it, once per packet.
    public var isStateful: Bool {
        switch self {
        case .mac, .addrtype, .pkttype: false
        }
    }

    /// The state a stateful test acts on (nil for the others). Stateful cases carry one.
    public var instance: ExtInstance? {
        switch self {
        case .mac, .addrtype, .pkttype: nil
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
        case .addrtype(let a, let n):
            // The types depend on the host's addresses (and, with --limit-iface-in, on the
            // device), which the facts give only without that option.
            guard !a.limitIfaceIn else { return nil }
            var ok = true
            if let m = a.sourceMask {
                guard let t = p.sourceAddressType else { return nil }
                ok = (m & (1 << UInt16(t)) != 0) != a.sourceNegated
            }
            if ok, let m = a.destinationMask {
                guard let t = p.destinationAddressType else { return nil }
                ok = (m & (1 << UInt16(t)) != 0) != a.destinationNegated
            }
            return ok != n
        case .pkttype(let t, let n):
            guard let pt = p.packetType else { return nil }
            return (pt == t) != n
        }
    }
}

/// `-m addrtype` as the program tests it: masks of `1 << RTN_*` (xt_addrtype's bits: UNSPEC
/// 0, UNICAST 1, LOCAL 2, BROADCAST 3, ANYCAST 4, MULTICAST 5, ...); nil is no test.
public struct AddrTypeTest: Equatable, Hashable, Sendable {
    public var sourceMask: UInt16?
    public var sourceNegated: Bool
    public var destinationMask: UInt16?
    public var destinationNegated: Bool
    public var limitIfaceIn: Bool
    public init(sourceMask: UInt16? = nil, sourceNegated: Bool = false, destinationMask: UInt16? = nil,
                destinationNegated: Bool = false, limitIfaceIn: Bool = false) {
        self.sourceMask = sourceMask
        self.sourceNegated = sourceNegated
        self.destinationMask = destinationMask
        self.destinationNegated = destinationNegated
        self.limitIfaceIn = limitIfaceIn
    }

    /// The RTN_* value of an iptables type name (UNICAST, LOCAL, ...), its bit number.
    public static func rtnType(_ name: String) -> Int? {
        AddrTypeMatch.kernelOrder.firstIndex(of: name.uppercased())
    }
}
