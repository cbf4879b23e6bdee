import Glibc

/// A persistent TAP device (`ip tuntap add dev NAME mode tap`) opened for writing frames
/// into the kernel. A frame written to the descriptor is received by the device: the kernel
/// runs the device's XDP program on it (tun's native XDP hook) and, when it passes, the
/// whole receive path (IP, netfilter, the UDP socket) in the writing thread, with bottom
/// halves disabled but not in a softirq. So the writer's CPU time covers the frame's whole
/// life in the kernel, as BPF_F_TEST_XDP_LIVE_FRAMES did (which this kernel refuses, EPERM).
struct TapDevice: ~Copyable {
    let name: String
    private let fd: Int32

    /// linux/if_tun.h: TUNSETIFF = _IOW('T', 202, int); IFF_TAP, IFF_NO_PI (no packet-info
    /// prefix: a write is exactly one Ethernet frame).
    private static let tunSetIff: UInt = 0x4004_54CA
    private static let iffTap: Int16 = 0x0002
    private static let iffNoPI: Int16 = 0x1000

    init(name: String) throws {
        guard name.utf8.count < 16 else { throw BenchError(description: "\(name): interface name too long") }
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError(description: "open /dev/net/tun: \(String(cString: strerror(errno)))") }
        // struct ifreq: the name (16 bytes, NUL-terminated), then the flags (short).
        var ifr = [UInt8](repeating: 0, count: 40)
        ifr.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
        withUnsafeBytes(of: Self.iffTap | Self.iffNoPI) { ifr.replaceSubrange(16..<18, with: $0) }
        let r = ifr.withUnsafeMutableBytes { b in b.baseAddress.map { ioctl(fd, Self.tunSetIff, $0) } ?? -1 }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw BenchError(description: "attach to tap \(name): \(String(cString: strerror(e)))")
        }
        self.name = name
        self.fd = fd
    }

    deinit { close(fd) }

    /// Writes `count` copies of `frame`; each write is one frame received by the device.
    func write(_ frame: [UInt8], count: Int) throws {
        try frame.withUnsafeBytes { f in
            for _ in 0..<count {
                guard Glibc.write(fd, f.baseAddress, f.count) == f.count else {
                    throw BenchError(description: "write to tap \(name): \(String(cString: strerror(errno)))")
                }
            }
        }
    }
}
