import ArgumentParser
import Foundation
import IptParse

/// `ebpf-ipset` (also `ebpf-iptables ipset`): ipset's own command line over the sets the
/// rules match against. Sets live in the state directory; a change reaches a running
/// ruleset through LiveCommit. Output, messages and exit statuses are ipset 7.17's.
struct IpsetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipset", abstract: "Manage the sets rules match against, with ipset's command line.")

    @Argument(parsing: .captureForPassthrough, help: "ipset's arguments: create add del test list save restore flush destroy swap rename.")
    var words: [String] = []

    func run() throws {
        let status = IpsetCLI.run(words)
        if status != 0 { throw ExitCode(status) }
    }
}

enum IpsetCLI {
    /// Runs one ipset command line; returns the exit status.
    static func run(_ argv: [String]) -> Int32 {
        // Flags of the earlier `ebpf-ipset restore`: a running ruleset now recompiles with
        // the options of its own restore, so these are accepted and have no effect.
        let args = argv.filter { $0 != "--reject-as-drop" && $0 != "--input-only" }
        let inv: IpsetInvocation
        do {
            inv = try IpsetArgv.parse(args)
        } catch {
            let quiet = args.contains("-q") || args.contains("-quiet") || args.contains("--quiet")
            return emit(IpsetSession.fail(error, quiet: quiet))
        }
        if inv.command == .version || inv.command == .help {
            return emit(IpsetSession.execute(inv, state: IpsetState(), env: environment(now: 0, store: nil)))
        }
        let store = StateStore(paths: .current)
        do {
            return try store.locked {
                // One address added or deleted: the fast path, when it applies, touches only
                // that member's entries and appends one journal line (no state parse).
                if inv.command == .add || inv.command == .del, inv.args.count == 2, inv.output == nil, inv.file == nil,
                   let message = try LiveFastPath.setMember(inv.command == .add ? .add : .del, set: inv.args[0],
                                                            member: inv.args[1], exist: inv.exist, store: store) {
                    guard !message.isEmpty else { return 0 }
                    if !inv.quiet { FileHandle.standardError.write(Data("\(IpsetMessages.prefix)\(message)\n".utf8)) }
                    return 1
                }
                let now = IpsetStateFiles.nowMillis
                let state = try IpsetStateFiles.load(store, now: now)
                let outcome = IpsetSession.execute(inv, state: state, env: environment(now: now, store: store))
                if let next = outcome.state {
                    try IpsetStateFiles.commit(next, change: outcome.change, store: store, now: now)
                }
                return emit(outcome)
            }
        } catch {
            return emit(IpsetSession.fail(IpsetUsageError("\(error)", usage: false), quiet: inv.quiet))
        }
    }

    static func environment(now: Int64, store: StateStore?) -> IpsetEnvironment {
        IpsetEnvironment(
            now: now, references: store.map(IpsetStateFiles.references) ?? [:],
            newInitval: { UInt32.random(in: 0...UInt32.max) },
            readInput: { path in
                if let path { return FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } }
                return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            })
    }

    static func emit(_ o: IpsetOutcome) -> Int32 {
        if let path = o.outputFile {
            guard FileManager.default.createFile(atPath: path, contents: Data(o.stdout.utf8)) else {
                let reason = String(cString: strerror(errno))
                FileHandle.standardError.write(Data("\(IpsetMessages.prefix)Cannot open \(path) for writing: \(reason)\n".utf8))
                return 1
            }
        } else {
            FileHandle.standardOutput.write(Data(o.stdout.utf8))
        }
        FileHandle.standardError.write(Data(o.stderr.utf8))
        return o.status
    }
}
