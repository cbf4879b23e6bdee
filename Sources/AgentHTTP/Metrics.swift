import Agent
import Foundation
import Loader
import Prometheus
import Runtime

/// `GET /metrics` (Prometheus text). Two parts: what the agent counts as requests complete
/// (edits and restores, with their latency; fed by `FirewallService.observe`), kept in one
/// registry for the process's life; and what the firewall holds now (per-rule counters by
/// layer, XDP's totals, set sizes, the program's run time), read at each scrape into a
/// fresh registry, because rules and sets come and go and their series with them.
public final class Metrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                             .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100),
                                             .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]

    public init(service: FirewallService) {
        let registry = self.registry
        // Present from the start, so a scrape before the first edit shows the families.
        for kind in ["iptables", "ipset", "restore"] {
            _ = registry.makeCounter(descriptor: Self.editsName, labels: [("kind", kind), ("outcome", "ok")])
        }
        service.observe { done in
            guard let kind = Self.editKind(done.request) else { return }
            let outcome = done.error != nil ? "error" : (done.result?.ok ?? false) ? "ok" : "refused"
            registry.makeCounter(descriptor: Self.editsName, labels: [("kind", kind), ("outcome", outcome)]).increment()
            registry.makeDurationHistogram(descriptor: Self.latencyName, labels: [("kind", kind)], buckets: Self.latencyBuckets)
                .record(done.duration)
        }
    }

    static var editsName: MetricNameDescriptor { MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "edits", unitName: "total",
                                                helpText: "Changes through the agent (API or forwarded CLI), by kind (iptables, ipset, restore, attach, detach) and outcome (ok, refused by the tool, error of ours).") }
    static var latencyName: MetricNameDescriptor { MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "edit_duration", unitName: "seconds",
                                                  helpText: "How long a change took in the agent, both layers, lock included, by kind.") }

    /// The kind of change `request` is, or nil for a question (list, save, status).
    static func editKind(_ request: FirewallRequest) -> String? {
        switch request {
        case .iptables(let argv, _):
            let changing: Set<String> = ["-A", "--append", "-I", "--insert", "-D", "--delete", "-R", "--replace", "-P", "--policy",
                                         "-N", "--new-chain", "-X", "--delete-chain", "-F", "--flush", "-E", "--rename-chain", "-Z", "--zero"]
            return argv.contains(where: changing.contains) ? "iptables" : nil
        case .ipset(let argv, _):
            let changing: Set<String> = ["create", "n", "add", "del", "destroy", "x", "flush", "rename", "e", "swap", "w", "restore", "-"]
            return argv.first(where: { !$0.hasPrefix("-") || $0 == "-" }).map { changing.contains($0) ? "ipset" : nil } ?? nil
        case .restore(let r): return r.test ? nil : "restore"
        case .attach: return "attach"
        case .detach: return "detach"
        case .recent(_, let edit): return edit == nil ? nil : "recent"
        default: return nil
        }
    }

    /// The whole exposition: the lasting registry, then a snapshot of the firewall.
    func scrape(_ service: FirewallService) async throws -> String {
        var out = registry.emitToString()
        let now = PrometheusCollectorRegistry()
        let rules = try await service.read { try $0.layeredRules(family: .ipv4, table: nil) }
        Self.rules(rules, into: now)
        let sets = try await service.perform(.ipset(argv: ["list", "-terse"], stdin: nil))
        if sets.ok { Self.sets(sets.stdout, into: now) }
        Self.program(rules.xdp, into: now)
        out += now.emitToString()
        out += ServiceGauges.shared.exposition()
        return out
    }

    static func rules(_ rules: LayeredRules, into r: PrometheusCollectorRegistry) {
        let packets = MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "rule_packets", unitName: "total",
                                           helpText: "Packets a rule matched, by layer: xdp (dropped early by XDP for this rule) or kernel (iptables' own counter).")
        let bytes = MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "rule_bytes", unitName: "total",
                                         helpText: "Bytes a rule matched, by layer (as rule_packets_total).")
        let policyPackets = MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "policy_packets", unitName: "total",
                                                 helpText: "Packets a built-in chain's policy decided, by layer.")
        for t in rules.tables {
            for c in t.chains {
                for rule in c.rules {
                    for (layer, count) in [("kernel", rule.kernel), ("xdp", rule.xdp)] {
                        let labels = [("table", t.name), ("chain", c.name), ("number", String(rule.number)), ("rule", rule.rule), ("layer", layer)]
                        r.makeCounter(descriptor: packets, labels: labels).increment(by: Int64(clamping: count.packets))
                        r.makeCounter(descriptor: bytes, labels: labels).increment(by: Int64(clamping: count.bytes))
                    }
                }
                if let p = c.policyCounters {
                    for (layer, count) in [("kernel", p.kernel), ("xdp", p.xdp)] {
                        r.makeCounter(descriptor: policyPackets, labels: [("table", t.name), ("chain", c.name), ("policy", c.policy ?? ""), ("layer", layer)])
                            .increment(by: Int64(clamping: count.packets))
                    }
                }
            }
        }
        let attached = r.makeGauge(descriptor: MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "xdp_attached", unitName: "",
                                                                     helpText: "1 when the XDP program is attached, 0 when the kernel's iptables decides alone."))
        attached.set(Int64(rules.xdp == nil ? 0 : 1))
        let drops = r.makeCounter(descriptor: MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "xdp_dropped_packets", unitName: "total",
                                                                   helpText: "Packets the XDP program dropped (all rules and policy)."))
        let packetsBy = MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "xdp_packets", unitName: "total",
                                             helpText: "Packets the XDP program saw, by what it did: dropped, passed_to_kernel (judged, passed), untouched (not judged), overruled (a drop turned into a pass by the route or NAT check), guarded (passed during a change).")
        if let x = rules.xdp {
            drops.increment(by: Int64(clamping: x.dropped))
            for (what, n) in [("dropped", x.dropped), ("passed_to_kernel", x.passedToKernel), ("untouched", x.untouched),
                              ("overruled", x.overruled), ("guarded", x.guarded)] {
                r.makeCounter(descriptor: packetsBy, labels: [("action", what)]).increment(by: Int64(clamping: n))
            }
        }
    }

    /// `ipset list -terse`: each set's name and number of entries.
    static func sets(_ text: String, into r: PrometheusCollectorRegistry) {
        let members = MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "set_members", unitName: "",
                                           helpText: "Members of each ipset set in the kernel.")
        var name: String? = nil
        for line in text.split(separator: "\n") {
            if line.hasPrefix("Name: ") { name = String(line.dropFirst(6)) }
            if line.hasPrefix("Number of entries: "), let n = name, let count = Int(line.dropFirst(19)) {
                r.makeGauge(descriptor: members, labels: [("set", n)]).set(Double(count))
                name = nil
            }
        }
    }

    /// The program's run time, as the kernel counts it while `kernel.bpf_stats_enabled` is 1
    /// (off by default: it costs two clock reads per run of every program).
    static func program(_ xdp: LayeredRules.XDPCounts?, into r: PrometheusCollectorRegistry) {
        let enabled = (try? String(contentsOfFile: "/proc/sys/kernel/bpf_stats_enabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        r.makeGauge(descriptor: MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "bpf_stats_enabled", unitName: "",
                                                     helpText: "1 when kernel.bpf_stats_enabled is on: the program's run time is counted."))
            .set(Int64(enabled ? 1 : 0))
        guard let xdp, let profile = try? XDPProgramHandle.attached(to: xdp.interface).profile() else { return }
        r.makeCounter(descriptor: MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "xdp_program_run_time", unitName: "seconds_total",
                                                       helpText: "Time the XDP program ran (bpf prog run_time_ns), while kernel.bpf_stats_enabled is 1."))
            .increment(by: Double(profile.runTimeNanoseconds) / 1e9)
        r.makeCounter(descriptor: MetricNameDescriptor(namespace: "ebpf_iptables", metricName: "xdp_program_runs", unitName: "total",
                                                       helpText: "Runs of the XDP program counted (bpf prog run_cnt), while kernel.bpf_stats_enabled is 1."))
            .increment(by: Int64(clamping: profile.runs))
    }
}
