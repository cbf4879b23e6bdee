import IptParse

/// What a ruleset becomes for the XDP program: keyed tables whose values are rule
/// positions, a bounded fallback list, and the verdict of each position. The program
/// judges a packet by the lowest position among every table entry and fallback rule
/// that matches it (iptables' first match), or by the policy when none does.
///
/// Plain values, so the Compiler stays a pure function and tests compare tables directly.
/// Addresses are host-order UInt32 here; the Loader writes them in network order.
public struct CompiledTables: Equatable, Sendable {
    /// What the program does with a packet decided at a position. Only `drop` is decided in
    /// XDP: `accept` and `kernel` pass the packet up, where the kernel's own iptables (which
    /// holds the whole ruleset) decides it again. `kernel` marks a rule the compiler cannot
    /// decide exactly; its entries over-approximate the packets it may match.
    public enum Verdict: UInt32, Equatable, Sendable {
        case accept = 1, drop = 2, kernel = 3
        /// Dropped as `drop` is, and answered from XDP with the kernel's REJECT reply
        /// (`rejectReplies`), or passed up where XDP cannot be sure of it.
        case reject = 4
        /// Matches as any position, and the walk goes on after it (a rule whose target does
        /// not end iptables' walk: none, MARK, ...; ContinuePositions.swift). Always a
        /// fallback entry; counted when the packet is finally decided in XDP.
        case `continue` = 5
        /// `continue` for a packet without a conntrack entry; one with an entry goes to the
        /// kernel (CONNMARK changing the connection's mark, which outlives a dropped packet).
        case continueWithoutEntry = 6
    }

    public struct ProtoPort: Hashable, Sendable {
        public var proto: UInt8
        /// nil: any port (also packets without ports).
        public var port: UInt16?
        public init(proto: UInt8, port: UInt16?) {
            self.proto = proto
            self.port = port
        }
    }

    public struct Prefix: Hashable, Sendable, Comparable {
        public var address: UInt32
        public var length: UInt8
        public init(address: UInt32, length: UInt8) {
            self.length = length
            self.address = length == 0 ? 0 : address & (UInt32.max << (32 - UInt32(length)))
        }
        public func contains(_ other: Prefix) -> Bool {
            other.length >= length && Prefix(address: other.address, length: length).address == address
        }
        public static func < (a: Prefix, b: Prefix) -> Bool {
            (a.address, a.length) < (b.address, b.length)
        }
        /// One word into the hasher instead of two: tables of a million members hash a lot.
        public func hash(into h: inout Hasher) { h.combine(UInt64(address) << 8 | UInt64(length)) }
    }

    public struct SourceProtoPort: Hashable, Sendable {
        public var source: Prefix
        public var protoPort: ProtoPort
        public init(source: Prefix, protoPort: ProtoPort) {
            self.source = source
            self.protoPort = protoPort
        }
        public func hash(into h: inout Hasher) {
            h.combine(UInt64(source.address) << 32 | UInt64(source.length) << 24 | UInt64(protoPort.proto) << 16
                      | UInt64(protoPort.port ?? 0) | (protoPort.port == nil ? 1 << 63 : 0))
        }
    }

    /// A rule the keyed tables cannot hold; every present test must hold (negated: must not).
    public struct FallbackRule: Equatable, Sendable {
        public var position: UInt32
        public var source: Negatable<Prefix>?
        public var destination: Negatable<Prefix>?
        public var proto: Negatable<UInt8>?
        public var sourcePorts: Negatable<ClosedRange<UInt16>>?
        public var destinationPorts: Negatable<ClosedRange<UInt16>>?
        /// multiport --ports: either port in the range.
        public var eitherPort: Negatable<ClosedRange<UInt16>>?
        public var tcpFlags: Negatable<TCPFlags>?
        /// ICMP type (255: any) and code range.
        public var icmp: Negatable<ICMPTest>?
        public var conntrack: Negatable<ConntrackStates>?
        /// true: only non-first fragments (`-f`); false: only others (`! -f`).
        public var fragment: Bool?
        public var length: Negatable<ClosedRange<UInt16>>?
        public var ttl: TTLMatch?
        /// Extension tests, evaluated in order once every test above holds.
        public var ext: [ExtTest] = []

        public init(position: UInt32) { self.position = position }
    }

    public struct ICMPTest: Equatable, Sendable {
        public var type: UInt8
        public var codes: ClosedRange<UInt8>
        public init(type: UInt8, codes: ClosedRange<UInt8>) {
            self.type = type
            self.codes = codes
        }
    }

    /// Verdict of each position; positions are 0..<verdicts.count.
    public var verdicts: [Verdict] = []
    public var policy: Verdict = .accept
    /// The reply of each `reject` position.
    public var rejectReplies: [UInt32: RejectReply] = [:]
    /// Position of the first rule without any condition.
    public var catchAll: UInt32?
    public var protoPort: [ProtoPort: UInt32] = [:]
    /// Each prefix holds the best position among the rules that match every address in it
    /// (itself and the prefixes containing it, nomatch exceptions applied), because an LPM
    /// lookup only returns the longest stored prefix.
    public var source: [Prefix: UInt32] = [:]
    public var sourceProtoPort: [SourceProtoPort: UInt32] = [:]
    /// Sorted by position; a rule with a disjunction appears once per alternative.
    public var fallback: [FallbackRule] = []
    public var needsConntrack = false
    /// The ruleset NATs (its nat table has rules): before dropping, the program passes
    /// packets of NATed connections and of protocols it cannot look up (their replies are
    /// de-NATed and forwarded by the kernel, not judged by INPUT).
    public var natCheck = false
    /// `--xdp-only`: the kernel's filter INPUT is empty and XDP decides alone, so the
    /// program also counts what it accepts.
    public var xdpOnly = false

    public init() {}
}
