import IptParse

extension MigrationReport {
    /// The report as Markdown, for a change ticket: problems, share and summary, chains,
    /// what goes to the kernel and why, then every rule.
    public func markdown() -> String {
        var s = "# Migration report: \(source)\n\n"
        s += "## Problems\n\n"
        let problems = problems
        if problems.isEmpty { s += "None.\n" }
        for p in problems { s += "- **\(p.severity.rawValue)**: \(md(p.detail))\n" }
        s += "\n## Summary\n\n"
        s += summaryLines().map { $0.hasPrefix("  ") ? $0 : "- " + $0 }.joined(separator: "\n") + "\n\n"
        s += "## Chains\n\n| chain | rules | xdp | kernel | never decide |\n|---|---|---|---|---|\n"
        for c in chains {
            s += "| \(c.name) | \(c.rules.count) | \(c.count(.xdp)) | \(c.count(.kernel)) | \(c.count(nil)) |\n"
        }
        s += "\n## What runs in the kernel, and why\n\n"
        let groups = kernelGroups
        if groups.isEmpty { s += "Nothing on the way to filter INPUT.\n" }
        for g in groups {
            s += "### \(md(g.title)) (\(g.rules.count))\n\n"
            for r in g.rules {
                s += "- \(r.ref.table)/\(r.ref.chain) #\(r.ref.index)\(r.ref.line.map { " (line \($0))" } ?? ""): `\(md(r.text))` — \(md(r.status.detail))\n"
            }
            s += "\n"
        }
        let elsewhere = elsewhereKernelRules.count
        if elsewhere > 0 {
            s += "\(elsewhere) more rule\(elsewhere == 1 ? "" : "s") in chains arriving packets do not pass (FORWARD, OUTPUT, POSTROUTING) run in the kernel as before.\n\n"
        }
        s += "## Rules\n\n| line | chain | # | layer | status | detail | rule |\n|---|---|---|---|---|---|---|\n"
        for r in result.report.rules {
            s += "| \(r.ref.line.map(String.init) ?? "") | \(r.ref.table)/\(r.ref.chain) | \(r.ref.index) | \(r.status.layerName) | \(r.status.qualifier) | \(md(r.status.detail)) | `\(md(r.text))` |\n"
        }
        if !result.report.notes.isEmpty {
            s += "\n" + result.report.notes.map { "- note: \(md($0))" }.joined(separator: "\n") + "\n"
        }
        return s
    }

    func md(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
}
