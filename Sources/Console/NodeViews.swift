import Foundation

/// A `fleet_nodes` row as the nodes page shows it.
struct NodeView {
    let node: ConsoleStore.Node

    /// A node heartbeats every few seconds (fleet-schema.md): silent for 15 s is late, for
    /// 60 s down.
    var health: String {
        guard let age = node.lastSeenAge else { return "never" }
        if age < 15 { return "up" }
        if age < 60 { return "late" }
        return "down"
    }

    var values: [String: Any] {
        [
            "name": node.name, "link": Pages.link(node.name), "group": node.group ?? "(all sets)",
            "health": health,
            "seen": node.lastSeenAge.map { Self.age($0) } ?? "never",
            "lag": node.appliedSeq.map { String(max(0, node.maxSeq - $0)) } ?? "unknown",
            // xdp_share is the fraction (0...1) of the node's dropping rules XDP decides.
            "share": node.xdpShare.map { String(format: "%.0f%%", Double($0) * 100) } ?? "unknown",
            "status": node.status ?? "",
        ]
    }

    static func age(_ seconds: Double) -> String {
        if seconds < 0 { return "just now" }
        if seconds < 120 { return String(format: "%.0f s ago", seconds) }
        if seconds < 7200 { return String(format: "%.0f min ago", seconds / 60) }
        return String(format: "%.1f h ago", seconds / 3600)
    }
}

/// A JSON number as JSONSerialization hands it over (Int, Double or NSNumber), or nil.
func jsonInt(_ v: Any?) -> Int64? {
    switch v {
    case let i as Int: return Int64(i)
    case let i as Int64: return i
    case let d as Double: return Int64(d)
    case let n as NSNumber: return n.int64Value
    default: return nil
    }
}

/// `GET /v1/rules` (docs/openapi.yaml, RuleList) as the node page's tables.
enum RulesView {
    static func values(_ json: [String: Any]) -> [String: Any] {
        func count(_ o: Any?, _ k: String) -> String { "\(jsonInt((o as? [String: Any])?[k]) ?? 0)" }
        let tables = (json["tables"] as? [[String: Any]] ?? []).map { t -> [String: Any] in
            let chains = (t["chains"] as? [[String: Any]] ?? []).map { c -> [String: Any] in
                var v: [String: Any] = ["name": c["name"] as? String ?? ""]
                if let p = c["policy"] as? String {
                    v["policy"] = p
                    let pc = c["policyCounters"] as? [String: Any]
                    v["policyKernel"] = count(pc?["kernel"], "packets")
                    v["policyXDP"] = count(pc?["xdp"], "packets")
                }
                let table = t["name"] as? String ?? "", chain = c["name"] as? String ?? ""
                v["rules"] = (c["rules"] as? [[String: Any]] ?? []).map { r -> [String: Any] in
                    ["number": jsonInt(r["number"]) ?? 0, "rule": r["rule"] as? String ?? "", "table": table, "chain": chain,
                     "kp": count(r["kernel"], "packets"), "kb": count(r["kernel"], "bytes"),
                     "xp": count(r["xdp"], "packets"), "xb": count(r["xdp"], "bytes")]
                }
                return v
            }
            return ["name": t["name"] as? String ?? "", "chains": chains]
        }
        var out: [String: Any] = ["tables": tables]
        if let x = json["xdp"] as? [String: Any] {
            var xv: [String: Any] = [:]
            for (k, v) in x { xv[k] = jsonInt(v).map { String($0) } ?? (v as? String) ?? "" }
            out["xdp"] = xv
        }
        return out
    }
}

/// `GET /v1/migration` (docs/migrate-json.md) as the node page's report.
enum MigrationView {
    static func values(_ json: [String: Any]) -> [String: Any] {
        let share = json["share"] as? [String: Any] ?? [:]
        let totals = (json["totals"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
        let problems = (json["problems"] as? [[String: Any]] ?? []).map { p -> [String: Any] in
            ["severity": p["severity"] as? String ?? "", "kind": p["kind"] as? String ?? "", "detail": p["detail"] as? String ?? ""]
        }
        let rules = (json["rules"] as? [[String: Any]] ?? []).map { r -> [String: Any] in
            ["table": r["table"] as? String ?? "", "chain": r["chain"] as? String ?? "",
             "index": jsonInt(r["index"]) ?? 0, "rule": r["rule"] as? String ?? "",
             "layer": r["layer"] as? String ?? "", "status": r["status"] as? String ?? "",
             "detail": r["detail"] as? String ?? ""]
        }
        return [
            "installable": (json["installable"] as? Bool ?? (json["installable"] as? NSNumber)?.boolValue ?? false) ? "yes" : "no",
            "shareTotal": jsonInt(share["total"]) ?? 0,
            "shareInXDP": jsonInt(share["in_xdp"]) ?? 0,
            "dropPolicy": share["drop_policy"] as? String ?? "none",
            "totals": totals.indices.map { k -> [String: Any] in
                ["key": totals[k].key, "value": jsonInt(totals[k].value) ?? 0, "last": k == totals.count - 1]
            },
            "hasProblems": !problems.isEmpty, "problems": problems, "rules": rules,
            "notes": json["notes"] as? [String] ?? [],
        ]
    }
}
