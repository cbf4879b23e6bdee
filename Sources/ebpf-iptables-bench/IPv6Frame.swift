import Glibc
import Verifier

/// An Ethernet + IPv6 frame carrying UDP (the SIP flood's datagram, a member's accepted one)
/// or ICMPv6 (a router solicitation: one of the frames scripts/bench uses to take the IPv6
/// path's cost apart, see bench/bench-phases.sh). The transport checksum is computed over the
/// pseudo-header (RFC 8200 8.1): IPv6 UDP without one is dropped before the socket.
struct IPv6Frame {
    enum Transport {
        case udp(sourcePort: UInt16, destinationPort: UInt16)
        case icmpv6(type: UInt8, code: UInt8)
    }

    var source: [UInt8]
    var destination: [UInt8]
    var transport: Transport = .udp(sourcePort: 40000, destinationPort: 5060)
    var payload: [UInt8] = []
    var hopLimit: UInt8 = 64

    func bytes(destinationMAC mac: [UInt8]) -> [UInt8] {
        var l4: [UInt8]
        let next: UInt8
        switch transport {
        case let .udp(sp, dp):
            l4 = WireBytes.be16(sp) + WireBytes.be16(dp) + WireBytes.be16(UInt16(8 + payload.count)) + [0, 0] + payload
            next = 17
        case let .icmpv6(type, code):
            // Type, code, checksum, then four reserved bytes (a router solicitation's body).
            l4 = [type, code, 0, 0, 0, 0, 0, 0] + payload
            next = 58
        }
        let pseudo = source + destination + WireBytes.be32(UInt32(l4.count)) + [0, 0, 0, next]
        var sum = WireBytes.checksum(pseudo + l4)
        if sum == 0, next == 17 { sum = 0xffff } // UDP: 0 means "no checksum", refused over IPv6
        let at = next == 17 ? 6 : 2
        l4[at] = UInt8(sum >> 8)
        l4[at + 1] = UInt8(sum & 0xff)
        let ip: [UInt8] = [0x60, 0, 0, 0] + WireBytes.be16(UInt16(l4.count)) + [next, hopLimit] + source + destination
        var frame = mac + [0x02, 0, 0, 0, 0, 2, 0x86, 0xdd] + ip + l4
        if frame.count < 60 { frame += [UInt8](repeating: 0, count: 60 - frame.count) }
        return frame
    }
}

/// An IPv6 address in text form (inet_pton's forms) as its 16 bytes, nil when it is not one.
func ipv6Bytes(_ text: String) -> [UInt8]? {
    var a = in6_addr()
    guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
    return withUnsafeBytes(of: &a) { Array($0) }
}
