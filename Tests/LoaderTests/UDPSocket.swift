import Foundation

/// A bound UDP socket in the network namespace of the thread that created it (a socket
/// keeps its namespace wherever it is used from).
final class UDPSocket {
    let fd: Int32

    init(address: UInt32, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
        var sa = UDPSocket.makeAddress(address, port)
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { close(fd); throw NSError(domain: "bind", code: Int(errno)) }
    }

    func send(to address: UInt32, port: UInt16) throws {
        var sa = UDPSocket.makeAddress(address, port)
        let payload: [UInt8] = [1, 2, 3, 4]
        let n = withUnsafePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard n == payload.count else { throw NSError(domain: "sendto", code: Int(errno)) }
    }

    /// The sources (host-order address, port) of the datagrams that arrive until `limit`
    /// have, or until none arrived for `quiet` seconds.
    func receive(limit: Int, quiet: Double) -> [(address: UInt32, port: UInt16)] {
        var out: [(UInt32, UInt16)] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        while out.count < limit {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(quiet * 1000)) > 0 else { break }
            var sa = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = withUnsafeMutablePointer(to: &sa) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, Int32(MSG_DONTWAIT), $0, &len) }
            }
            if n < 0 { continue }
            out.append((UInt32(bigEndian: sa.sin_addr.s_addr), UInt16(bigEndian: sa.sin_port)))
        }
        return out
    }

    static func makeAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = address.bigEndian
        return sa
    }

    deinit { close(fd) }
}
