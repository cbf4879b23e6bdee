import ArgumentParser
import Fleet
import Foundation
import Runtime

/// `ebpf-ipset` (also `ebpf-iptables ipset`): ipset's own command line. The kernel's ipset
/// runs it; XDP follows the sets the rules match against.
struct IpsetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipset", abstract: "Manage sets with ipset's command line; XDP follows them.")

    @Argument(parsing: .captureForPassthrough, help: "ipset's arguments.")
    var words: [String] = []

    func run() throws {
        let status = IpsetCLI.run(words)
        if status != 0 { throw ExitCode(status) }
    }
}

enum IpsetCLI {
    static func run(_ argv: [String]) -> Int32 {
        var argv = argv
        // `--database URL` first: the fleet's sets in PostgreSQL, not this machine's (docs/fleet.md).
        var database: String? = nil
        if argv.first == "--database", argv.count >= 2 {
            database = argv[1]
            argv.removeFirst(2)
        } else if let first = argv.first, first.hasPrefix("--database=") {
            database = String(first.dropFirst("--database=".count))
            argv.removeFirst()
        }
        // `restore` without -file reads standard input: read it here, once.
        var stdin: String? = nil
        let isRestore = argv.contains { $0 == "restore" || $0 == "-R" } && !argv.contains { $0 == "-file" || $0 == "-f" }
        if isRestore { stdin = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        if let database {
            let r = FleetIpset.run(database: database, argv: argv, stdin: stdin)
            CLI.emit(r)
            return r.status
        }
        return CLI.run(.ipset(argv: argv, stdin: stdin))
    }
}
