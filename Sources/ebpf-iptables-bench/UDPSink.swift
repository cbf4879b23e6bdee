import Glibc

/// A UDP socket on the SIP port of the firewall namespace, read without blocking: the
/// proof that an accepted frame really reached a socket (and a dropped one did not).
/// Nobody sleeps on it, so delivering a datagram wakes no one; the measuring thread
/// drains it between timed batches.
struct UDPSink: ~Copyable {
    private let fd: Int32

    /// `ipv6`: an AF_INET6 socket, IPv6 only (IPV6_V6ONLY), for the IPv6 rows; otherwise the
    /// AF_INET socket the IPv4 rows always had.
    init(port: UInt16, ipv6: Bool = false) throws {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError(description: "udp socket: \(String(cString: strerror(errno)))") }
        // A batch of small datagrams must fit without drops: SO_RCVBUFFORCE (root) passes
        // net.core.rmem_max.
        var size: Int32 = 64 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let b: Int32
        if ipv6 {
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            b = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = in_addr(s_addr: 0)
            b = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard b == 0 else {
            let e = errno
            close(fd)
            throw BenchError(description: "bind udp port \(port): \(String(cString: strerror(e)))")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Reads every queued datagram; returns how many there were.
    func drain() -> Int {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var n = 0
        while buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) >= 0 { n += 1 }
        return n
    }
}
