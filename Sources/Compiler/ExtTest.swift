import IptParse

/// One stateful match of one rule, wherever the rule is inlined: its state (a bucket, a
/// counter) is one, and the program evaluates it at most once per packet. The Loader
/// numbers the instances of a generation 0, 1, ... in the order the fallback list first
/// holds them (`eipt_ext.id`, the per-packet memo of bpf/ext_stateful.h).
public struct ExtInstance: Hashable, Sendable {
    public var rule: RuleRef
    /// The match's index among the rule's matches.
    public var match: Int
    /// The rule's source line is left out: the same ruleset read back from the kernel
    /// (iptables-save, no lines) must compile to the same tables as the one predicted from
    /// the file or the command line.
    public init(rule: RuleRef, match: Int) {
        self.rule = RuleRef(table: rule.table, chain: rule.chain, index: rule.index, line: nil)
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
    /// `-m limit`: xt_limit's token bucket, one per instance (bpf/ext_limit.h). `average` and
    /// `burst` as iptables stores them (xt_rateinfo); limit has no `!`.
    case limit(average: UInt32, burst: UInt32, instance: ExtInstance)
    /// `-m statistic` (bpf/ext_statistic.h); `negated` is XT_STATISTIC_INVERT.
    case statistic(StatisticMode, negated: Bool, instance: ExtInstance)
    /// `-m hashlimit` in packet mode (bpf/ext_hashlimit.h); `negated` is --hashlimit-above.
    case hashlimit(Hashlimit, negated: Bool, instance: ExtInstance)
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
    /// `-m recent` (RecentTest.swift, bpf/ext_recent.h): stateful, acts on a list.
    case recent(RecentTest)
    /// `-m conntrack` options, or a state test after a stateful one (ConntrackTest.swift,
    /// bpf/ext_conntrack.h).
    case conntrack(ConntrackTest)
    /// `-m time` in UTC (TimeMatch.swift, bpf/ext_time.h); `negated` only from a RETURN's
    /// complement (xt_time has no `!` of its own).
    case time(TimeMatch, negated: Bool)
    /// The complement of a stateful test's answer, read from the per-packet memo of its
    /// instance and never acting (EIPT_EXT_ID_MEMO_NOT): only after a position that evaluates
    /// it for every packet that can get here (ContinuePositions.swift, a charged RETURN).
    indirect case memoNegation(ExtTest)
    /// A second protocol test of one conjunction (FallbackLowering; bpf/ext_proto.h).
    case proto(UInt8, negated: Bool)

    /// The kind, as a word for reports and layout errors.
    public var kind: String {
        switch self {
        case .mac: "mac"
        case .addrtype: "addrtype"
        case .pkttype: "pkttype"
        case .limit: "limit"
        case .statistic: "statistic"
        case .hashlimit: "hashlimit"
        case .string: "string"
        case .tcpOption: "TCP option"
        case .ipRange(let d, _, _, _): d ? "destination range" : "source range"
        case .length: "length"
        case .ttl: "TTL"
        case .recent: "recent"
        case .conntrack: "conntrack"
        case .time: "time"
        case .memoNegation(let e): e.kind
        case .proto: "protocol"
        }
    }

    /// The same test negated, when the complement is one test.
    public var negation: ExtTest? {
        switch self {
        case .mac(let a, let n): .mac(a, negated: !n)
        case .addrtype(let a, let n): .addrtype(a, negated: !n)
        case .pkttype(let t, let n): .pkttype(t, negated: !n)
        // A stateful test acts whatever its answer: its `!` is not a complement.
        case .limit, .statistic, .hashlimit: nil
        case .string(let s, let n): .string(s, negated: !n)
        // Not the complement for non-first fragments (the tcp match is false there, `!` or
        // not); the fragment atom every tcp match carries says those apart.
        case .tcpOption(let o, let n): .tcpOption(o, negated: !n)
        case .ipRange(let d, let lo, let hi, let n): .ipRange(destination: d, lower: lo, upper: hi, negated: !n)
        case .length(let r, let n): .length(r, negated: !n)
        case .ttl(let t): t.negation.map { .ttl($0) }
        case .recent: nil // it acts whatever it answers: `!` is not its complement
        case .conntrack: nil // a conjunction of options: its complement is not one test
        // MAYBE near a boundary either way: the complement is exact.
        case .time(let t, let n): .time(t, negated: !n)
        case .memoNegation(let e): e
        case .proto(let p, let n): .proto(p, negated: !n)
        }
    }

    /// Whether the test changes state when evaluated (a token bucket, a list): it must then be
    /// evaluated exactly where iptables evaluates it, once per packet.
    public var isStateful: Bool {
        switch self {
        case .mac, .addrtype, .pkttype, .string, .tcpOption, .ipRange, .length, .ttl, .conntrack, .time, .proto: false
        case .limit, .statistic, .hashlimit, .recent, .memoNegation: true
        }
    }

    /// `-m statistic --mode random`: the program does not draw where it meets the test but
    /// records a pending draw and goes on as if it did not match; it draws at the end only
    /// when XDP itself carries out every outcome the draws can lead to (XDPDecision.swift,
    /// bpf/ext_statistic.h), so that the kernel never draws a second time for one packet.
    public var isPendingDraw: Bool {
        if case .statistic(.random, _, _) = self { true } else { false }
    }

    /// The state a stateful test acts on (nil for the others). Stateful cases carry one.
    public var instance: ExtInstance? {
        switch self {
        case .mac, .addrtype, .pkttype, .string, .tcpOption, .ipRange, .length, .ttl, .conntrack, .time, .proto: nil
        case .limit(_, _, let i), .statistic(_, _, let i), .hashlimit(_, _, let i): i
        case .recent(let r): r.instance
        case .memoNegation(let e): e.instance
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
        case .limit, .statistic, .hashlimit:
            // Time and counters: the mirror cannot tell, the rule may match.
            return nil
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
            return t.holds(p.ttl)
        case .recent:
            return nil // depends on the list: the mirror cannot say
        case .conntrack(let t):
            // PacketFacts carries no conntrack entry: answered as for a packet conntrack has
            // none for (decide's default); with an entry the answer is
            // ConntrackTest.holds(entry:packet:stateWithoutEntry:).
            return t.holds(entry: nil, packet: p, stateWithoutEntry: CompiledTables.stateWithoutEntry(p))
        case .time(let t, let n):
            guard let ns = p.realtimeNanoseconds, let a = t.xdpAnswer(realtimeNanoseconds: ns) else { return nil }
            return a != n
        case .memoNegation(let e):
            return e.holds(for: p).map { !$0 }
        case .proto(let v, let n):
            return (p.proto == v) != n
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

/// xt_statistic's two modes, with the numbers libxt_statistic stores.
public enum StatisticMode: Equatable, Hashable, Sendable {
    /// Matches when a random 31-bit number is below `probability` (lround(2^31 * p)).
    case random(probability: UInt32)
    /// `every` is n - 1; `count` the counter's first value, every - packet.
    case nth(every: UInt32, count: UInt32)
}

/// One hashlimit match's table as xt_hashlimit's revision 3 keeps it (hashlimit_cfg3).
public struct Hashlimit: Equatable, Hashable, Sendable {
    public static let srcIP: UInt32 = 1 << 2, dstIP: UInt32 = 1 << 0, srcPort: UInt32 = 1 << 3, dstPort: UInt32 = 1 << 1
    public var name: String
    /// The average interval in 1/1000000 s.
    public var average: UInt64
    public var burst: UInt32
    /// XT_HASHLIMIT_HASH_* bits.
    public var mode: UInt32
    public var sourceMask: UInt8 = 32
    public var destinationMask: UInt8 = 32
    public var expireMs: UInt32 = 10_000
    /// 0: the kernel's default from the machine's memory.
    public var size: UInt32 = 0
    public var max: UInt32 = 0
    public init(name: String, average: UInt64, burst: UInt32, mode: UInt32) {
        self.name = name
        self.average = average
        self.burst = burst
        self.mode = mode
    }
}
