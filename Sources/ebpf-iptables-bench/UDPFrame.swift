/// An Ethernet + IPv4 + UDP frame for BPF_PROG_TEST_RUN, padded to 60 bytes like a real one.
struct UDPFrame {
    var source: UInt32
    var destination: UInt32 = 0xC612_0001 // 198.18.0.1
    var sourcePort: UInt16 = 40000
    var destinationPort: UInt16 = 5060

    var bytes: [UInt8] {
        let udp = be16(sourcePort) + be16(destinationPort) + [0, 8, 0, 0]
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + udp.count)) + be16(0x1234) + [0x40, 0]
        ip += [64, 17, 0, 0] + be32(source) + be32(destination)
        let sum = checksum(ip)
        ip[10] = UInt8(sum >> 8)
        ip[11] = UInt8(sum & 0xff)
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00] + ip + udp
        if frame.count < 60 { frame += [UInt8](repeating: 0, count: 60 - frame.count) }
        return frame
    }

    private func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    private func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    private func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for i in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[i]) << 8 | UInt32(i + 1 < bytes.count ? bytes[i + 1] : 0)
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
