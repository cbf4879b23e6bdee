/// The typed model of an `ipset save` / `ipset restore` file.
///
/// The script is the *state* the kernel would hold after `ipset restore` of the
/// text: `flush`, `del`, `swap`, `rename` and `destroy` are applied while
/// parsing, ranges and CIDRs are expanded the way the kernel stores them, and
/// duplicate members are rejected. That is what both the printer (which must
/// reproduce `ipset save`) and the compiler (which fills BPF maps) need.

public enum IpsetFamily: String, Sendable, Equatable, Hashable {
    case inet, inet6

    var bitCount: Int { self == .inet ? 32 : 128 }
}

/// What one dimension of an entry holds; the set type is a list of these.
public enum IpsetElementKind: Sendable, Equatable {
    /// A single address (`hash:ip`): ranges and CIDRs are expanded to addresses.
    case ip
    /// An address with a prefix (`hash:net`): ranges are split into CIDRs.
    case net
    /// `proto:port` (or `icmp:type/code`); port ranges are expanded.
    case port
    /// An interface name, optionally `physdev:`.
    case iface
    case mark
    case mac
    /// A member set of `list:set`.
    case setName
}

public enum IpsetType: String, Sendable, Equatable, CaseIterable {
    case hashIP = "hash:ip"
    case hashNet = "hash:net"
    case hashIPPort = "hash:ip,port"
    case hashNetPort = "hash:net,port"
    case hashIPPortIP = "hash:ip,port,ip"
    case hashIPPortNet = "hash:ip,port,net"
    case hashNetIface = "hash:net,iface"
    case hashIPMark = "hash:ip,mark"
    case hashMAC = "hash:mac"
    case hashIPMAC = "hash:ip,mac"
    case hashNetNet = "hash:net,net"
    case hashNetPortNet = "hash:net,port,net"
    case bitmapIP = "bitmap:ip"
    case bitmapPort = "bitmap:port"
    case bitmapIPMAC = "bitmap:ip,mac"
    case listSet = "list:set"

    public var elementKinds: [IpsetElementKind] {
        switch self {
        case .hashIP, .bitmapIP: return [.ip]
        case .hashNet: return [.net]
        case .hashIPPort: return [.ip, .port]
        case .hashNetPort: return [.net, .port]
        case .hashIPPortIP: return [.ip, .port, .ip]
        case .hashIPPortNet: return [.ip, .port, .net]
        case .hashNetIface: return [.net, .iface]
        case .hashIPMark: return [.ip, .mark]
        case .hashMAC: return [.mac]
        case .hashIPMAC, .bitmapIPMAC: return [.ip, .mac]
        case .hashNetNet: return [.net, .net]
        case .hashNetPortNet: return [.net, .port, .net]
        case .bitmapPort: return [.port]
        case .listSet: return [.setName]
        }
    }

    /// Number of elements in an entry (`hash:ip,port` = 2).
    public var dimension: Int { elementKinds.count }

    public var isHash: Bool { rawValue.hasPrefix("hash:") }
    public var isBitmap: Bool { rawValue.hasPrefix("bitmap:") }

    /// Only types with a `net` dimension know `nomatch` (ipset says
    /// "Unknown argument: `nomatch'" for the others).
    public var supportsNomatch: Bool { elementKinds.contains(.net) }
}

/// An IPv4 or IPv6 address as two 64-bit halves, so ranges and prefixes are
/// plain integer arithmetic. IPv4 lives in the low 32 bits of `lo`.
public struct IpsetAddress: Sendable, Hashable, Comparable {
    public var family: IpsetFamily
    public var hi: UInt64
    public var lo: UInt64

    public init(family: IpsetFamily, hi: UInt64 = 0, lo: UInt64) {
        self.family = family
        self.hi = hi
        self.lo = lo
    }

    public init(ipv4: UInt32) { self.init(family: .inet, lo: UInt64(ipv4)) }

    public static func < (a: IpsetAddress, b: IpsetAddress) -> Bool {
        (a.hi, a.lo) < (b.hi, b.lo)
    }
}

/// A protocol and port as the kernel keeps them: for ICMP the "port" is
/// `type << 8 | code`, for protocols without ports it is 0.
public struct IpsetPort: Sendable, Hashable {
    public var proto: UInt8
    public var port: UInt16
    public init(proto: UInt8, port: UInt16) {
        self.proto = proto
        self.port = port
    }
}

/// One typed element of an entry, already in the form the kernel stores.
public enum IpsetElement: Sendable, Hashable {
    case address(IpsetAddress)
    /// Address masked to `prefixLength`; a host prefix prints without `/32`.
    case prefix(IpsetAddress, prefixLength: Int)
    case port(IpsetPort)
    /// Bare port of `bitmap:port` (no protocol is kept).
    case bitmapPort(UInt16)
    case iface(String, physdev: Bool)
    case mark(UInt32)
    /// Six bytes, packed big-endian into the low 48 bits.
    case mac(UInt64)
    case setName(String)
}

/// `skbmark`/`skbprio`/`skbqueue` of a `skbinfo` set.
public struct IpsetSkbInfo: Sendable, Equatable {
    public var mark: UInt32 = 0
    public var markMask: UInt32 = 0
    /// `MAJOR:MINOR` (hex) packed as major << 16 | minor.
    public var prio: UInt32 = 0
    public var queue: UInt16 = 0
    public init() {}
}

public struct IpsetEntry: Sendable, Equatable {
    public var elements: [IpsetElement]
    public var nomatch: Bool = false
    public var timeout: UInt32?
    public var packets: UInt64?
    public var bytes: UInt64?
    public var comment: String?
    public var skbinfo: IpsetSkbInfo?
    /// Absolute deadline (milliseconds since the Unix epoch) of a member of a set with
    /// timeouts, kept by the live state; `timeout` then is only what was last printed.
    public var expiresAt: Int64?
    public var location: SourceLocation

    public init(elements: [IpsetElement], location: SourceLocation) {
        self.elements = elements
        self.location = location
    }
}

public struct IpsetCreate: Sendable, Equatable {
    public var name: String
    public var type: IpsetType
    public var family: IpsetFamily = .inet
    /// Stored as the kernel rounds it (power of two, at least 64).
    public var hashsize: UInt32?
    public var maxelem: UInt32?
    public var timeout: UInt32?
    public var counters = false
    public var comment = false
    public var skbinfo = false
    /// Accepted by the kernel but not reported back: `ipset save` never prints it.
    public var forceadd = false
    public var bucketsize: UInt32?
    /// Random in the kernel when not given, so nil means "unknown".
    public var initval: UInt32?
    public var netmask: Int?
    /// `bitmap:ip`, `bitmap:ip,mac`: first and last address; `bitmap:port`: ports in `lo`.
    public var range: ClosedRange<IpsetAddress>?
    public var portRange: ClosedRange<UInt16>?
    /// `list:set` capacity (kernel minimum 4).
    public var size: UInt32?
    public var location: SourceLocation

    public init(name: String, type: IpsetType, location: SourceLocation) {
        self.name = name
        self.type = type
        self.location = location
    }
}

public struct IpsetSet: Sendable, Equatable {
    public var create: IpsetCreate
    /// Members in the order they were added (the kernel's hash order is not modelled).
    public var entries: [IpsetEntry]
    public var name: String { create.name }

    public init(create: IpsetCreate, entries: [IpsetEntry] = []) {
        self.create = create
        self.entries = entries
    }
}

public struct IpsetScript: Sendable, Equatable {
    /// Sets in creation order.
    public var sets: [IpsetSet]

    public init(sets: [IpsetSet] = []) { self.sets = sets }

    public func set(named name: String) -> IpsetSet? {
        sets.first { $0.name == name }
    }

    public subscript(name: String) -> IpsetSet? { self.set(named: name) }
}
