import ArgumentParser
import Foundation
import IptParse

/// `ebpf-iptables-save [-c]`: the running ruleset, as iptables-save prints it (the canonical
/// text kept by the last successful restore or live edit), with `[packets:bytes]` under -c.
struct Save: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the running ruleset in iptables-save format.")

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 (not compiled to XDP yet: prints nothing).")
    var ipv6 = false

    @Flag(name: [.customShort("c"), .customLong("counters")], help: "Include counters.")
    var counters = false

    func run() throws {
        let store = StateStore(paths: .current)
        if ipv6 { return }
        guard counters else {
            print(store.read(store.paths.rulesFile) ?? "", terminator: "")
            return
        }
        // Counters come from the data plane (zeros when nothing is attached); see LiveCounters.
        try store.locked {
            guard let ruleset = try LiveCommit.stateRuleset(store) else { return }
            let withCounters = LiveCounters.annotate(ruleset, with: LiveCounters.source(ruleset, store: store))
            print(SavePrinter.save(withCounters, counters: true), terminator: "")
        }
    }
}
