import Foundation
import IptParse

/// The migration report in the forms an operator pastes into a change ticket.
/// JSON is a stable schema (`ebpf-iptables/migrate/2`, docs/migrate-json.md), pinned by golden tests.
public struct MigrationReport: Equatable, Sendable {
    public var source: String
    public var result: CompileResult
    /// Filled by `migrate --verify`.
    public var verification: Verification?

    public struct Verification: Equatable, Sendable {
        public var probes: Int
        public var agreements: Int
        public var disagreements: [Disagreement]
        /// Probes decided (on either side) by a rule that runs in the kernel: they say nothing
        /// about what XDP decides, so they are not compared.
        public var excluded: Int
        public init(probes: Int, agreements: Int, disagreements: [Disagreement], excluded: Int = 0) {
            self.probes = probes
            self.agreements = agreements
            self.disagreements = disagreements
            self.excluded = excluded
        }
    }

    public struct Disagreement: Equatable, Sendable {
        public var packet: String
        public var iptables: String
        public var xdp: String
        public init(packet: String, iptables: String, xdp: String) {
            self.packet = packet
            self.iptables = iptables
            self.xdp = xdp
        }
    }

    public init(source: String, result: CompileResult, verification: Verification? = nil) {
        self.source = source
        self.result = result
        self.verification = verification
    }

    /// `--xdp-only` was asked.
    public var xdpOnly: Bool { result.tables.xdpOnly }

    /// Status names in the order reports list them.
    static let statusOrder = ["keyed", "inlined", "fallback", "conntrack", "reject-as-drop", "kernel",
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

    // MARK: - text

    public func text() -> String {
        var s = "Migration report for \(source), interface \(result.report.interface)\n\n"
        s += summaryLines().map { "  " + $0 }.joined(separator: "\n") + "\n\nRules\n"
        for r in result.report.rules {
            let line = r.ref.line.map { "line \($0)" } ?? "-"
            let kind: String
            switch r.status {
            case .kernel(let why): kind = "kernel (\(why.id))"
            case .xdp(let p): kind = "xdp \(p.name)"
            default: kind = r.status.name
            }
            s += "  \(line.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.ref.table)/\(r.ref.chain) #\(r.ref.index)  \(kind): \(r.status.detail)\n"
            s += "            \(r.text)\n"
        }
        for n in result.report.notes { s += "note: \(n)\n" }
        return s
    }

    static let blockersShown = 20

    func summaryLines() -> [String] {
        var out: [String] = []
        let report = result.report
        let total = report.rules.count
        out.append("\(total) rule\(total == 1 ? "" : "s"): \(report.count(.xdp)) in XDP, \(report.count(.kernel)) in the kernel, \(report.count(nil)) never decide")
        out.append("filter INPUT and its chains: \(report.count(.xdp, scope: .input)) in XDP, \(report.count(.kernel, scope: .input)) in the kernel; before INPUT: \(report.beforeInputKernelRules) rule\(report.beforeInputKernelRules == 1 ? "" : "s") act on packets, which XDP then passes to the kernel")
        out.append("statuses: " + totals.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
        if result.qualifiesForXdpOnly {
            out.append("--xdp-only: qualifies (XDP can decide filter INPUT alone)")
        } else {
            let b = result.xdpOnlyBlockers
            out.append("--xdp-only: does not qualify (\(b.count) reason\(b.count == 1 ? "" : "s"))")
            for x in b.prefix(Self.blockersShown) { out.append("  - \(x.detail)") }
            if b.count > Self.blockersShown { out.append("  - and \(b.count - Self.blockersShown) more") }
        }
        if !result.installable {
            out.append("result: NOT installable with --xdp-only")
        } else if let v = verification, !v.disagreements.isEmpty {
            out.append("result: compiled, but the verification found disagreements")
        } else {
            out.append("result: installable" + (xdpOnly ? " with --xdp-only: XDP decides filter INPUT alone" : ": the kernel holds the whole ruleset, XDP drops early what INPUT certainly drops"))
        }
        let c = cost
        out.append("XDP cost: \(c.lookups) map lookups per packet + up to \(c.fallback) fallback rules; entries: protocol/port \(c.protoPort), source prefix \(c.source), source/protocol/port \(c.sourceProtoPort), fallback \(c.fallback) of \(Compiler.maxFallback); about \(c.estimatedBytes / 1024) KiB of maps")
        out.append("iptables cost: a packet walks up to \(c.iptablesWorst) rules of filter INPUT and its chains before its verdict")
        if let v = verification {
            out.append("verification: \(v.probes) packets, \(v.agreements) agree, \(v.disagreements.count) disagree"
                       + (v.excluded > 0 ? ", \(v.excluded) decided by rules that run in the kernel (not compared)" : ""))
            for d in v.disagreements.prefix(20) {
                out.append("  disagreement: \(d.packet): iptables \(d.iptables), XDP \(d.xdp)")
            }
        }
        return out
    }

    // MARK: - JSON

    public func json() -> String {
        func ref(_ r: RuleRef) -> [String: Any] {
            var d: [String: Any] = ["table": r.table, "chain": r.chain, "index": r.index]
            if let l = r.line { d["line"] = l }
            return d
        }
        let report = result.report
        func layers(_ scope: RuleReport.Scope?) -> [String: Int] {
            ["xdp": report.count(.xdp, scope: scope), "kernel": report.count(.kernel, scope: scope), "none": report.count(nil, scope: scope)]
        }
        var root: [String: Any] = [
            "schema": "ebpf-iptables/migrate/2",
            "source": source,
            "interface": report.interface,
            "installable": exitStatus == 0,
            "xdp_only": xdpOnly,
            "qualifies_for_xdp_only": result.qualifiesForXdpOnly,
            "xdp_only_blockers": result.xdpOnlyBlockers.map { b -> [String: Any] in
                switch b {
                case .kernelRule(let r, let why):
                    return ref(r).merging(["kind": "kernel-rule", "reason": why.id, "detail": b.detail]) { a, _ in a }
                case .natTable(let n):
                    return ["kind": "nat-table", "rules": n, "detail": b.detail]
                }
            },
            "layers": layers(nil),
            "input_layers": layers(.input),
            "before_input_kernel_rules": report.beforeInputKernelRules,
            "totals": Dictionary(uniqueKeysWithValues: totals.map { ($0.0, $0.1) }),
            "rules": report.rules.map { r -> [String: Any] in
                var d = ref(r.ref)
                d["rule"] = r.text
                d["scope"] = r.scope.rawValue
                d["layer"] = r.status.layer?.rawValue ?? "none"
                d["status"] = r.status.name
                d["detail"] = r.status.detail
                if case .kernel(let why) = r.status { d["reason"] = why.id }
                return d
            },
            "cost": [
                "lookups_per_packet": cost.lookups, "fallback_rules": cost.fallback,
                "entries": ["protocol_port": cost.protoPort, "source_prefix": cost.source,
                            "source_protocol_port": cost.sourceProtoPort, "fallback": cost.fallback],
                "estimated_bytes": cost.estimatedBytes, "iptables_worst_rules": cost.iptablesWorst,
            ] as [String: Any],
            "notes": report.notes,
        ]
        if let v = verification {
            root["verification"] = ["probes": v.probes, "agreements": v.agreements, "excluded": v.excluded,
                                    "disagreements": v.disagreements.map { ["packet": $0.packet, "iptables": $0.iptables, "xdp": $0.xdp] }]
        }
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: - markdown and html

    public func markdown() -> String {
        var s = "# Migration report: \(source)\n\n"
        s += summaryLines().map { $0.hasPrefix("  ") ? $0 : "- " + $0 }.joined(separator: "\n") + "\n\n"
        s += "| line | chain | # | layer | status | detail | rule |\n|---|---|---|---|---|---|---|\n"
        for r in result.report.rules {
            s += "| \(r.ref.line.map(String.init) ?? "") | \(r.ref.table)/\(r.ref.chain) | \(r.ref.index) | \(r.status.layer?.rawValue ?? "") | \(r.status.name) | \(md(r.status.detail)) | `\(md(r.text))` |\n"
        }
        return s
    }

    func md(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    public func html() -> String {
        func e(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var s = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Migration report: \(e(source))</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
        code{font-size:90%}.kernel{background:#fdd}.unreachable{background:#eee}.shadowed,.never-matches{background:#ffd}</style>
        </head><body><h1>Migration report: \(e(source))</h1><ul>
        """
        for l in summaryLines() { s += "<li>\(e(l))</li>" }
        s += "</ul><table><tr><th>line</th><th>chain</th><th>#</th><th>status</th><th>detail</th><th>rule</th></tr>\n"
        for r in result.report.rules {
            s += "<tr class=\"\(r.status.name)\"><td>\(r.ref.line.map(String.init) ?? "")</td><td>\(e(r.ref.table))/\(e(r.ref.chain))</td><td>\(r.ref.index)</td><td>\(r.status.name)</td><td>\(e(r.status.detail))</td><td><code>\(e(r.text))</code></td></tr>\n"
        }
        return s + "</table></body></html>\n"
    }
}
