#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The control socket's framing (4-byte big-endian length, then the bytes), as in
/// Sources/Agent/ControlSocketProtocol.swift, without Foundation.
enum Wire {
    static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } }
        if r != 0 { close(fd); return nil }
        return fd
    }

    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if w < 0 { if errno == EINTR { continue }; return false }
            off += w
        }
        return true
    }

    static func send(_ fd: Int32, _ payload: [UInt8]) -> Bool {
        let n = UInt32(payload.count)
        return writeAll(fd, [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload)
    }

    static func receive(_ fd: Int32) -> [UInt8]? {
        guard let head = readExactly(fd, 4) else { return nil }
        let n = Int(head[0]) << 24 | Int(head[1]) << 16 | Int(head[2]) << 8 | Int(head[3])
        guard n <= 256 << 20 else { return nil }
        return readExactly(fd, n)
    }

    static func readExactly(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + off, n - off) }
            if r < 0 { if errno == EINTR { continue }; return nil }
            if r == 0 { return nil }
            off += r
        }
        return buf
    }
}
