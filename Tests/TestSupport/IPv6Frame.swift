/// IPv6 test frames: Ethernet, the fixed header, a chain of extension headers, and a
/// transport header with a correct checksum (conntrack and the kernel's ICMPv6 code check
/// it on frames a packet socket sends).
public struct IPv6Frame {
    public enum Ext: Equatable {
        /// Hop-by-hop with six bytes of options (`options` must be 6 bytes).
        case hopByHop(options: [UInt8])
        /// Destination options of `8 * (1 + extraUnits)` bytes, padded with PadN.
        case destination(extraUnits: UInt8)
        /// Routing header type 4 (segment routing), 0 segments left: 8 bytes plus one address.
        case routing
        /// A routing header of `type`, `segmentsLeft`, `addresses` addresses (each the
        /// destination): 8 bytes plus 16 per address.
        case routingHeader(type: UInt8, segmentsLeft: UInt8, addresses: UInt8)
        /// A fragment header: offset in 8-byte units, more-fragments flag.
        case fragment(offset: UInt16, more: Bool, id: UInt32)
        /// An authentication header (12 bytes of AH plus 4 of ICV).
        case auth
    }

    public var srcMAC: [UInt8] = [0x02, 0, 0, 0, 0, 1]
    public var dstMAC: [UInt8] = [0x02, 0, 0, 0, 0, 2]
    public var src: [UInt8]
    public var dst: [UInt8]
    public var hopLimit: UInt8 = 64
    public var ext: [Ext] = []
    /// 6 TCP, 17 UDP, 58 ICMPv6, 59 no next header, other: `payload` only.
    public var proto: UInt8
    public var sport: UInt16 = 40000
    public var dport: UInt16 = 5060
    public var icmpType: UInt8 = 128
    public var icmpCode: UInt8 = 0
    public var tcpFlags: UInt8 = 0x02
    public var payload: [UInt8] = Array("probe".utf8)
    /// Bytes of the transport header (and payload) kept: nil all, else truncated there.
    public var truncateTransport: Int?

    public init(src: String, dst: String, proto: UInt8) {
        self.src = IPv6Frame.address(src)
        self.dst = IPv6Frame.address(dst)
        self.proto = proto
    }

    /// "2001:db8::1" -> 16 bytes (no scope ids, no embedded IPv4).
    public static func address(_ s: String) -> [UInt8] {
        let halves = s.components(separatedBy: "::")
        func groups(_ p: String) -> [UInt16] { p.isEmpty ? [] : p.split(separator: ":").map { UInt16($0, radix: 16) ?? 0 } }
        let head = groups(halves[0]), tail = halves.count > 1 ? groups(halves[1]) : []
        let all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    private var transport: [UInt8] {
        var t: [UInt8]
        switch proto {
        case 6:
            t = be16(sport) + be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, tcpFlags, 0xff, 0xff, 0, 0, 0, 0] + payload
        case 17:
            t = be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        case 58:
            t = [icmpType, icmpCode, 0, 0] + be16(sport) + [0, 1] + payload
        case 59:
            t = []
        default:
            t = payload
        }
        let sum = checksum(pseudo(length: t.count) + t)
        switch proto {
        case 6: t[16] = UInt8(sum >> 8); t[17] = UInt8(sum & 0xff)
        case 17: let s = sum == 0 ? 0xffff : sum; t[6] = UInt8(s >> 8); t[7] = UInt8(s & 0xff)
        case 58: t[2] = UInt8(sum >> 8); t[3] = UInt8(sum & 0xff)
        default: break
        }
        if let n = truncateTransport { t = Array(t.prefix(n)) }
        return t
    }

    private func pseudo(length: Int) -> [UInt8] {
        src + dst + be16(UInt16(length >> 16)) + be16(UInt16(length & 0xffff)) + [0, 0, 0, proto]
    }

    public var frame: [UInt8] {
        // Each header names the next; the last names `proto`.
        let kinds: [UInt8] = ext.map {
            switch $0 {
            case .hopByHop: 0
            case .destination: 60
            case .routing, .routingHeader: 43
            case .fragment: 44
            case .auth: 51
            }
        } + [proto]
        var body: [UInt8] = []
        for (i, e) in ext.enumerated() {
            let next = kinds[i + 1]
            switch e {
            case .hopByHop(let o): body += [next, 0] + o
            case .destination(let n):
                let len = 8 * (1 + Int(n))
                body += [next, n, 1, UInt8(len - 4)] + [UInt8](repeating: 0, count: len - 4)
            case .routing: body += [next, 2, 4, 0, 0, 0, 0, 0] + dst
            case .routingHeader(let type, let left, let n):
                body += [next, 2 * n, type, left, 0, 0, 0, 0]
                for _ in 0..<n { body += dst }
            case .fragment(let off, let more, let id):
                body += [next, 0] + be16(off << 3 | (more ? 1 : 0)) + be32(id)
            case .auth: body += [next, 4, 0, 0] + be32(0x100) + be32(1) + be32(0)
            }
        }
        body += transport
        let ip: [UInt8] = [0x60, 0, 0, 0] + be16(UInt16(body.count)) + [kinds[0], hopLimit] + src + dst
        return dstMAC + srcMAC + [0x86, 0xdd] + ip + body
    }

    private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    private func checksum(_ b: [UInt8]) -> UInt16 {
        var s: UInt32 = 0
        var i = 0
        while i + 1 < b.count { s += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
        if i < b.count { s += UInt32(b[i]) << 8 }
        while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }
}
