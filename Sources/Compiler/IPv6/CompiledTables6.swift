import IptParse

/// What an ip6tables ruleset becomes for the XDP program's IPv6 path (bpf/ipv6.h): an
/// ordered list of entries, each a conjunction of tests with the verdict of its position;
/// the first entry a packet meets decides, the policy when none does. Only `drop` is
/// decided in XDP; `accept` and `kernel` pass the packet up to the kernel's ip6tables,
/// which holds the whole ruleset (docs/ipv6.md).
///
/// A list rather than keyed tables: an IPv6 filter INPUT is short, and its large parts
/// (whitelists, blacklists) are sets, which the program looks up in LPM tries.
public struct CompiledTables6: Equatable, Sendable {
    public typealias Verdict = CompiledTables.Verdict

    /// The source (and, for a `,port` set, the port) in a set; the set's members are in
    /// `setMembers` under `id`.
    public struct SetTest: Equatable, Sendable {
        public enum Port: Equatable, Sendable { case none, source, destination }
        public var id: UInt32
        public var port: Port
        public var negated: Bool
    }

    public struct ICMPTest: Equatable, Sendable {
        public var type: UInt8
        public var codes: ClosedRange<UInt8>
    }

    /// `-m hl` (ip6t_hl.c): the hop limit compared with `value`; `! --hl-eq` is `eq` negated.
    public struct HopLimitTest: Equatable, Sendable {
        public enum Comparison: Equatable, Sendable { case eq, lt, gt }
        public var comparison: Comparison
        public var value: UInt8
    }

    /// `-m rt` (ip6t_rt.c) without its type-0 options: the packet's first routing header,
    /// its segments left in `segmentsLeft` (inverted by `segmentsNegated`), and when given
    /// its type and its length in bytes, each with its own `!`. No routing header: no match.
    public struct RoutingTest: Equatable, Sendable {
        public var segmentsLeft: ClosedRange<UInt32> = 0...UInt32.max
        public var segmentsNegated = false
        public var type: Negatable<UInt8>?
        public var length: Negatable<UInt16>?
    }

    /// `-m frag` (ip6t_frag.c): the packet's first fragment header, its identification in
    /// `ids` (inverted by `idsNegated`), and the flag tests. `--fraglen` tests nothing
    /// (frag_mt6 ignores it); `--fragfirst` holds for every fragment XDP judges (offset 0).
    public struct FragmentTest: Equatable, Sendable {
        public var ids: ClosedRange<UInt32> = 0...UInt32.max
        public var idsNegated = false
        public var reservedZero = false
        public var first = false
        public var more = false
        public var last = false
    }

    /// `-m ipv6header` (ip6t_ipv6header.c): which headers the packet has, as a mask of
    /// EIPT6_HDR_* bits. `! --header` negates the exact comparison; with `--soft` it asks for
    /// none of the headers (not "not all of them").
    public struct HeaderTest: Equatable, Sendable {
        public enum Mode: Equatable, Sendable { case exactly, notExactly, allOf, noneOf }
        public var mask: UInt8
        public var mode: Mode
    }

    /// One conjunction of tests; absent tests hold for every packet.
    public struct Tests: Equatable, Sendable {
        public var source: Negatable<IPPrefix>?
        public var destination: Negatable<IPPrefix>?
        /// The upper-layer protocol, after the extension headers (nft's meta l4proto).
        public var proto: Negatable<UInt8>?
        public var sourcePorts: Negatable<ClosedRange<UInt16>>?
        public var destinationPorts: Negatable<ClosedRange<UInt16>>?
        public var icmp: Negatable<ICMPTest>?
        public var set: SetTest?
        /// The conntrack state (`-m state`, `-m conntrack --ctstate`); a packet whose state
        /// the program cannot tell goes to the kernel at this entry.
        public var conntrack: Negatable<ConntrackStates>?
        public var hopLimit: Negatable<HopLimitTest>?
        public var routing: RoutingTest?
        public var fragment: FragmentTest?
        public var headers: HeaderTest?
        public init() {}

        /// Both conjunctions at once, or nil when one entry cannot say it (two different
        /// tests of one kind).
        func and(_ o: Tests) -> Tests? {
            func merge<T: Equatable>(_ a: T?, _ b: T?) -> (T?, Bool) {
                guard let a else { return (b, true) }
                guard let b else { return (a, true) }
                return (a, a == b)
            }
            var t = Tests()
            var ok = true
            func m<T: Equatable>(_ a: T?, _ b: T?) -> T? { let (v, fine) = merge(a, b); ok = ok && fine; return v }
            t.source = m(source, o.source)
            t.destination = m(destination, o.destination)
            t.proto = m(proto, o.proto)
            t.sourcePorts = m(sourcePorts, o.sourcePorts)
            t.destinationPorts = m(destinationPorts, o.destinationPorts)
            t.icmp = m(icmp, o.icmp)
            t.set = m(set, o.set)
            t.conntrack = m(conntrack, o.conntrack)
            t.hopLimit = m(hopLimit, o.hopLimit)
            t.routing = m(routing, o.routing)
            t.fragment = m(fragment, o.fragment)
            t.headers = m(headers, o.headers)
            return ok ? t : nil
        }
    }

    public struct Entry: Equatable, Sendable {
        public var position: UInt32
        public var verdict: Verdict
        public var tests: Tests
    }

    /// A member of a set the entries test: an address prefix (a hash:ip member is its
    /// address masked by the set's netmask), and for `,port` sets the protocol and port as
    /// ipset keeps them. `nomatch` members answer no (the longest stored prefix decides).
    public struct SetMember: Equatable, Sendable {
        public var set: UInt32
        public var address: IPBits
        public var prefixLength: UInt8
        public var port: IpsetPort?
        public var nomatch: Bool
    }

    public var entries: [Entry] = []
    /// Positions 0..<positions; the policy counts at `positions`.
    public var positions: UInt32 = 0
    public var policy: Verdict = .accept
    /// The program passes every IPv6 packet (the nat table has rules: a NATed connection's
    /// packets are rewritten before INPUT, which no IPv6 entry models).
    public var passAll = false
    /// The ruleset loads conntrack for IPv6, so the kernel reassembles fragments before
    /// PREROUTING: first fragments pass (EIPT6_GEN_FRAGMENTS_UP).
    public var firstFragmentsUp = false
    /// Some entry tests the conntrack state (EIPT6_GEN_NEEDS_CT).
    public var needsConntrack: Bool { entries.contains { $0.tests.conntrack != nil } }
    public var setIDs: [String: UInt32] = [:]
    public var setMembers: [SetMember] = []

    public init() {}

    /// Mirrors EIPT6_MAX_ENTRIES / EIPT6_MAX_POSITIONS in bpf/ebpf_iptables.h.
    public static let maxEntries = 1024
    public static let maxPositions = 1024
}
