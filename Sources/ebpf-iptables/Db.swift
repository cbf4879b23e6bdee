import ArgumentParser
import Fleet
import Foundation

/// `ebpf-iptables db init --database URL`: the fleet's schema (docs/fleet.md).
struct Db: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The fleet's PostgreSQL database (docs/fleet.md).", subcommands: [DbInit.self])
}

struct DbInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Apply the schema migrations not yet applied (idempotent; the files are built into the binary).")

    @Option(help: "postgres://user[:password]@host[:port]/database or postgres:///database?host=/socket/dir")
    var database: String

    func run() throws {
        let url: DatabaseURL
        do { url = try DatabaseURL(database) } catch {
            FileHandle.standardError.write(Data("ebpf-iptables: \(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            let applied = try FleetBlocking.applyMigrations(url)
            print(applied.isEmpty ? "database \(url.database): schema up to date" : "database \(url.database): applied \(applied.joined(separator: ", "))")
        } catch {
            FileHandle.standardError.write(Data("ebpf-iptables: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
