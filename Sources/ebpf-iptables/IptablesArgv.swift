import Foundation
import IptParse

/// `ebpf-iptables -A INPUT ...`: iptables' own command line. The words go to
/// IptParse's command parser, the single authority on the syntax.
enum IptablesArgv {
    static func run(_ args: [String]) -> Int32 {
        var family: Family = .ipv4
        var words = args
        if let i = words.firstIndex(of: "-6") ?? words.firstIndex(of: "--ipv6") {
            family = .ipv6
            words.remove(at: i)
        }
        let (source, ws) = WordSource.argv(words)
        do {
            _ = try CommandParser.parse(ws, source: source, context: CommandContext(family: family))
        } catch {
            Diagnostics.fail(String(describing: error))
            Diagnostics.fail("Try `ebpf-iptables -h' or 'ebpf-iptables --help' for more information.")
            return 2
        }
        // Live edits of the running XDP ruleset come with the loader; refuse rather than pretend.
        Diagnostics.fail("ebpf-iptables: live edits are not available in this build; nothing was applied")
        return 1
    }
}
