import Foundation
import Logging
import PostgresNIO

/// `ebpf-iptables db init`: applies every migration not yet applied, in order, each in its own
/// transaction together with its row in `schema_migrations`; under one advisory lock, so two
/// `db init` at once apply each file once. The files are embedded in the binary
/// (scripts/embed-migrations), so an installed binary needs no source tree.
public enum Migrations {
    public struct File: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var text: String
    }

    /// The embedded files, by version.
    public static var embedded: [File] {
        EmbeddedMigrations.files.compactMap { f in
            guard let v = Int(f.name.prefix(while: \.isNumber)) else { return nil }
            return File(version: v, name: f.name, text: f.text + "\n")
        }.sorted { $0.version < $1.version }
    }

    /// Applies what is missing; returns the names applied now (empty when up to date).
    public static func apply(_ url: DatabaseURL, files: [File] = embedded, logger: Logger = FleetConnection.quietLogger) async throws -> [String] {
        let conn = try await FleetConnection.connect(url, logger: logger)
        defer { Task { try? await conn.close() } }
        do {
            try await conn.query("create table if not exists schema_migrations (version int primary key, name text not null, applied_at timestamptz not null default now())", logger: logger)
        } catch {
            // Two `db init` racing on a fresh database: the loser's create fails on the catalog's
            // unique index; the table exists then, which is all we wanted.
            if FleetDatabaseError.sqlState(error) != "23505" && FleetDatabaseError.sqlState(error) != "42P07" {
                throw FleetDatabaseError("db init: \(FleetDatabaseError.describe(error))")
            }
        }
        var applied: [String] = []
        for file in files {
            do {
                let done: Bool = try await conn.withTransaction(logger: logger) { c in
                    try await c.query("select pg_advisory_xact_lock(7140001)", logger: logger)
                    let version = file.version
                    for try await _ in try await c.query("select 1 from schema_migrations where version = \(version)", logger: logger) {
                        return false
                    }
                    for statement in SQLStatements.split(file.text) {
                        try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    let name = file.name
                    try await c.query("insert into schema_migrations (version, name) values (\(version), \(name))", logger: logger)
                    return true
                }
                if done { applied.append(file.name) }
            } catch {
                throw FleetDatabaseError("db init: \(file.name): \(FleetDatabaseError.describe(error)) (nothing of it applied)")
            }
        }
        return applied
    }
}

/// The fleet's entry points for synchronous commands.
public enum FleetBlocking {
    public static func applyMigrations(_ url: DatabaseURL) throws -> [String] {
        try BlockingResult.run { try await Migrations.apply(url) }
    }
}
