import Compiler
import Foundation
import IptParse
import Loader

/// `migrate --verify`: the equivalence proof on packets. Probes generated from the compiled
/// tables are decided by the kernel's iptables (the filter table restored into a throwaway
/// namespace, frames sent over a veth, per-rule counter deltas naming the deciding rule) and
/// by the compiled XDP program (loaded, not attached; BPF_PROG_TEST_RUN; its per-rule
/// counters naming the deciding position). Both the verdict and the deciding rule must agree.
public enum Verification {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// For tests: `EBPF_IPTABLES_VERIFY_SABOTAGE=1` removes one keyed entry from the XDP side,
    /// so a test can prove that the verification notices.
    static var sabotage: Bool { ProcessInfo.processInfo.environment["EBPF_IPTABLES_VERIFY_SABOTAGE"] == "1" }

    /// Targets that let the packet go on to the next rule.
    static let nonTerminating: Set<String> = ["LOG", "NFLOG", "ULOG", "SET", "MARK", "CONNMARK", "CLASSIFY", "AUDIT",
                                              "TRACE", "DSCP", "TOS", "TTL", "TCPMSS", "CHECKSUM", "IDLETIMER", "LED", "NETMAP"]

    /// Set names the table's rules use, with the largest number of dimensions each is used with.
    public static func referencedSets(_ table: Table) -> [(String, Int)] {
        var seen: [String: Int] = [:]
        for chain in table.chains {
            for rule in chain.rules {
                for m in rule.matches {
                    if case .set(let s) = m { seen[s.name] = max(seen[s.name] ?? 0, s.directions.count) }
                }
                if case .opaque(let e)? = rule.target {
                    for o in e.options where ["add-set", "del-set"].contains(o.name) && o.args.count == 2 {
                        seen[o.args[0]] = max(seen[o.args[0]] ?? 0, o.args[1].split(separator: ",").count)
                    }
                }
            }
        }
        return seen.sorted { $0.key < $1.key }
    }

    public static func run(ruleset: Ruleset, setsText: String?, compiled: CompileResult, interface: String,
                           probes wanted: Int) throws -> MigrationReport.Verification {
        guard geteuid() == 0 else { throw Failure(description: "verify: needs root (network namespaces, BPF)") }
        let tag = "\(getpid())"
        let gen = "ebpt-vgen-\(tag)", ref = "ebpt-vref-\(tag)"
        defer {
            Shell.run(["ip", "netns", "del", gen])
            Shell.run(["ip", "netns", "del", ref])
        }
        for ns in [gen, ref] {
            let r = Shell.run(["ip", "netns", "add", ns])
            guard r.status == 0 else { throw Failure(description: "verify: ip netns add \(ns): \(r.stderr)") }
        }
        // The receiving interface has the migration's interface name, so `-i` decides alike.
        Shell.run(["ip", "link", "add", "vg0", "netns", gen, "type", "veth", "peer", "name", interface, "netns", ref])
        Shell.run(["ip", "-n", gen, "link", "set", "vg0", "up"])
        Shell.run(["ip", "-n", ref, "addr", "add", "198.18.0.2/24", "dev", interface])
        Shell.run(["ip", "-n", ref, "link", "set", interface, "up"])
        Shell.run(["ip", "-n", ref, "link", "set", "lo", "up"])
        for k in ["all", "default", interface] {
            Shell.run(["ip", "netns", "exec", ref, "sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"])
        }
        var filterOnly = Ruleset(family: .ipv4)
        let filter = ruleset.table("filter") ?? Table(name: "filter")
        filterOnly.tables = [filter]
        let filterText = SavePrinter.save(filterOnly)
        if let setsText {
            let r = Shell.run(["ip", "netns", "exec", ref, "ipset", "restore"], stdin: setsText)
            guard r.status == 0 else { throw Failure(description: "verify: ipset restore in \(ref): \(r.stderr)") }
        }
        // Sets the filter table names but no --ipset file defines (used outside INPUT, or the
        // rules are refused anyway) must still exist for iptables-restore; empty ones do.
        for (name, dims) in referencedSets(filter) {
            Shell.run(["ip", "netns", "exec", ref, "ipset", "-exist", "create", name, dims > 1 ? "hash:ip,port" : "hash:ip"])
        }
        let kr = Shell.run(["ip", "netns", "exec", ref, "iptables-restore"], stdin: filterText)
        guard kr.status == 0 else { throw Failure(description: "verify: the kernel's iptables-restore refused the filter table: \(kr.stderr)") }
        let macText = Shell.run(["ip", "netns", "exec", ref, "cat", "/sys/class/net/\(interface)/address"]).stdout
        let mac = macText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { UInt8($0, radix: 16) }

        var tables = compiled.tables
        if sabotage, let k = tables.sourceProtoPort.keys.sorted(by: { $0.source < $1.source }).first {
            tables.sourceProtoPort[k] = nil
        } else if sabotage, let k = tables.protoPort.keys.first {
            tables.protoPort[k] = nil
        }
        // Counters tell which position decided a probe; xdpOnly makes the program count the
        // packets ACCEPT positions pass too (it counts only its drops otherwise).
        tables.xdpOnly = true
        let dp = try Dataplane.load()
        try dp.write(tables, generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)

        // Probes aimed at every table entry and its bounds first, then random ones up to `wanted`.
        let generator = ProbeGenerator(destination: 0xC612_0002, seed: 7)
        let aimed = generator.probes(for: compiled.tables, limit: wanted * 3 / 4, random: 0)
        let probes = Array(generator.probes(for: compiled.tables, limit: aimed.count, random: wanted - aimed.count + 16).prefix(wanted))
        let sender = try FrameSender(namespace: gen, interface: "vg0")
        var kernelBefore = KernelCounters.read(namespace: ref)
        let positions = compiled.tables.verdicts.count
        var ourBefore = try dp.counters(generation: 0).prefix(positions + 1).map(\.packets)
        var agreements = 0, excluded = 0
        var disagreements: [MigrationReport.Disagreement] = []
        // Rules the report does not count as exact (unsupported, or reached through one):
        // when one of them decides on either side, the probe is about that rule, not about
        // what runs in XDP. Everything else must agree.
        // KERNEL positions before INPUT (raw/mangle/nat rules) decide "pass" on the XDP side.
        let inexact = Set(compiled.report.rules.filter { $0.ref.table == "filter" && !CompileReport.isExact($0.status) }
            .map { "\($0.ref.chain) \($0.ref.index)" }
            + compiled.origins.filter { $0.rule.table != "filter" }.map { "\($0.rule.chain) \($0.rule.index)" })
        // An uncompiled rule that ends the packet's walk in iptables (REJECT, a target XDP
        // lacks) but that KernelCounters cannot name as a verdict: its counter moving means
        // iptables decided with it.
        let inexactTerminal = compiled.report.rules.filter { r in
            guard r.ref.table == "filter", !CompileReport.isExact(r.status),
                  let rule = filter.chain(r.ref.chain)?.rules[r.ref.index - 1] else { return false }
            switch rule.target {
            case .accept?, .drop?, .reject?, .queue?: return true
            case .opaque(let e)?: return !Self.nonTerminating.contains(e.name)
            default: return false
            }
        }.map { ($0.ref.chain, $0.ref.index - 1) }
        for (i, var p) in probes.enumerated() {
            if (p.proto == 6 || p.proto == 17) && p.sourcePort == 40000 { p.sourcePort = UInt16(20000 + i % 40000) }
            Shell.run(["ip", "netns", "exec", ref, "conntrack", "-F"])
            let frame = p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: mac, ipID: UInt16(truncatingIfNeeded: i))
            try sender.send(frame)
            _ = try dp.testRun(packet: frame)
            let ours = try dp.counters(generation: 0).prefix(positions + 1).map(\.packets)
            var kernel = kernelBefore
            let deadline = Date().addingTimeInterval(1.0)
            repeat {
                kernel = KernelCounters.read(namespace: ref)
                if kernel != kernelBefore { break }
                usleep(2000)
            } while Date() < deadline
            let k = Decision.kernel(before: kernelBefore, after: kernel, filter: filter)
            let o = Decision.xdp(before: ourBefore, after: ours, compiled: compiled)
            defer {
                kernelBefore = kernel
                ourBefore = ours
            }
            let inexactMoved = inexactTerminal.contains { c, i in
                (kernel.rules[c]?[safe: i] ?? 0) > (kernelBefore.rules[c]?[safe: i] ?? 0)
            }
            if k == o {
                agreements += 1
            } else if inexactMoved || k.map({ inexact.contains($0.rule) }) == true || o.map({ inexact.contains($0.rule) }) == true {
                excluded += 1
            } else {
                disagreements.append(MigrationReport.Disagreement(packet: p.description, iptables: k.map { "\($0)" } ?? "nothing",
                                                                   xdp: o.map { "\($0)" } ?? "nothing"))
            }
        }
        return MigrationReport.Verification(probes: probes.count, agreements: agreements, disagreements: disagreements,
                                            excluded: excluded)
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
