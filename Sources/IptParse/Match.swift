/// One `-m` match of a rule (explicit, or loaded implicitly by `-p tcp --dport`).
/// The ones a firewall compiler must understand are typed; everything else
/// that iptables knows is kept as an `ExtensionCall` in canonical form.
public enum Match: Equatable, Sendable {
    case tcp(TCPMatch)
    case udp(UDPMatch)
    case sctp(SCTPMatch)
    case icmp(ICMPMatch)
    case icmp6(ICMPMatch)
    case multiport(MultiportMatch)
    case conntrack(ConntrackMatch)
    case state(Negatable<ConntrackStates>)
    case set(SetMatch)
    case iprange(IPRangeMatch)
    case addrtype(AddrTypeMatch)
    case mac(Negatable<[UInt8]>)
    case limit(LimitMatch)
    case comment(String)
    case length(Negatable<ValueRange>)
    case ttl(TTLMatch)
    case hl(TTLMatch)
    case pkttype(Negatable<PacketType>)
    case string(StringMatch)
    case mark(MarkMatch)
    /// hashlimit, recent, owner, time, statistic, ... and anything else iptables knows.
    case opaque(ExtensionCall)

    /// The name after `-m`.
    public var name: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .sctp: "sctp"
        case .icmp: "icmp"
        case .icmp6: "icmp6"
        case .multiport: "multiport"
        case .conntrack: "conntrack"
        case .state: "state"
        case .set: "set"
        case .iprange: "iprange"
        case .addrtype: "addrtype"
        case .mac: "mac"
        case .limit: "limit"
        case .comment: "comment"
        case .length: "length"
        case .ttl: "ttl"
        case .hl: "hl"
        case .pkttype: "pkttype"
        case .string: "string"
        case .mark: "mark"
        case .opaque(let e): e.name
        }
    }
}

/// An inclusive range of 16-bit values: ports, lengths.
public struct ValueRange: Equatable, Sendable, Hashable {
    public var lower: UInt16
    public var upper: UInt16
    public init(_ lower: UInt16, _ upper: UInt16) {
        self.lower = lower
        self.upper = upper
    }
    public var isFull: Bool { lower == 0 && upper == 0xffff }
    var saveText: String { lower == upper ? "\(lower)" : "\(lower):\(upper)" }

    /// `saveText` appended to a buffer.
    func appendSaveText(to out: inout String) {
        out += String(lower)
        if lower != upper {
            out += ":"
            out += String(upper)
        }
    }
}

public struct TCPFlags: Equatable, Sendable {
    public var mask: UInt8
    public var compare: UInt8
    public init(mask: UInt8, compare: UInt8) {
        self.mask = mask
        self.compare = compare
    }
    /// `--syn`.
    public static let syn = TCPFlags(mask: 0x17, compare: 0x02)
}

public struct TCPMatch: Equatable, Sendable {
    public var sourcePort: Negatable<ValueRange>?
    public var destinationPort: Negatable<ValueRange>?
    public var flags: Negatable<TCPFlags>?
    public var option: Negatable<UInt8>?
    public init() {}
}

public struct UDPMatch: Equatable, Sendable {
    public var sourcePort: Negatable<ValueRange>?
    public var destinationPort: Negatable<ValueRange>?
    public init() {}
}

public struct SCTPMatch: Equatable, Sendable {
    public var sourcePort: Negatable<ValueRange>?
    public var destinationPort: Negatable<ValueRange>?
    /// `--chunk-types` kept as written: `all|any|only` and a chunk list.
    public var chunkTypes: Negatable<[String]>?
    public init() {}
}

/// `--icmp-type` / `--icmpv6-type`: a type with a code range, or `any`.
public struct ICMPMatch: Equatable, Sendable {
    public var type: UInt8
    public var codes: ClosedRange<UInt8>
    public var any: Bool
    public var negated: Bool
    public init(type: UInt8, codes: ClosedRange<UInt8>, any: Bool = false, negated: Bool = false) {
        self.type = type
        self.codes = codes
        self.any = any
        self.negated = negated
    }
}

public struct MultiportMatch: Equatable, Sendable {
    public enum Direction: String, Equatable, Sendable { case source = "sports", destination = "dports", either = "ports" }
    public var direction: Direction
    public var ports: [ValueRange]
    public var negated: Bool
    public init(direction: Direction, ports: [ValueRange], negated: Bool = false) {
        self.direction = direction
        self.ports = ports
        self.negated = negated
    }
}

/// Conntrack states as bits, in the order iptables prints them.
public struct ConntrackStates: OptionSet, Equatable, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let invalid = ConntrackStates(rawValue: 1 << 0)
    public static let new = ConntrackStates(rawValue: 1 << 1)
    public static let related = ConntrackStates(rawValue: 1 << 2)
    public static let established = ConntrackStates(rawValue: 1 << 3)
    public static let untracked = ConntrackStates(rawValue: 1 << 4)
    public static let snat = ConntrackStates(rawValue: 1 << 5)
    public static let dnat = ConntrackStates(rawValue: 1 << 6)

    static let names: [(String, ConntrackStates)] = [
        ("INVALID", .invalid), ("NEW", .new), ("RELATED", .related), ("ESTABLISHED", .established),
        ("UNTRACKED", .untracked), ("SNAT", .snat), ("DNAT", .dnat),
    ]
    var saveText: String { ConntrackStates.names.filter { contains($0.1) }.map(\.0).joined(separator: ",") }

    /// `saveText` appended to a buffer.
    func appendSaveText(to out: inout String) {
        var first = true
        for (name, bit) in ConntrackStates.names where contains(bit) {
            if !first { out += "," }
            out += name
            first = false
        }
    }
}

public struct ConntrackMatch: Equatable, Sendable {
    public var states: Negatable<ConntrackStates>?
    /// `--ctproto`, `--ctorigsrc`, `--ctstatus`, ... in canonical order, as printed.
    public var other: [ExtensionOption]
    public init(states: Negatable<ConntrackStates>? = nil, other: [ExtensionOption] = []) {
        self.states = states
        self.other = other
    }
}

public struct SetMatch: Equatable, Sendable {
    public enum Direction: String, Equatable, Sendable { case src, dst }
    public var name: String
    public var directions: [Direction]
    public var negated: Bool
    /// Counter options (`--return-nomatch`, `! --update-counters`, `--packets-gt 3`, ...) in canonical order.
    public var other: [ExtensionOption]
    public init(name: String, directions: [Direction], negated: Bool = false, other: [ExtensionOption] = []) {
        self.name = name
        self.directions = directions
        self.negated = negated
        self.other = other
    }
}

public struct AddressRange: Equatable, Sendable {
    public var lower: [UInt8]
    public var upper: [UInt8]
}

public struct IPRangeMatch: Equatable, Sendable {
    public var family: Family
    public var source: Negatable<AddressRange>?
    public var destination: Negatable<AddressRange>?
}

public struct AddrTypeMatch: Equatable, Sendable {
    public var sourceTypes: Negatable<[String]>?
    public var destinationTypes: Negatable<[String]>?
    public var limitIfaceIn = false
    public var limitIfaceOut = false
    public init() {}
    /// Kernel bit order, which is also the print order.
    static let order = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
                        "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]
    /// The type names by their RTN_* value (xt_addrtype tests bit `1 << RTN_*`).
    public static var kernelOrder: [String] { order }
}

/// `--limit` kept the way the kernel keeps it: the average interval in 1/10000 s.
public struct LimitMatch: Equatable, Sendable {
    public static let scale: UInt32 = 10000
    public var average: UInt32
    public var burst: UInt32
    public init(average: UInt32, burst: UInt32 = 5) {
        self.average = average
        self.burst = burst
    }
}

public struct TTLMatch: Equatable, Hashable, Sendable {
    public enum Operator: String, Equatable, Sendable { case eq, lt, gt, ne }
    public var op: Operator
    public var value: UInt8
    public init(op: Operator, value: UInt8) {
        self.op = op
        self.value = value
    }
}

public enum PacketType: String, Equatable, Sendable { case unicast, broadcast, multicast, host, otherhost }

public struct StringMatch: Equatable, Sendable {
    public var pattern: [UInt8]
    public var algorithm: String
    public var from: UInt16
    public var to: UInt16
    public var ignoreCase: Bool
    public var negated: Bool
}

public struct MarkMatch: Equatable, Sendable {
    public var value: UInt32
    public var mask: UInt32
    public var negated: Bool
}
