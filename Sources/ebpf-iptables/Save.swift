import ArgumentParser
import Foundation
import IptParse
import Runtime

/// `ebpf-iptables-save [-c] [-t TABLE]`: the kernel's iptables-save, with what XDP decided
/// added to the counters.
struct Save: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the running ruleset as iptables-save does.")

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 (ip6tables-save).")
    var ipv6 = false

    @Flag(name: [.customShort("c"), .customLong("counters")], help: "Include counters (the kernel's plus XDP's).")
    var counters = false

    @Option(name: [.customShort("t"), .customLong("table")], help: "Only this table.")
    var table: String?

    @Option(name: [.customShort("M"), .customLong("modprobe")], help: "Accepted, as iptables-save (the kernel's tools load what they need).")
    var modprobe: String?

    func run() throws {
        let status = CLI.run(.save(family: ipv6 ? .ipv6 : .ipv4, counters: counters, table: table))
        if status != 0 { throw ExitCode(status) }
    }
}
