import Foundation
import TestSupport
import XCTest

/// A private PostgreSQL server for one test class: `initdb` and `pg_ctl` from Debian's
/// postgresql-15 in a temp dir, listening only on a Unix socket in that dir (no TCP), its
/// port number (part of the socket's name) from our pid. initdb refuses to run as root, so
/// the server runs as the `postgres` user over a directory chowned to it; clients connect
/// as the superuser `postgres` with trust authentication (the socket is ours alone).
final class PostgresServer: @unchecked Sendable {
    static let bin = "/usr/lib/postgresql/15/bin"
    let root: String
    let port: Int
    var socketDir: String { root }
    var data: String { root + "/data" }
    private(set) var running = false

    /// Why the tests cannot run here, or nil.
    static var unavailableReason: String? {
        if geteuid() != 0 { return "not root: the server runs as user postgres (runuser), nodes need network namespaces" }
        if !FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return "PostgreSQL 15 server is not installed (apt-get install postgresql-15; scripts/setup does)" }
        if !Run.has("psql") { return "psql is not installed (apt-get install postgresql-client-15)" }
        if Run.run(["id", "-u", "postgres"]).status != 0 { return "no user postgres (the postgresql package creates it)" }
        return nil
    }

    init(tag: String) throws {
        root = "/tmp/ebpf-fleet-pg-\(tag)-\(getpid())"
        port = 20000 + Int(getpid() % 20000)
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try check(Run.run(["chown", "postgres:postgres", root]), "chown")
        try check(Run.run(["runuser", "-u", "postgres", "--", Self.bin + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                          deadline: .seconds(120)), "initdb")
        try start()
    }

    deinit { stop(); try? FileManager.default.removeItem(atPath: root) }

    func check(_ r: RunResult, _ what: String) throws {
        guard r.status == 0 else { throw FleetTestFailure("\(what): exit \(r.status): \(r.stderr)\(r.stdout)") }
    }

    func start() throws {
        // fsync off: a test database; max_connections for the 30-node bench.
        let opts = "-k \(root) -p \(port) -c listen_addresses='' -c fsync=off -c max_connections=200"
        try check(Run.run(["runuser", "-u", "postgres", "--", Self.bin + "/pg_ctl", "-D", data, "-o", opts, "-l", root + "/server.log", "-w", "-t", "60", "start"],
                          deadline: .seconds(90)), "pg_ctl start")
        running = true
    }

    func stop() {
        guard running else { return }
        Run.run(["runuser", "-u", "postgres", "--", Self.bin + "/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop"], deadline: .seconds(60))
        running = false
    }

    func restart() throws {
        stop()
        try start()
    }

    /// `postgres:///DB?host=DIR&port=N`.
    func url(_ db: String, user: String = "postgres") -> String { "postgres://\(user)@/\(db)?host=\(root)&port=\(port)" }

    /// psql as the superuser; stops at the first error.
    @discardableResult
    func psql(_ sql: String, db: String = "postgres") throws -> String {
        let r = Run.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", root, "-p", String(port), "-U", "postgres", "-d", db],
                        stdin: sql, deadline: .seconds(120))
        guard r.status == 0 else { throw FleetTestFailure("psql: \(r.stderr)") }
        return r.stdout
    }

    /// psql's exit status and messages, for statements that are meant to fail.
    func psqlResult(_ sql: String, db: String) -> RunResult {
        Run.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", root, "-p", String(port), "-U", "postgres", "-d", db],
                stdin: sql, deadline: .seconds(60))
    }

    /// A fresh empty database.
    func createDatabase(_ name: String) throws {
        try psql("drop database if exists \(name) with (force);\ncreate database \(name);")
    }
}

struct FleetTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
