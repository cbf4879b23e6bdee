import IptParse

extension MigrationReport {
    static let blockersShown = 20

    /// The plain-text report: problems, the XDP share, a summary, chains, then every rule.
    public func text() -> String {
        var s = "Migration report for \(source), interface \(result.report.interface)\n\n"
        s += "Problems\n"
        let problems = problems
        if problems.isEmpty { s += "  none\n" }
        for p in problems { s += "  \(p.severity.rawValue): \(p.detail)\n" }
        s += "\nSummary\n" + summaryLines().map { "  " + $0 }.joined(separator: "\n") + "\n"
        s += "\nChains (rules in XDP / in the kernel / never deciding)\n"
        let width = min(40, chains.map(\.name.count).max() ?? 0)
        for c in chains {
            s += "  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.count(.xdp)) xdp, \(c.count(.kernel)) kernel, \(c.count(nil)) none\n"
        }
        s += "\nRules\n"
        for r in result.report.rules {
            let line = r.ref.line.map { "line \($0)" } ?? "-"
            s += "  \(line.padding(toLength: 9, withPad: " ", startingAt: 0)) \(r.ref.table)/\(r.ref.chain) #\(r.ref.index)  \(r.status.placement): \(r.status.detail)\n"
            s += "            \(r.text)\n"
        }
        for n in result.report.notes { s += "note: \(n)\n" }
        return s
    }

    /// The summary every form shows after the problems: shares, layers, --xdp-only, result, costs.
    func summaryLines() -> [String] {
        var out = [ruleShareLine]
        if let p = probeShareLine { out.append(p) }
        out.append(layersLine)
        out.append(inputLayersLine)
        out.append("statuses: " + totals.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
        out.append(xdpOnlyLine)
        let b = result.xdpOnlyBlockers
        for x in b.prefix(Self.blockersShown) { out.append("  - \(x.detail)") }
        if b.count > Self.blockersShown { out.append("  - and \(b.count - Self.blockersShown) more") }
        out.append(resultLine)
        out += costLines
        if let v = verificationLine { out.append(v) }
        return out
    }
}
