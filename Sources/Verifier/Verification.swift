import Compiler
import Foundation
import IptParse
import Loader

/// `migrate --verify`: the two layers together decide generated probes as the kernel alone
/// does. Each probe is sent over a veth to the kernel's iptables holding the whole ruleset
/// (`ReferenceKernel`: whether it was accepted, and the deciding rule), and run through the
/// compiled XDP program with BPF_PROG_TEST_RUN (dropped or passed, and the position whose
/// counter moved). Nothing is excluded: every probe is scored (`Scoring`).
///
/// Why BPF_PROG_TEST_RUN and not a program attached in front of the reference kernel: XDP
/// never changes a packet it passes, so the two-layer verdict is exactly "XDP's DROP, else
/// the kernel's", and both answers are read independently for every probe. Attached, a probe
/// XDP drops never reaches the kernel, so a second reference namespace would be needed to
/// know whether the kernel would have dropped it too: twice the cost for no more knowledge
/// of the ruleset. The test run skips the route check (`EIPT_LIVE_ALL_DESTINATIONS`), which
/// changes nothing here since every probe is addressed to the reference host itself (the
/// check allows drops of local destinations); what it leaves unexercised is the check itself
/// (forwarded packets, destinations the routing drops), a property of the program rather than
/// of the ruleset, covered by LoaderTests with real traffic. The NAT check runs as attached:
/// each probe is a fresh flow, which conntrack knows in neither namespace.
public enum Verification {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// For tests: `EBPF_IPTABLES_VERIFY_SABOTAGE=1` removes one keyed entry from the XDP side,
    /// so a test can prove that the verification notices.
    static var sabotage: Bool { ProcessInfo.processInfo.environment["EBPF_IPTABLES_VERIFY_SABOTAGE"] == "1" }

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
        guard ruleset.family == .ipv4 else { throw Failure(description: "verify: XDP judges IPv4 only; an ip6tables ruleset has nothing to verify") }
        let kernel = try ReferenceKernel(tag: "\(getpid())", interface: interface, ruleset: ruleset, setsText: setsText)

        var tables = compiled.tables
        if sabotage, let k = tables.sourceProtoPort.keys.sorted(by: { $0.source < $1.source }).first {
            tables.sourceProtoPort[k] = nil
        } else if sabotage, let k = tables.protoPort.keys.first {
            tables.protoPort[k] = nil
        }
        // Written as they would be installed: without --xdp-only the program counts only its
        // drops, with it accepts too, and either way that names the deciding position.
        let dp = try Dataplane.load()
        try dp.write(tables, generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        // The program runs here (BPF_PROG_TEST_RUN), the probes' kernel in its own namespace,
        // whose local addresses are not this one's: write() took this namespace's table 255.
        // No copy: addrtype tests answer MAYBE, their positions go to the kernel (before, a
        // KERNEL limit on ufw's jump hid the difference; with it charged in XDP, ufw-not-local's
        // DROP is XDP's and its addrtype RETURNs must not read this host's addresses).
        try dp.setLocalRoutes([], generation: nil)

        // Probes aimed at every table entry and its bounds first (KERNEL positions' too: XDP
        // must pass those), then random ones up to `wanted`.
        let generator = ProbeGenerator(destination: 0xC612_0002, seed: 7)
        let aimed = generator.probes(for: compiled.tables, limit: wanted * 3 / 4, random: 0)
        let probes = Array(generator.probes(for: compiled.tables, limit: aimed.count, random: wanted - aimed.count + 16).prefix(wanted))
        let sender = try FrameSender(namespace: kernel.generator, interface: "vg0")
        let positions = compiled.tables.verdicts.count
        var ours = try dp.counters(generation: 0).prefix(positions + 1).map(\.packets)
        var scoring = Scoring()
        // The rules XDP decides by a draw of its own (statistic random).
        let drawn = compiled.tables.fallback.filter { $0.ext.contains(where: \.isPendingDraw) }.compactMap { f -> Decision.Decider? in
            guard Int(f.position) < compiled.origins.count, !compiled.origins[Int(f.position)].isPolicy else { return nil }
            let r = compiled.origins[Int(f.position)].rule
            return .rule(table: r.table, chain: r.chain, index: r.index)
        }
        var before = kernel.snapshot()
        for (i, var p) in probes.enumerated() {
            // A flow of its own per probe (and `snapshot` flushed the connections of the ones before).
            if (p.proto == 6 || p.proto == 17) && p.sourcePort == 40000 { p.sourcePort = UInt16(20000 + i % 40000) }
            let frame = p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: kernel.receiverMAC, ipID: UInt16(truncatingIfNeeded: i))
            try sender.send(frame)
            let run = try dp.testRun(packet: frame)
            let after = try dp.counters(generation: 0).prefix(positions + 1).map(\.packets)
            let xdp = XDPAnswer(dropped: run.action == XDPAction.drop,
                                decision: XDPAnswer.decision(before: ours, after: after, compiled: compiled))
            ours = after
            let (k, now) = try kernel.answer(after: before)
            before = now
            scoring.add(packet: p.description, xdp: xdp, kernel: k, xdpOnly: tables.xdpOnly, drawn: drawn)
        }
        return scoring.verification
    }
}
