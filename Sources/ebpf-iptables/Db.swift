import ArgumentParser
import Fleet
import Foundation

/// `ebpf-iptables db init --database URL`: the fleet's schema (docs/fleet.md).
struct Db: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The fleet's PostgreSQL database (docs/fleet.md).", subcommands: [DbInit.self, DbPrune.self])

    /// `body`'s value; its error on stderr as `ebpf-iptables: ...` and exit 1.
    static func orExit<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            FileHandle.standardError.write(Data("ebpf-iptables: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct DbInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Apply the schema migrations not yet applied (idempotent; the files are built into the binary).")

    @Option(help: "postgres://user[:password]@host[:port]/database or postgres:///database?host=/socket/dir")
    var database: String

    func run() throws {
        let url = try Db.orExit { try DatabaseURL(database) }
        let applied = try Db.orExit { try FleetBlocking.applyMigrations(url) }
        print(applied.isEmpty ? "database \(url.database): schema up to date" : "database \(url.database): applied \(applied.joined(separator: ", "))")
    }
}

/// `ebpf-iptables db prune --database URL (--keep-seconds N | --before-seq S)`: deletes old
/// rows of the change log; nodes that had not applied them resynchronise from a snapshot.
struct DbPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete old rows of the fleet's change log (nodes behind the cut resynchronise from a snapshot).")

    @Option(help: "postgres://user[:password]@host[:port]/database or postgres:///database?host=/socket/dir")
    var database: String

    @Option(name: .customLong("keep-seconds"), help: "Keep the changes of the last N seconds; delete the older ones.")
    var keepSeconds: Int?

    @Option(name: .customLong("before-seq"), help: "Delete the changes with a seq below S.")
    var beforeSeq: Int64?

    func validate() throws {
        switch (keepSeconds, beforeSeq) {
        case (nil, nil), (.some, .some): throw ValidationError("give one of --keep-seconds and --before-seq")
        case (let k?, nil) where k < 0: throw ValidationError("--keep-seconds: 0 or more")
        case (nil, let s?) where s < 0: throw ValidationError("--before-seq: 0 or more")
        default: break
        }
    }

    func run() throws {
        let url = try Db.orExit { try DatabaseURL(database) }
        let cut: FleetPrune.Cut = keepSeconds.map { FleetPrune.Cut.keepSeconds($0) } ?? FleetPrune.Cut.beforeSeq(beforeSeq ?? 0)
        let o = try Db.orExit { try FleetBlocking.prune(url, cut) }
        var line = "database \(url.database): deleted \(o.deleted) change(s); no change below seq \(o.prunedBelow) is kept"
        if !o.behind.isEmpty {
            line += "; \(o.behind.count) node(s) had applied less and will resynchronise from a snapshot: \(o.behind.joined(separator: ", "))"
        }
        print(line)
    }
}
