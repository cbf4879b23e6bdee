import Fleet

/// What `ebpf-iptables console` was started with.
public struct ConsoleConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var database: DatabaseURL
    public var certificateFile: String
    public var keyFile: String
    /// A bearer token for the nodes' REST APIs (first non-comment line of `--node-token`).
    public var nodeToken: String?
    /// CA certificates the nodes' server certificates must chain to; nil: the system's roots.
    public var nodeCAFile: String?
    /// How long a login lasts (absolute, not sliding).
    public var sessionLifetime: Duration
    /// Failed logins allowed per user name and per client address within a window, and the
    /// window (also how long a lockout lasts): 5 in 15 minutes.
    public var loginPolicy = LoginThrottle.Policy()

    public init(host: String, port: Int, database: DatabaseURL, certificateFile: String, keyFile: String,
                nodeToken: String?, nodeCAFile: String?, sessionLifetime: Duration = .seconds(8 * 3600)) {
        self.host = host
        self.port = port
        self.database = database
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.nodeToken = nodeToken
        self.nodeCAFile = nodeCAFile
        self.sessionLifetime = sessionLifetime
    }

    /// The token file's first line that is neither empty nor a `#` comment, trimmed.
    public static func readToken(file: String) throws -> String {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if !t.isEmpty && !t.hasPrefix("#") { return String(t.split(separator: " ")[0]) }
        }
        throw ConsoleError.emptyTokenFile(file)
    }
}

public enum ConsoleError: Error, CustomStringConvertible {
    case emptyTokenFile(String)
    case badListen(String)
    case userExists(String)
    case badPassword(String)
    case database(String)

    public var description: String {
        switch self {
        case .emptyTokenFile(let f): return "\(f): no token in the file"
        case .badListen(let s): return "--listen: '\(s)' is not ADDR:PORT"
        case .userExists(let u): return "user '\(u)' already exists"
        case .badPassword(let why): return why
        case .database(let why): return why
        }
    }
}

import Fleet
import Foundation
