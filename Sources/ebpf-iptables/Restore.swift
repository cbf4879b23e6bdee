import ArgumentParser
import Compiler
import Foundation
import IptParse
import Runtime

/// `ebpf-iptables-restore [FILE]` (also `ebpf-iptables restore`, `ebpf-ip6tables-restore`):
/// the whole ruleset into the kernel with its own iptables-restore, after a dry run; XDP in
/// front drops what that ruleset drops for certain.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install a ruleset (every table) in the kernel, with XDP in front of it.")

    @OptionGroup var input: RulesetInput

    @Flag(name: [.customShort("t"), .customLong("test")], help: "Check only (our parser and a dry run of the kernel's); apply nothing.")
    var test = false

    @Flag(name: [.customShort("n"), .customLong("noflush")], help: "Add to the running ruleset instead of replacing its tables.")
    var noflush = false

    @Flag(name: [.customShort("c"), .customLong("counters")], help: "Restore the packet and byte counters the file gives.")
    var counters = false

    @Flag(help: "XDP drops REJECTed packets silently (no ICMP error or TCP reset is sent for them).")
    var rejectAsDrop = false

    @Flag(help: "XDP alone decides filter INPUT (it must compile whole); the kernel's INPUT is left empty.")
    var xdpOnly = false

    @Flag(help: "Accepted for compatibility; every table now goes to the kernel.")
    var inputOnly = false

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Accepted, as iptables-restore.")
    var verbose = false

    @Option(name: [.customShort("w"), .customLong("wait")], help: "Accepted, as iptables-restore (every command waits for the state lock, bounded).")
    var wait: String?

    func run() throws {
        let (text, name) = try RulesetLoading.read(input.file)
        var setFiles: [(name: String, text: String)] = []
        for f in input.ipsetFiles {
            let (t, n) = try RulesetLoading.read(f)
            setFiles.append((name: n, text: t))
        }
        var req = RestoreRequest(family: input.family, text: text, source: name, setFiles: setFiles)
        req.noflush = noflush
        req.counters = counters
        req.test = test
        req.options = CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: xdpOnly)
        // Through CLI.status: a busy lock is exit 4 with our message, as for every other command.
        let status = CLI.status { try CLI.firewall().restore(req) }
        if status != 0 { throw ExitCode(status) }
    }
}
