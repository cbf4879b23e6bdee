import ArgumentParser
import Foundation
import IptParse

/// `ebpf-iptables-save`: the running ruleset, as iptables-save prints it (the canonical
/// text kept by the last successful restore).
struct Save: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the running ruleset in iptables-save format.")

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 (not compiled to XDP yet: prints nothing).")
    var ipv6 = false

    @Flag(name: [.customShort("c"), .customLong("counters")], help: "Include counters.")
    var counters = false

    func run() throws {
        if counters {
            // Per-rule counters live per compiled position; mapping them back onto every
            // written rule (jumps included) is the live-edit work still to come.
            Diagnostics.fail("ebpf-iptables-save: -c is not available yet; nothing printed")
            throw ExitCode(1)
        }
        let store = StateStore(paths: .current)
        if ipv6 { return }
        print(store.read(store.paths.rulesFile) ?? "", terminator: "")
    }
}
