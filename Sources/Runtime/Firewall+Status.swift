import Compiler
import Foundation
import IptParse

extension Firewall {
    /// `ebpf-iptables status [-v]`: what is attached, where each filter INPUT rule runs, and
    /// what XDP decided itself; `-v` lists every rule with its layer and XDP's counters.
    public func status(verbose: Bool, libbpf: String) throws -> ToolResult {
        try locked("ebpf-iptables status") {
            guard let (a, xdp) = try attached() else {
                return ToolResult(status: 0, stdout: "not attached (libbpf \(libbpf); pin root \(store.paths.pinRoot)): the kernel's iptables decides every packet\n")
            }
            let s = try xdp.summary()
            let options = store.compileOptions
            var out = "attached to \(a.interface) (\(a.mode) XDP, program id \(s.programID), libbpf \(libbpf))\(options.xdpOnly ? ", XDP alone decides filter INPUT (--xdp-only)" : "")\n"
            let view = try readView()
            if store.read(store.paths.kernelRulesFile) != view.rulesText || !SetsMirror(store: store).matches(view.setsText) {
                out += "warning: the kernel's ruleset or sets changed outside ebpf-iptables; the next ebpf-iptables command recompiles XDP\n"
            }
            if s.pendingChange {
                out += "warning: a change was interrupted; XDP passes what it touches until the next ebpf-iptables command\n"
            }
            out += layerCounts(view, attachment: a, options: options) + "\n"
            let (shown, report) = runningReport(view, attachment: a, options: options)
            if let report { out += report.ruleShareLine + "\n" }
            out += "packets: \(s.dropped) dropped in XDP, \(s.passedToKernel) passed to the kernel after judging, \(s.untouched) passed untouched, \(s.overruled) drops overruled (forwarded or NATed), \(s.guarded) passed during changes\n"
            if let events = store.read(store.paths.eventsFile) {
                let lines = events.split(separator: "\n")
                out += "events: \(lines.count) (last: \(lines.last ?? ""))\n"
            }
            guard verbose, let report, let live = try xdp.liveGeneration() else { return ToolResult(status: 0, stdout: out) }
            let totals = RetiredCounters(store: store).totals(live: try xdp.counters(generation: live), replies: try xdp.replyCounters(generation: live))
            let ids = shown.map { RuleIdentity.all(in: $0) } ?? [:]
            // Where each rule runs in migrate's words: the layer, then how (xdp) or why (kernel).
            out += "  xdp pkts  xdp bytes  layer   rule\n"
            for r in report.result.report.rules where r.ref.table == "filter" {
                let id = ids["filter\t" + r.ref.chain].flatMap { r.ref.index <= $0.count ? $0[r.ref.index - 1] : nil }
                let c = id.flatMap { totals[$0] } ?? RetiredCounters.Count()
                let counts: String = String(format: "%10llu %10llu  ", c.packets, c.bytes)
                out += counts + r.status.layerName.padding(toLength: 7, withPad: " ", startingAt: 0) + " " + r.text
                    + "  (\(r.status.qualifier): \(r.status.detail))\n"
            }
            let pc = totals[.policy(chain: "INPUT")] ?? RetiredCounters.Count()
            let policyLayer = report.inputPolicyLayer?.rawValue ?? "none"
            out += String(format: "%10llu %10llu  ", pc.packets, pc.bytes) + policyLayer.padding(toLength: 7, withPad: " ", startingAt: 0) + " policy of INPUT\n"
            return ToolResult(status: 0, stdout: out)
        }
    }

    /// XDP's share of the dropping rules that run now (migrate's share line, as `status`
    /// prints it), for the fleet's heartbeat; nil when nothing is attached.
    public func xdpRuleShare() throws -> XDPShare? {
        try locked("ebpf-iptables status") { () throws -> XDPShare? in
            guard let (a, _) = try attached() else { return nil }
            return runningReport(try readView(), attachment: a, options: store.compileOptions).report?.ruleShare
        }
    }

    /// The ruleset XDP was compiled from (the kernel's, with our INPUT under --xdp-only) and
    /// migrate's report of the same compile.
    private func runningReport(_ view: KernelView, attachment a: Attachment, options: CompileOptions) -> (shown: Ruleset?, report: MigrationReport?) {
        let p = program(for: view, interface: a.interface, options: options)
        var shown = view.ruleset
        if options.xdpOnly, let k = shown, let input = XdpOnlyInput(store: store).chain() { shown = XdpOnlyInput.merged(k, input: input) }
        let report = p.result.flatMap { result in shown.map { MigrationReport(source: "", ruleset: $0, result: result) } }
        return (shown, report)
    }
}
