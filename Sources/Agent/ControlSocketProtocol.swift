import Foundation
import Runtime

/// What the CLI sends the agent over the control socket: one `FirewallRequest` per
/// connection, with what of the client's own context the answer may depend on.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var request: FirewallRequest
    /// The client's `EBPF_IPTABLES_STATE` and `EBPF_IPTABLES_BPFFS`: an agent with other
    /// paths runs another firewall, and refuses rather than edit the wrong one.
    public var stateDir: String
    public var pinRoot: String
    /// The client's working directory: relative file names in argv (`ipset restore -file x`,
    /// `ipset save -file x`) mean what they mean to the client, and the kernel tools' messages
    /// name them as the client wrote them. The agent runs each request in this directory.
    public var cwd: String

    public init(request: FirewallRequest, stateDir: String, pinRoot: String, cwd: String) {
        self.request = request
        self.stateDir = stateDir
        self.pinRoot = pinRoot
        self.cwd = cwd
    }
}

/// The agent's answer: the stood-in tool's result, a failure of ours (printed as the CLI
/// prints it, with its exit status), or "run it yourself" when the agent cannot act for this
/// client (its directory is not one the agent can enter): the client then works alone.
public enum ControlResponse: Codable, Sendable, Equatable {
    case result(ToolResult)
    case failure(message: String, status: Int32)
    case runLocally(reason: String)
}

/// Errors of the control socket itself (never a tool's refusal).
public enum ControlSocketError: Error, Equatable, CustomStringConvertible {
    case system(String, Int32)
    case tooLarge(Int)
    case truncated
    case pathTooLong(String)
    case alreadyServed(String)

    public var description: String {
        switch self {
        case let .system(what, e): "\(what): \(String(cString: strerror(e))) (errno \(e))"
        case let .tooLarge(n): "control socket: a message of \(n) bytes is over the limit"
        case .truncated: "the agent closed the connection before answering (the request may or may not have been applied)"
        case let .pathTooLong(p): "control socket path too long for a Unix socket: \(p)"
        case let .alreadyServed(p): "another agent already answers on \(p)"
        }
    }
}

/// Frames: a 4-byte big-endian length, then that many bytes of JSON. One request and one
/// response per connection.
public enum ControlFrame {
    /// A whole ruleset with its sets fits; anything larger is a mistake, not a request.
    public static let maxLength = 256 << 20

    public static func write(_ payload: [UInt8], to fd: Int32) throws {
        guard payload.count <= maxLength else { throw ControlSocketError.tooLarge(payload.count) }
        let n = UInt32(payload.count)
        var bytes: [UInt8] = [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        bytes += payload
        var off = 0
        while off < bytes.count {
            // send with MSG_NOSIGNAL: a peer gone is EPIPE here, never SIGPIPE for the process.
            var w = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if w < 0 && errno == ENOTSOCK { w = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) } }
            if w < 0 {
                if errno == EINTR { continue }
                throw ControlSocketError.system("control socket: write", errno)
            }
            off += w
        }
    }

    /// nil when the peer closed before sending anything (no request).
    public static func read(from fd: Int32) throws -> [UInt8]? {
        guard let head = try readExactly(4, from: fd, allowEOF: true) else { return nil }
        let n = Int(head[0]) << 24 | Int(head[1]) << 16 | Int(head[2]) << 8 | Int(head[3])
        guard n <= maxLength else { throw ControlSocketError.tooLarge(n) }
        return try readExactly(n, from: fd, allowEOF: false) ?? []
    }

    static func readExactly(_ n: Int, from fd: Int32, allowEOF: Bool) throws -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + off, n - off) }
            if r < 0 {
                if errno == EINTR { continue }
                throw ControlSocketError.system("control socket: read", errno)
            }
            if r == 0 {
                if off == 0 && allowEOF { return nil }
                throw ControlSocketError.truncated
            }
            off += r
        }
        return buf
    }

    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// A `sockaddr_un` for `path`, and calls that need one.
enum UnixAddress {
    static func with<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw ControlSocketError.pathTooLong(path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return try withUnsafePointer(to: &addr) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, len) }
        }
    }
}
