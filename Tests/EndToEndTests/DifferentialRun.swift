import Compiler
import Foundation
import IptParse
import Loader
import TestSupport

/// One ruleset through the kernel alone (`ref`) and through both layers (`two`: `ebpf-iptables
/// attach` + `ebpf-iptables-restore FILE`, no flags), the same probes into each.
/// Rulesets with time- or history-dependent matches get a second kernel-only namespace
/// (`ref2`): a probe the two kernels answer differently cannot be scored.
struct DifferentialRun {
    struct Result {
        var name: String
        var kernelAccepts = false
        var oursRestores = false
        var probes = 0
        var scored = 0
        var agreed = 0
        var unscorable = 0
        /// Scored probes the kernel alone did not deliver, and how many of those XDP dropped itself.
        var kernelDrops = 0
        var xdpDrops = 0
        /// Kernel drops by a REJECT rule: XDP leaves those to the kernel (it cannot send the reply).
        var rejects = 0
        var seconds = 0.0
        var fidelity: [String] = []
        var counters = CounterCheck.Summary()
        var disagreements: [String] = []
        /// Everything that went wrong besides disagreements (refusals, fidelity, counters, events).
        var problems: [String] = []

        var share: String { kernelDrops == 0 ? "-" : String(format: "%.0f%%", 100 * Double(xdpDrops) / Double(kernelDrops)) }
    }

    let subject: RulesetSubject
    let probesWanted: Int
    /// For the test that proves a wrong XDP is noticed: changes `two` before the probes.
    var sabotage: ((Receiver, CompileResult) throws -> Void)? = nil
    /// Probes a test aims at its ruleset's payload tests (SIP requests, TCP options), after the generated ones.
    var extraProbes: [Probe] = []

    /// The namespaces of one run, once the ruleset is in.
    struct Installed {
        let lab: FirewallLab
        let ref: Receiver
        let two: Receiver
        let ref2: Receiver?
        /// Destinations the rules test, made local in every receiver.
        let extra: [UInt32]
        var receivers: [Receiver] { [ref, two] + (ref2.map { [$0] } ?? []) }
    }

    func run() throws -> Result {
        let started = Date()
        var result = Result(name: subject.name)
        let lab = try FirewallLab(interface: subject.interface)
        defer { lab.close() }
        if let installed = try install(lab, &result) {
            try probe(installed, &result)
        }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// The ruleset into `ref` (and `ref2`) with the kernel's tools, and into `two` with ours
    /// after `attach`; then the fidelity of `two`. nil when the kernel refuses the ruleset or
    /// ours does not restore it (a problem then).
    func install(_ lab: FirewallLab, _ result: inout Result) throws -> Installed? {
        let extra = subject.destinations()
        let ref = try lab.addReceiver("ref", extraAddresses: extra)
        let two = try lab.addReceiver("two", extraAddresses: extra)
        let ref2 = subject.hasNondeterministicMatches ? try lab.addReceiver("ref2", extraAddresses: extra) : nil
        let installed = Installed(lab: lab, ref: ref, two: two, ref2: ref2, extra: extra)
        for r in installed.receivers { try r.instrument() }

        let sets = subject.setCommands
        for r in [ref] + (ref2.map { [$0] } ?? []) {
            if let s = sets.restore { try check(r.run(["ipset", "restore"], stdin: s), "\(r.role): ipset restore") }
            for c in sets.create { try check(r.run(["ipset"] + c), "\(r.role): ipset \(c.joined(separator: " "))") }
        }
        guard ref.run(["iptables-restore"], stdin: subject.text).status == 0 else { return nil }
        result.kernelAccepts = true
        if let ref2 { try check(ref2.run(["iptables-restore"], stdin: subject.text), "ref2: iptables-restore") }

        // Both layers: attach first, then the sets and the ruleset through our tools.
        try check(two.ours(["attach", lab.interface]), "two: ebpf-iptables attach \(lab.interface)")
        if let s = sets.restore { try check(two.ours(["restore"], tool: "ebpf-ipset", stdin: s), "two: ebpf-ipset restore") }
        for c in sets.create { try check(two.ours(c, tool: "ebpf-ipset"), "two: ebpf-ipset \(c.joined(separator: " "))") }
        let restore = two.ours([subject.url.path], tool: "ebpf-iptables-restore")
        guard restore.status == 0 else {
            result.problems.append("ebpf-iptables-restore (no flags) refused what iptables-restore takes: \(restore.stderr)")
            return nil
        }
        result.oursRestores = true
        if !two.events.isEmpty { result.problems.append("events after the restore: \(two.events)") }
        result.fidelity = Fidelity.compare(ref: ref, two: two)
        result.problems += result.fidelity
        return installed
    }

    /// Every probe into every receiver, each judged and compared; then the counters.
    func probe(_ n: Installed, _ result: inout Result) throws {
        let (ref, two, ref2) = (n.ref, n.two, n.ref2)
        // XDP as the firewall compiled it: from what the kernel of `two` holds.
        guard let held = try? RestoreParser.parse(two.run(["iptables-save"]).stdout, options: .init(file: "<iptables-save>")) else {
            result.problems.append("our parser cannot read the kernel's iptables-save (XDP then passes everything)")
            return
        }
        let setsHeld = (try? IpsetParser.parse(two.run(["ipset", "save"]).stdout, file: "<ipset save>")).flatMap { $0.sets.isEmpty ? nil : $0 }
        let compiled = Compiler.compile(held, sets: setsHeld, interface: n.lab.interface)
        let names = PositionNames(result: compiled)
        let xdp = try two.xdp()
        if try xdp.counters().count != compiled.tables.verdicts.count + 1 {
            result.problems.append("the live generation does not have the positions the kernel's ruleset compiles to")
        }
        try sabotage?(two, compiled)

        let probes = makeProbes(compiled.tables, extra: n.extra)
        result.probes = probes.count
        let path = InputPath(held)
        let judge = ProbeJudge(path: path)
        let receivers = n.receivers
        let sender = try ProbeSender(namespace: n.lab.gen.name, interfaces: receivers.map(\.genSide))
        let dataplanes: [DataplaneHandle?] = receivers.map { $0 === two ? xdp : nil }
        let positionNames: [PositionNames?] = receivers.map { $0 === two ? names : nil }
        let flush = receivers.map { "ip netns exec \($0.ns.name) conntrack -F" }.joined(separator: "; ")
        func merged() -> NetfilterSnapshot {
            NetfilterSnapshot(rules: NetfilterSnapshot.iptablesCounters(two.ours(["-c"], tool: "ebpf-iptables-save").stdout))
        }

        var counterCheck = CounterCheck(names: names)
        counterCheck.start(ref: ref.snapshot(), two: merged())
        var before = try receivers.map { r in
            ProbeJudge.Before(snapshot: r.snapshot(), stats: r === two ? try xdp.stats() : nil, counters: r === two ? try xdp.counters() : nil)
        }
        for (i, p) in probes.enumerated() {
            Run.run(["sh", "-c", flush + " 2>/dev/null"])
            let frame = p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: UInt16(truncatingIfNeeded: i + 1))
            try sender.send(frame)
            // The receivers' softirqs run right after the send; reading before they did costs a round.
            usleep(2000)
            let after = try judge.judge(receivers, before: before, xdp: dataplanes, names: positionNames)
            before = after.map { ProbeJudge.Before(snapshot: $0.snapshot, stats: $0.stats, counters: $0.counters) }
            guard let k = after[0].outcome, let o = after[1].outcome else { continue }
            // The kernel answered differently by itself: a second kernel alone disagrees, or
            // a time- or history-dependent rule matched on one side only (in both layers, XDP
            // dropping behind such a rule that matched in `ref` is a fault and is scored).
            let nd = path.nondeterministicMatched(after[0].moved)
            let kernelVaries = (ref2 != nil && after[2].outcome.map { !k.agrees(with: $0) || path.nondeterministicMatched(after[2].moved) != nd } == true)
                || (!o.byXDP && path.nondeterministicMatched(after[1].moved) != nd)
            // XDP's pending draws (statistic random, PendingDraws.swift) vary as the kernel's
            // own draw does: a probe XDP decided at a statistic rule, or where the kernel alone
            // matched one, met a draw on each side.
            let drawVaries = o.byXDP && (nd.contains(where: path.isStatistic)
                || after[1].xdpPosition.map { path.isStatistic(names.name($0)) } == true)
            if kernelVaries || drawVaries {
                result.unscorable += 1
                continue
            }
            result.scored += 1
            if !k.delivered { result.kernelDrops += 1 }
            if let r = k.rule, case .reject? = path.target(r) { result.rejects += 1 }
            if o.byXDP { result.xdpDrops += 1 }
            if k.agrees(with: o) {
                result.agreed += 1
            } else {
                result.disagreements.append("\(p): kernel alone: \(k); both layers: \(o)")
            }
            counterCheck.record(ref: after[0].moved, decidedBy: k.rule, xdpPosition: after[1].xdpPosition, continued: after[1].xdpContinued,
                                ipBytes: UInt64(frame.count - 14),
                                replyPlaces: after[1].replySent ? after[1].xdpPosition.map(names.replyPlaces) ?? [] : [])
        }
        if result.unscorable == 0 {
            result.counters = counterCheck.finish(ref: ref.snapshot(), two: merged(), path: path)
            result.problems += result.counters.problems.map { "counters: \($0)" }
        } else {
            result.counters.skipped = "\(result.unscorable) probes met the kernel's own variation: its counters need not agree"
        }
        if !two.events.isEmpty { result.problems.append("events after the probes: \(two.events)") }
    }

    /// The probe generator's probes from the compiled tables (each entry, fallback rule and
    /// their bounds, then random ones), plus probes at the destinations the rules test; each
    /// a fresh flow (its own source port; ICMP's id is the IP id).
    func makeProbes(_ tables: CompiledTables, extra: [UInt32]) -> [Probe] {
        var seed: UInt64 = 1469598103934665603
        for b in subject.name.utf8 { seed = (seed ^ UInt64(b)) &* 1099511628211 }
        // Aimed at every entry and its bounds first (up to three quarters), random ones up to the number wanted.
        let generator = ProbeGenerator(destination: FirewallLab.address, seed: seed)
        let aimed = generator.probes(for: tables, limit: probesWanted * 3 / 4, random: 0).count
        var probes = Array(generator.probes(for: tables, limit: aimed, random: probesWanted - aimed + 16).prefix(probesWanted))
        for (i, d) in extra.enumerated() {
            for proto: UInt8 in [6, 17, 1] {
                var p = Probe(source: 0xC633_6400 | UInt32(10 + i), destination: d, proto: proto)
                p.destinationPort = proto == 6 ? 22 : 53
                p.purpose = "to \(Probe.dotted(d)), a destination a rule tests"
                probes.append(p)
            }
        }
        for f in tables.fallback {
            guard let dst = f.destination, !dst.negated, let d = extra.first(where: { dst.value.contains(.init(address: $0, length: 32)) }) else { continue }
            var p = Probe(source: f.source.map { $0.negated ? 0xC633_6401 : $0.value.address } ?? 0xC633_6401, destination: d, proto: f.proto?.value ?? 17)
            if let r = f.destinationPorts { p.destinationPort = r.negated ? 1 : r.value.lowerBound }
            p.purpose = "fallback \(f.position) at its destination \(Probe.dotted(d))"
            probes.append(p)
        }
        probes += extraProbes
        for i in probes.indices where probes[i].proto == 6 || probes[i].proto == 17 || probes[i].proto == 132 {
            if probes[i].sourcePort == 40000 { probes[i].sourcePort = UInt16(20000 + i % 40000) }
        }
        return probes
    }

    func check(_ r: RunResult, _ what: String) throws {
        guard r.status == 0 else { throw LabError("\(subject.name): \(what) exited \(r.status): \(r.stderr)") }
    }
}
