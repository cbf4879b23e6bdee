import Foundation
import IptParse

/// `ebpf-iptables -A INPUT ...`: iptables' own command line. The words go to
/// IptParse's command parser, the single authority on the syntax; edits go through
/// Table.apply and LiveCommit.
enum IptablesArgv {
    static func run(_ args: [String]) -> Int32 {
        var family: Family = .ipv4
        var words = args
        if let i = words.firstIndex(of: "-6") ?? words.firstIndex(of: "--ipv6") {
            family = .ipv6
            words.remove(at: i)
        }
        let store = StateStore(paths: .current)
        do {
            return try store.locked { () throws -> Int32 in
                var ruleset = try LiveCommit.currentRuleset(store)
                let snapshot = ruleset
                let (source, ws) = WordSource.argv(words)
                let chainExists: @Sendable (String, String) -> Bool = { t, c in snapshot.table(t)?.chain(c) != nil }
                let parsed: CommandParser.Parsed
                do {
                    parsed = try CommandParser.parse(ws, source: source, context: CommandContext(family: family, chainExists: chainExists))
                } catch {
                    Diagnostics.fail(String(describing: error))
                    Diagnostics.fail("Try `iptables -h' or 'iptables --help' for more information.")
                    return 2
                }
                guard case .command(let cmd) = parsed else { return 0 }
                var table = ruleset.table(cmd.table) ?? Table(name: cmd.table)
                do {
                    try table.apply(cmd)
                } catch {
                    Diagnostics.fail("iptables: \((error as? EditError)?.message ?? "\(error)")")
                    return 1
                }
                switch cmd.kind {
                case .list, .listRules, .check: return 0
                default: break
                }
                ruleset.replaceTable(table)
                try LiveCommit.rules(ruleset, store: store)
                return 0
            }
        } catch let e as ExitCodeError {
            return e.status
        } catch {
            Diagnostics.fail("ebpf-iptables: \(error)")
            return 1
        }
    }
}

struct ExitCodeError: Error { var status: Int32 }
