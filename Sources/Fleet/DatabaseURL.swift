import Foundation
import NIOCore
import NIOSSL
import PostgresNIO

/// `--database URL`, the forms libpq takes that we need:
/// `postgres://user[:password]@host[:port]/db[?sslmode=disable|prefer|require]` (TCP; TLS
/// as libpq's `sslmode`, default `disable`: the fleet's database usually sits on a trusted
/// network or a Unix socket) and `postgres:///db?host=/socket/dir[&port=N&user=U]` or
/// `postgres://user@/db?host=/dir` (Unix socket `DIR/.s.PGSQL.PORT`, as libpq builds it).
/// `postgresql://` is the same. The user defaults to `$PGUSER`, then `postgres`.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    /// A host name or address, or a directory holding the Unix socket.
    public var host: String
    public var port: Int
    public var database: String
    /// libpq's `sslmode` for TCP: `disable` (default), `prefer` or `require`.
    public var sslMode: String

    public var isUnixSocket: Bool { host.hasPrefix("/") }
    public var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(Invalid) {
        func bad(_ why: String) -> Invalid { Invalid(description: "invalid database URL '\(Self.redacted(text))': \(why)") }
        let scheme: String
        if text.hasPrefix("postgres://") { scheme = "postgres://" } else if text.hasPrefix("postgresql://") { scheme = "postgresql://" } else {
            throw bad("expected postgres://user[:password]@host[:port]/database or postgres:///database?host=/socket/dir")
        }
        var rest = String(text.dropFirst(scheme.count))
        var query: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                guard kv.count == 2 else { throw bad("query parameter '\(pair)' has no value") }
                query[kv[0]] = kv[1]
            }
            rest = String(rest[..<q])
        }
        var authority = rest
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = String(rest[..<slash])
            path = String(rest[rest.index(after: slash)...])
        }
        var userinfo: String? = nil
        var hostport = authority
        if let at = authority.lastIndex(of: "@") {
            userinfo = String(authority[..<at])
            hostport = String(authority[authority.index(after: at)...])
        }
        var user = ProcessInfo.processInfo.environment["PGUSER"] ?? "postgres"
        var password: String? = nil
        if let userinfo {
            let parts = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
            if !parts[0].isEmpty { user = parts[0] }
            if parts.count == 2 { password = parts[1] }
        }
        var host = ""
        var port = 5432
        if hostport.hasPrefix("[") {
            guard let close = hostport.firstIndex(of: "]") else { throw bad("unclosed '['") }
            host = String(hostport[hostport.index(after: hostport.startIndex)..<close])
            let after = hostport[hostport.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw bad("bad port '\(after.dropFirst())'") }
                port = p
            }
        } else if let colon = hostport.lastIndex(of: ":") {
            host = String(hostport[..<colon])
            guard let p = Int(hostport[hostport.index(after: colon)...]), (1...65535).contains(p) else {
                throw bad("bad port '\(hostport[hostport.index(after: colon)...])'")
            }
            port = p
        } else {
            host = hostport.removingPercentEncoding ?? hostport
        }
        // Refused, not ignored: a misspelt `sslmode` must not quietly mean no TLS.
        if let unknown = query.keys.sorted().first(where: { !["host", "port", "user", "password", "sslmode"].contains($0) }) {
            throw bad("unknown parameter '\(unknown)'")
        }
        if let h = query["host"] { host = h }
        if let p = query["port"] {
            guard let n = Int(p), (1...65535).contains(n) else { throw bad("bad port '\(p)'") }
            port = n
        }
        if let u = query["user"] { user = u }
        if let pw = query["password"] { password = pw }
        let sslMode = query["sslmode"] ?? "disable"
        guard ["disable", "prefer", "require"].contains(sslMode) else { throw bad("sslmode must be disable, prefer or require") }
        if host.isEmpty { host = ProcessInfo.processInfo.environment["PGHOST"] ?? "/var/run/postgresql" }
        let db = path.removingPercentEncoding ?? path
        guard !db.isEmpty else { throw bad("no database name") }
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = db
        self.sslMode = sslMode
    }

    /// One connection (the follower's LISTEN, `db init`, `ebpf-ipset --database`).
    public func configuration() throws -> PostgresConnection.Configuration {
        var c: PostgresConnection.Configuration
        if isUnixSocket {
            c = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            c = .init(host: host, port: port, username: user, password: password, database: database, tls: try connectionTLS())
        }
        c.options.connectTimeout = .seconds(5)
        return c
    }

    /// A pool of connections (the console).
    public var clientConfiguration: PostgresClient.Configuration {
        if isUnixSocket {
            return .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "require": tls = .require(.makeClientConfiguration())
        case "prefer": tls = .prefer(.makeClientConfiguration())
        default: tls = .disable
        }
        return .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch sslMode {
        case "require": return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case "prefer": return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: return .disable
        }
    }

    /// Where, for messages: never the password.
    public var description: String {
        isUnixSocket ? "\(database) on \(socketPath) as \(user)" : "\(database) on \(host):\(port) as \(user)"
    }

    static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let schemeEnd = text.range(of: "://")?.upperBound,
              let colon = text[schemeEnd..<at].firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
