import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Why a fleet command could not talk to its database, worded for an operator.
public struct FleetDatabaseError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }

    /// The server's own message for a refused statement (`ERROR: ...`), else what failed.
    static func describe(_ error: any Error) -> String {
        if let t = error as? PostgresTransactionError {
            if let e = t.closureError { return describe(e) }
            if let e = t.commitError { return describe(e) }
            if let e = t.beginError { return describe(e) }
        }
        if let p = error as? PSQLError {
            if let m = p.serverInfo?[.message] { return m }
            if let u = p.underlying { return "\(p.code): \(u)" }
            return "\(p.code)"
        }
        return "\(error)"
    }

    /// The SQLSTATE of a statement the server refused, or nil (not reached, dropped ...).
    static func sqlState(_ error: any Error) -> String? {
        if let t = error as? PostgresTransactionError, let e = t.closureError ?? t.commitError { return sqlState(e) }
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

/// One connection to the fleet's database.
public enum FleetConnection {
    nonisolated(unsafe) static var nextID = 0

    public static func connect(_ url: DatabaseURL, logger: Logger) async throws -> PostgresConnection {
        nextID += 1
        do {
            return try await PostgresConnection.connect(configuration: try url.configuration(), id: nextID, logger: logger)
        } catch {
            throw FleetDatabaseError("cannot connect to the fleet database (\(url)): \(FleetDatabaseError.describe(error))")
        }
    }

    /// A logger that says nothing (the CLI prints its own messages).
    public static var quietLogger: Logger {
        var l = Logger(label: "fleet", factory: { _ in SwiftLogNoOpLogHandler() })
        l.logLevel = .critical
        return l
    }
}

/// Runs async work from a synchronous command (`ebpf-ipset --database`, `db init`).
final class BlockingResult<T: Sendable>: @unchecked Sendable {
    var value: Result<T, any Error>?

    static func run(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = BlockingResult<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.value = .success(try await body()) } catch { box.value = .failure(error) }
            done.signal()
        }
        done.wait()
        guard let v = box.value else { throw FleetDatabaseError("internal: no result") }
        return try v.get()
    }
}
