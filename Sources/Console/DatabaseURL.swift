import Foundation
import PostgresNIO

/// `--database URL`: `postgres://[USER[:PASSWORD]@][HOST][:PORT]/DATABASE[?host=/socket/dir&sslmode=…]`,
/// libpq's URI form (a `host` query parameter that starts with `/` is a Unix socket
/// directory, as in libpq; the socket file is `DIR/.s.PGSQL.PORT`).
public struct DatabaseURL: Sendable, Equatable {
    public var user: String
    public var password: String?
    public var host: String?
    public var socketDirectory: String?
    public var port: Int
    public var database: String?
    /// libpq's `sslmode`: `disable`, `prefer` (default) or `require`.
    public var sslMode: String

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(Invalid) {
        guard let c = URLComponents(string: text), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw Invalid(description: "--database: '\(text)' is not a postgres:// URL")
        }
        user = c.percentEncodedUser?.removingPercentEncoding ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        password = c.percentEncodedPassword?.removingPercentEncoding
        host = (c.host?.isEmpty ?? true) ? nil : c.host
        port = c.port ?? 5432
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? nil : path
        sslMode = "prefer"
        for item in c.queryItems ?? [] {
            switch item.name {
            case "host":
                if let v = item.value, v.hasPrefix("/") { socketDirectory = v } else { host = item.value }
            case "port":
                guard let v = item.value, let p = Int(v) else { throw Invalid(description: "--database: bad port '\(item.value ?? "")'") }
                port = p
            case "sslmode":
                guard let v = item.value, ["disable", "prefer", "require"].contains(v) else {
                    throw Invalid(description: "--database: sslmode must be disable, prefer or require")
                }
                sslMode = v
            case "user": user = item.value ?? user
            case "password": password = item.value
            default:
                throw Invalid(description: "--database: unknown parameter '\(item.name)'")
            }
        }
        if host == nil && socketDirectory == nil { socketDirectory = "/var/run/postgresql" }
    }

    public var clientConfiguration: PostgresClient.Configuration {
        if let dir = socketDirectory, host == nil {
            return .init(unixSocketPath: "\(dir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        return .init(host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: tls)
    }
}
