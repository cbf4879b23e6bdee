/// xt_tcpudp's tcp_find_option over an IP packet's bytes (the mirror of bpf/ext_tcpopt.h).
public enum TCPOptionWalk {
    /// Whether option kind `option` is among the TCP options: nil when the kernel would drop
    /// the packet instead of answering (a data offset below 5 words, options cut short).
    public static func contains(_ option: UInt8, ipPacket ip: [UInt8]) -> Bool? {
        guard let first = ip.first else { return nil }
        let l4 = Int(first & 0x0f) * 4
        guard ip.count >= l4 + 20 else { return nil }
        let doff = Int(ip[l4 + 12] >> 4)
        guard doff >= 5 else { return nil }
        let optlen = doff * 4 - 20
        guard ip.count >= l4 + 20 + optlen else { return nil }
        let op = Array(ip[(l4 + 20)..<(l4 + 20 + optlen)])
        var i = 0
        while i < optlen {
            if op[i] == option { return true }
            if op[i] < 2 { i += 1; continue }
            // The kernel reads the length byte even past the options; any value ends the walk.
            guard i + 1 < optlen else { break }
            i += op[i + 1] == 0 ? 1 : Int(op[i + 1])
        }
        return false
    }
}
