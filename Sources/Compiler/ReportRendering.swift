import Foundation
import IptParse

/// The migration report in the forms an operator pastes into a change ticket: per rule where
/// it runs (XDP, or the kernel and why), per chain how many rules run where, the XDP share,
/// whether `--xdp-only` is possible, and problems first.
/// JSON is a stable schema (`ebpf-iptables/migrate/3`, docs/migrate-json.md), pinned by golden tests.
public struct MigrationReport: Equatable, Sendable {
    public var source: String
    /// The ruleset the report is about: the report reads rule targets from it (which rules drop).
    public var ruleset: Ruleset
    public var result: CompileResult
    /// Filled by `migrate --verify`.
    public var verification: Verification?

    /// `migrate --verify`: generated probes decided by the two layers together (the compiled XDP
    /// program, then the kernel's own iptables for what XDP passes) and by the kernel alone.
    public struct Verification: Equatable, Sendable {
        public var probes: Int
        /// Probes the two layers decide as the kernel alone does: same verdict, and where XDP
        /// decides, the same deciding rule.
        public var agreements: Int
        public var disagreements: [Disagreement]
        /// Probes the kernel's iptables does not accept (dropped in filter INPUT or before it).
        public var kernelDrops: Int
        /// Of those, the probes XDP drops itself, by the rule the kernel drops them with.
        public var xdpDrops: Int

        public init(probes: Int, agreements: Int, disagreements: [Disagreement], kernelDrops: Int, xdpDrops: Int) {
            self.probes = probes
            self.agreements = agreements
            self.disagreements = disagreements
            self.kernelDrops = kernelDrops
            self.xdpDrops = xdpDrops
        }

        /// The XDP share on packets: of the probes the kernel drops, the ones XDP drops itself.
        public var share: XDPShare { XDPShare(inXDP: xdpDrops, total: kernelDrops) }
    }

    /// A probe the two layers decide differently from the kernel alone.
    public struct Disagreement: Equatable, Sendable {
        public var packet: String
        /// What decided it in the kernel alone: `CHAIN N (verdict)`, `policy of INPUT (verdict)`, ...
        public var iptables: String
        /// What XDP did with it: the deciding rule and its verdict.
        public var xdp: String
        /// Why it is a disagreement, in a few words.
        public var why: String

        public init(packet: String, iptables: String, xdp: String, why: String) {
            self.packet = packet
            self.iptables = iptables
            self.xdp = xdp
            self.why = why
        }
    }

    public init(source: String, ruleset: Ruleset, result: CompileResult, verification: Verification? = nil) {
        self.source = source
        self.ruleset = ruleset
        self.result = result
        self.verification = verification
    }

    /// `--xdp-only` was asked.
    public var xdpOnly: Bool { result.tables.xdpOnly }

    /// Status names in the order reports list them.
    static let statusOrder = ["keyed", "inlined", "fallback", "conntrack", "reject-as-drop", "continue", "kernel",
                              "no-effect", "shadowed", "never-matches", "unreachable"]

    public var totals: [(String, Int)] {
        var counts: [String: Int] = [:]
        for r in result.report.rules { counts[r.status.name, default: 0] += 1 }
        return Self.statusOrder.compactMap { name in counts[name].map { (name, $0) } }
    }

    /// Exit status of `migrate`: 0 installable (and verified), 1 not installable with
    /// `--xdp-only`, or the verification found disagreements.
    public var exitStatus: Int32 {
        if !result.installable { return 1 }
        if let v = verification, !v.disagreements.isEmpty { return 1 }
        return 0
    }

    public struct Cost: Equatable, Sendable {
        public var protoPort: Int
        public var source: Int
        public var sourceProtoPort: Int
        public var fallback: Int
        public var estimatedBytes: Int
        public var lookups: Int
        public var iptablesWorst: Int
    }

    public var cost: Cost {
        let t = result.tables
        // Rough kernel footprints: hash element ~ key+value+48 B, LPM node ~ key+value+40 B.
        let bytes = t.protoPort.count * (4 + 4 + 48) + t.source.count * (8 + 4 + 40)
            + t.sourceProtoPort.count * (12 + 4 + 40) + Int(Compiler.maxFallback) * 52 + t.verdicts.count * (4 + 16 * 2)
        let iptablesWorst = result.report.rules.filter { $0.scope == .input }.count
        return Cost(protoPort: t.protoPort.count, source: t.source.count, sourceProtoPort: t.sourceProtoPort.count,
                    fallback: t.fallback.count, estimatedBytes: bytes, lookups: 5, iptablesWorst: iptablesWorst)
    }

    /// One line on whether the ruleset can run with `--xdp-only`, and the reasons it cannot.
    var xdpOnlyLine: String {
        if result.qualifiesForXdpOnly { return "--xdp-only: qualifies (XDP can decide filter INPUT alone)" }
        let b = result.xdpOnlyBlockers
        return "--xdp-only: does not qualify (\(b.count) reason\(b.count == 1 ? "" : "s"))"
    }

    /// What the report concludes, in one line.
    var resultLine: String {
        if !result.installable { return "result: NOT installable with --xdp-only" }
        if let v = verification, !v.disagreements.isEmpty { return "result: compiled, but the verification found disagreements" }
        return "result: installable" + (xdpOnly ? " with --xdp-only: XDP decides filter INPUT alone"
                                        : ": the kernel holds the whole ruleset, XDP drops early what INPUT certainly drops")
    }

    var layersLine: String {
        let report = result.report
        let total = report.rules.count
        return "\(total) rule\(total == 1 ? "" : "s"): \(report.count(.xdp)) in XDP, \(report.count(.kernel)) in the kernel, \(report.count(nil)) never decide"
    }

    var inputLayersLine: String {
        let report = result.report
        let n = report.beforeInputKernelRules
        return "filter INPUT and its chains: \(report.count(.xdp, scope: .input)) in XDP, \(report.count(.kernel, scope: .input)) in the kernel; before INPUT: \(n) rule\(n == 1 ? "" : "s") act on packets, which XDP then passes to the kernel"
    }

    var costLines: [String] {
        let c = cost
        return ["XDP cost: \(c.lookups) map lookups per packet + up to \(c.fallback) fallback rules; entries: protocol/port \(c.protoPort), source prefix \(c.source), source/protocol/port \(c.sourceProtoPort), fallback \(c.fallback) of \(Compiler.maxFallback); about \(c.estimatedBytes / 1024) KiB of maps",
                "iptables cost: a packet walks up to \(c.iptablesWorst) rules of filter INPUT and its chains before its verdict"]
    }

    var verificationLine: String? {
        verification.map { v in
            "verification: \(v.probes) probes decided by XDP and the kernel together and by the kernel alone: \(v.agreements) agree, \(v.disagreements.count) disagree"
        }
    }
}
