import Foundation
import IptParse

extension MigrationReport {
    public static let jsonSchema = "ebpf-iptables/migrate/3"

    /// The report as JSON (docs/migrate-json.md): sorted keys, stable across runs.
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
        func share(_ s: XDPShare) -> [String: Any] { ["in_xdp": s.inXDP, "total": s.total] }
        var root: [String: Any] = [
            "schema": Self.jsonSchema,
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
            "problems": problems.map { p -> [String: Any] in
                var d: [String: Any] = ["severity": p.severity.rawValue, "kind": p.kind.rawValue, "detail": p.detail]
                if let r = p.rule { d["rule"] = ref(r) }
                return d
            },
            "share": share(ruleShare).merging(["drop_policy": dropPolicyLayer?.rawValue ?? "none"]) { a, _ in a },
            "layers": layers(nil),
            "input_layers": layers(.input),
            "before_input_kernel_rules": report.beforeInputKernelRules,
            "chains": chains.map { c -> [String: Any] in
                ["table": c.table, "chain": c.chain, "scope": c.scope.rawValue,
                 "xdp": c.count(.xdp), "kernel": c.count(.kernel), "none": c.count(nil)]
            },
            "totals": Dictionary(uniqueKeysWithValues: totals.map { ($0.0, $0.1) }),
            "rules": report.rules.map { r -> [String: Any] in
                var d = ref(r.ref)
                d["rule"] = r.text
                d["scope"] = r.scope.rawValue
                d["layer"] = r.status.layerName
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
            root["verification"] = [
                "probes": v.probes, "agreements": v.agreements, "kernel_drops": v.kernelDrops, "xdp_drops": v.xdpDrops,
                "disagreements": v.disagreements.map { ["packet": $0.packet, "iptables": $0.iptables, "xdp": $0.xdp, "why": $0.why] },
            ] as [String: Any]
        }
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
