import Agent
import ArgumentParser
import Foundation
import IptParse
import Logging
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

    @Flag(help: "Write the running ruleset (both families), the sets and what is attached to the saved files under the configuration directory (EBPF_IPTABLES_CONFIG, default /etc/ebpf-iptables), which the agent restores at start; prints nothing to standard output.")
    var persist = false

    func run() throws {
        if persist {
            let firewall = CLI.firewall()
            let persistence = Persistence(directory: firewall.store.paths.configDir)
            do {
                let summary = try persistence.saveAll(firewall: firewall, logger: Logger(label: "ebpf-iptables"))
                FileHandle.standardError.write(Data((summary + "\n").utf8))
                return
            } catch {
                Diagnostics.fail("ebpf-iptables: save --persist: \(error)")
                throw ExitCode(1)
            }
        }
        let status = CLI.run(.save(family: ipv6 ? .ipv6 : .ipv4, counters: counters, table: table))
        if status != 0 { throw ExitCode(status) }
    }
}
