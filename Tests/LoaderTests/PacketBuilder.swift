import TestSupport
import Foundation

/// Ethernet + IPv4 + transport frames for BPF_PROG_TEST_RUN, from a fixture's packet line.
struct TestPacket {
    var proto: UInt8 = 17
    var src: UInt32 = 0
    var dst: UInt32 = 0
    var sport: UInt16 = 0
    var dport: UInt16 = 0
    var tcpFlags: UInt8 = 0
    var icmpType: UInt8 = 8
    var icmpCode: UInt8 = 0
    var ttl: UInt8 = 64
    /// IP total length; nil: headers plus no payload.
    var totalLength: Int?
    var moreFragments = false
    /// Fragment offset in 8-byte units.
    var fragmentOffset: UInt16 = 0
    var id: UInt16 = 0x1234
    /// IP header length in 32-bit words (options are NOPs).
    var ihl: Int = 5
    /// Transport header bytes to keep (a truncated header), nil: all.
    var l4Bytes: Int?
    var etherType: UInt16 = 0x0800
    var sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 2]
    var destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 1]
    var vlan = false
    /// Raw transport bytes that replace the generated header (ICMP errors quoting a packet).
    var l4Override: [UInt8]?
    /// Bytes after the transport header (a SIP request, ...).
    var payload: [UInt8] = []
    /// TCP options, padded with EOL to a 4-byte word; the data offset follows.
    var tcpOptions: [UInt8] = []
    /// TCP data offset in words when not the one the options give (a malformed header).
    var dataOffset: UInt8?


    var transport: [UInt8] {
        if let l4Override { return l4Override }
        var l4: [UInt8]
        switch proto {
        case 6:
            var opts = tcpOptions
            while opts.count % 4 != 0 { opts.append(0) }
            let doff = dataOffset ?? UInt8(5 + opts.count / 4)
            l4 = WireBytes.be16(sport) + WireBytes.be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0, doff << 4, tcpFlags] + [0xff, 0xff, 0, 0, 0, 0]
            l4 += opts
        case 17, 136:
            l4 = WireBytes.be16(sport) + WireBytes.be16(dport) + WireBytes.be16(UInt16(8 + payload.count)) + [0, 0]
        case 1:
            l4 = [icmpType, icmpCode, 0, 0, 0, 1, 0, 1]
        case 132, 33:
            l4 = WireBytes.be16(sport) + WireBytes.be16(dport) + [UInt8](repeating: 0, count: 12)
        default:
            l4 = [UInt8](repeating: 0, count: 8)
        }
        if fragmentOffset > 0 { l4 = [UInt8](repeating: 0xab, count: 8) } // payload, no header
        if let n = l4Bytes { l4 = Array(l4.prefix(n)) }
        l4 += payload
        return l4
    }

    /// The IPv4 packet alone.
    var ipPacket: [UInt8] {
        var l4 = transport
        let headerLength = max(ihl * 4, 20) // ihl < 5 still gets a 20-byte header: a bad packet
        if let t = totalLength, t > headerLength + l4.count {
            l4 += [UInt8](repeating: 0, count: t - headerLength - l4.count)
        }
        let total = headerLength + l4.count
        var ip: [UInt8] = [UInt8(0x40 | ihl), 0] + WireBytes.be16(UInt16(total)) + WireBytes.be16(id)
        ip += WireBytes.be16((moreFragments ? 0x2000 : 0) | fragmentOffset)
        ip += [ttl, proto, 0, 0] + WireBytes.be32(src) + WireBytes.be32(dst)
        ip += [UInt8](repeating: 1, count: headerLength - 20) // NOP options
        ip[0] = UInt8(0x40 | (ihl & 0xf))
        let sum = WireBytes.checksum(ip)
        ip[10] = UInt8(sum >> 8)
        ip[11] = UInt8(sum & 0xff)
        return ip + l4
    }

    /// The frame; Ethernet-padded to 60 bytes like a real one.
    var frame: [UInt8] {
        var f: [UInt8] = destinationMAC + sourceMAC
        if vlan { f += [0x81, 0x00, 0x00, 0x05] }
        f += WireBytes.be16(etherType) + ipPacket
        if f.count < 60 { f += [UInt8](repeating: 0, count: 60 - f.count) }
        return f
    }

}

/// Dotted quad to host-order UInt32.
func ipv4(_ s: Substring) -> UInt32? {
    let parts = s.split(separator: ".")
    guard parts.count == 4 else { return nil }
    var v: UInt32 = 0
    for p in parts {
        guard let b = UInt8(p) else { return nil }
        v = v << 8 | UInt32(b)
    }
    return v
}
