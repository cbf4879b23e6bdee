import Foundation
import IptParse

/// The migration report in the forms an operator pastes into a change ticket.
/// JSON is a stable schema (`ebpf-iptables/migrate/1`), pinned by golden tests.
public struct MigrationReport: Equatable, Sendable {
    public var source: String
    public var result: CompileResult
    public var inputOnly: Bool
    /// Filled by `migrate --verify`.
    public var verification: Verification?

    public struct Verification: Equatable, Sendable {
        public var probes: Int
        public var agreements: Int
        public var disagreements: [Disagreement]
        /// Probes the kernel decided with a rule that is not compiled (unsupported): they say
        /// nothing about the compiled rules, so they are not compared.
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

    public init(source: String, result: CompileResult, inputOnly: Bool, verification: Verification? = nil) {
        self.source = source
        self.result = result
        self.inputOnly = inputOnly
        self.verification = verification
    }

    static let statusOrder = ["compiled", "fallback", "emulated", "changed-on-request", "no-effect", "shadowed",
                              "never-matches", "unreachable", "not-applicable", "depends-on-unsupported", "unsupported"]

    public var totals: [(String, Int)] {
        Self.statusOrder.map { ($0, result.report.count($0)) }.filter { $0.1 > 0 }
    }

    public var blocking: [RuleReport] { result.report.blocking(inputOnly: inputOnly) }

    /// Exit status of `migrate`: 0 all compiles (and verifies), 1 something unsupported or disagreeing.
    public var exitStatus: Int32 {
        if !result.installable && !blocking.isEmpty { return 1 }
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
        let iptablesWorst = result.report.rules.filter { $0.ref.table == "filter" && $0.status.name != "not-applicable" && $0.status.name != "unreachable" }.count
        return Cost(protoPort: t.protoPort.count, source: t.source.count, sourceProtoPort: t.sourceProtoPort.count,
                    fallback: t.fallback.count, estimatedBytes: bytes, lookups: 5, iptablesWorst: iptablesWorst)
    }

    // MARK: - text

    public func text() -> String {
        var s = "Migration report for \(source), interface \(result.report.interface)\n\n"
        s += summaryLines().map { "  " + $0 }.joined(separator: "\n") + "\n\nRules\n"
        for r in result.report.rules {
            let line = r.ref.line.map { "line \($0)" } ?? "-"
            s += "  \(line.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.ref.table)/\(r.ref.chain) #\(r.ref.index)  \(r.status.name): \(r.status.detail)\n"
            s += "            \(r.text)\n"
        }
        for n in result.report.notes { s += "note: \(n)\n" }
        return s
    }

    func summaryLines() -> [String] {
        var out: [String] = []
        let total = result.report.rules.count
        out.append("\(total) rule\(total == 1 ? "" : "s"): " + totals.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
        if exitStatus == 0 {
            out.append("result: installable" + (inputOnly ? " (INPUT only, as asked with --input-only)" : ""))
        } else if !blocking.isEmpty {
            out.append("result: NOT installable: \(blocking.count) rule\(blocking.count == 1 ? "" : "s") block the migration")
        } else if !result.installable {
            out.append("result: NOT installable")
        } else {
            out.append("result: compiled, but the verification found disagreements")
        }
        let c = cost
        out.append("XDP cost: \(c.lookups) map lookups per packet + up to \(c.fallback) fallback rules; entries: protocol/port \(c.protoPort), source prefix \(c.source), source/protocol/port \(c.sourceProtoPort), fallback \(c.fallback) of \(Compiler.maxFallback); about \(c.estimatedBytes / 1024) KiB of maps")
        out.append("iptables cost: a packet walks up to \(c.iptablesWorst) rules of the filter table before its verdict")
        if let v = verification {
            out.append("verification: \(v.probes) packets, \(v.agreements) agree, \(v.disagreements.count) disagree"
                       + (v.excluded > 0 ? ", \(v.excluded) decided by rules that are not compiled (not compared)" : ""))
            for d in v.disagreements.prefix(20) {
                out.append("  disagreement: \(d.packet): iptables \(d.iptables), XDP \(d.xdp)")
            }
        }
        return out
    }

    // MARK: - JSON

    public func json() -> String {
        var root: [String: Any] = [
            "schema": "ebpf-iptables/migrate/1",
            "source": source,
            "interface": result.report.interface,
            "installable": exitStatus == 0,
            "input_only": inputOnly,
            "totals": Dictionary(uniqueKeysWithValues: totals.map { ($0.0, $0.1) }),
            "rules": result.report.rules.map { r -> [String: Any] in
                var d: [String: Any] = ["table": r.ref.table, "chain": r.ref.chain, "index": r.ref.index, "rule": r.text,
                                        "status": r.status.name, "detail": r.status.detail]
                if let l = r.ref.line { d["line"] = l }
                return d
            },
            "cost": [
                "lookups_per_packet": cost.lookups, "fallback_rules": cost.fallback,
                "entries": ["protocol_port": cost.protoPort, "source_prefix": cost.source,
                            "source_protocol_port": cost.sourceProtoPort, "fallback": cost.fallback],
                "estimated_bytes": cost.estimatedBytes, "iptables_worst_rules": cost.iptablesWorst,
            ] as [String: Any],
            "notes": result.report.notes,
        ]
        if let v = verification {
            root["verification"] = ["probes": v.probes, "agreements": v.agreements, "excluded": v.excluded,
                                    "disagreements": v.disagreements.map { ["packet": $0.packet, "iptables": $0.iptables, "xdp": $0.xdp] }]
        }
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: - markdown and html

    public func markdown() -> String {
        var s = "# Migration report: \(source)\n\n"
        s += summaryLines().map { "- " + $0 }.joined(separator: "\n") + "\n\n"
        s += "| line | chain | # | status | detail | rule |\n|---|---|---|---|---|---|\n"
        for r in result.report.rules {
            s += "| \(r.ref.line.map(String.init) ?? "") | \(r.ref.table)/\(r.ref.chain) | \(r.ref.index) | \(r.status.name) | \(md(r.status.detail)) | `\(md(r.text))` |\n"
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
        code{font-size:90%}.unsupported,.depends-on-unsupported{background:#fdd}.not-applicable,.unreachable{background:#eee}.shadowed,.never-matches{background:#ffd}</style>
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
