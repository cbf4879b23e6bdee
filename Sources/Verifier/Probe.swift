/// One generated test packet: enough of IPv4 and its L4 header to exercise every test
/// the compiler emits. Addresses and ports in host order.
public struct Probe: Equatable, Sendable, CustomStringConvertible {
    public var source: UInt32
    public var destination: UInt32
    public var proto: UInt8
    public var sourcePort: UInt16 = 40000
    public var destinationPort: UInt16 = 9
    public var tcpFlags: UInt8 = 0x02
    public var icmpType: UInt8 = 8
    public var icmpCode: UInt8 = 0
    public var ttl: UInt8 = 64
    public var payload: Int = 16
    /// The payload's bytes, when they matter (`-m string`); nil: `payload` bytes of 'a'.
    public var payloadBytes: [UInt8]? = nil
    /// TCP options (padded with EOL to a word; the data offset follows).
    public var tcpOptions: [UInt8] = []
    /// Why it was generated ("matches INPUT 7", "just below port 5060", "random").
    public var purpose: String = ""

    public init(source: UInt32, destination: UInt32, proto: UInt8) {
        self.source = source
        self.destination = destination
        self.proto = proto
    }

    public static func dotted(_ a: UInt32) -> String {
        "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)"
    }

    public var description: String {
        var s = "\(Probe.dotted(source)) -> \(Probe.dotted(destination)) proto \(proto)"
        switch proto {
        case 6: s += " \(sourcePort)->\(destinationPort) flags 0x\(String(tcpFlags, radix: 16))"
        case 17, 132, 136, 33: s += " \(sourcePort)->\(destinationPort)"
        case 1: s += " type \(icmpType)/\(icmpCode)"
        default: break
        }
        return s + " ttl \(ttl) (\(purpose))"
    }

    /// An Ethernet frame carrying the probe, with valid IPv4, TCP/UDP and ICMP checksums
    /// (the receiving kernel drops frames with a bad IP checksum before INPUT).
    public func frame(sourceMAC: [UInt8], destinationMAC: [UInt8], ipID: UInt16) -> [UInt8] {
        var l4: [UInt8]
        let body = payloadBytes ?? [UInt8](repeating: 0x61, count: payload)
        switch proto {
        case 6:
            var opts = tcpOptions
            while opts.count % 4 != 0 { opts.append(0) }
            l4 = WireBytes.be16(sourcePort) + WireBytes.be16(destinationPort) + WireBytes.be32(1) + WireBytes.be32(0)
                + [UInt8(5 + opts.count / 4) << 4, tcpFlags] + WireBytes.be16(64240) + [0, 0, 0, 0] + opts + body
        case 17, 136:
            let len = UInt16(8 + body.count)
            l4 = WireBytes.be16(sourcePort) + WireBytes.be16(destinationPort) + WireBytes.be16(len) + [0, 0] + body
        case 132, 33:
            l4 = WireBytes.be16(sourcePort) + WireBytes.be16(destinationPort) + [UInt8](repeating: 0, count: 8 + payload)
        case 1:
            l4 = [icmpType, icmpCode, 0, 0] + WireBytes.be16(ipID) + WireBytes.be16(1) + [UInt8](repeating: 0x61, count: payload)
            let c = WireBytes.checksum(l4)
            l4[2] = UInt8(c >> 8); l4[3] = UInt8(c & 0xff)
        case 47:
            // A well-formed GRE header (version 0, IPv4 payload): conntrack calls malformed GRE INVALID.
            l4 = [0, 0, 0x08, 0x00] + [UInt8](repeating: 0x61, count: payload)
        default:
            l4 = [UInt8](repeating: 0x61, count: payload)
        }
        if proto == 6 || proto == 17 {
            let pseudo = WireBytes.be32(source) + WireBytes.be32(destination) + [0, proto] + WireBytes.be16(UInt16(l4.count))
            var c = WireBytes.checksum(pseudo + l4)
            if proto == 17 && c == 0 { c = 0xffff }
            let at = proto == 6 ? 16 : 6
            l4[at] = UInt8(c >> 8); l4[at + 1] = UInt8(c & 0xff)
        }
        var ip: [UInt8] = [0x45, 0] + WireBytes.be16(UInt16(20 + l4.count)) + WireBytes.be16(ipID) + [0x40, 0, ttl, proto, 0, 0]
            + WireBytes.be32(source) + WireBytes.be32(destination)
        let c = WireBytes.checksum(ip)
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xff)
        return destinationMAC + sourceMAC + [0x08, 0x00] + ip + l4
    }
}
