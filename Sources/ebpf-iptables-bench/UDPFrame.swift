import Verifier

/// An Ethernet + IPv4 + UDP frame for BPF_PROG_TEST_RUN, padded to 60 bytes like a real one.
struct UDPFrame {
    var source: UInt32
    var destination: UInt32 = 0xC612_0001 // 198.18.0.1
    var sourcePort: UInt16 = 40000
    var destinationPort: UInt16 = 5060
    /// UDP payload (a SIP request for the string benchmark); empty by default.
    var payload: [UInt8] = []

    var bytes: [UInt8] {
        let udp = WireBytes.be16(sourcePort) + WireBytes.be16(destinationPort) + WireBytes.be16(UInt16(8 + payload.count)) + [0, 0] + payload
        var ip: [UInt8] = [0x45, 0] + WireBytes.be16(UInt16(20 + udp.count)) + WireBytes.be16(0x1234) + [0x40, 0]
        ip += [64, 17, 0, 0] + WireBytes.be32(source) + WireBytes.be32(destination)
        let sum = WireBytes.checksum(ip)
        ip[10] = UInt8(sum >> 8)
        ip[11] = UInt8(sum & 0xff)
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00] + ip + udp
        if frame.count < 60 { frame += [UInt8](repeating: 0, count: 60 - frame.count) }
        return frame
    }
}
