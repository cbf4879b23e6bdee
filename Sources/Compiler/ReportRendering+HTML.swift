import IptParse

/// The HTML report: one self-contained page (inline CSS and SVG, nothing fetched: the
/// machines that read it are often offline) that opens with what an operator looks at
/// first: problems, the XDP share, a picture of where each rule runs, what still goes to
/// the kernel and why; the full table last. It is also well-formed XML (every element
/// closed), so a test can parse it and tools can read it.
extension MigrationReport {
    public func html() -> String {
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>Migration report: \(HTML.escape(source))</title>
        <style>\(HTML.style)</style>
        </head><body>
        <header><h1>Migration report: \(HTML.escape(source))</h1>
        <p class="sub">interface <b>\(HTML.escape(result.report.interface))</b> · \(result.report.rules.count) rules · \(resultBadge)</p></header>

        """
        s += problemsSection()
        s += shareSection()
        s += chainsSection()
        s += kernelSection()
        s += summarySection()
        s += rulesSection()
        return s + "</body></html>\n"
    }

    private var resultBadge: String {
        if exitStatus == 0 {
            return "<span class=\"badge ok\">\(xdpOnly ? "installable with --xdp-only" : "installable")</span>"
        }
        return "<span class=\"badge bad\">\(result.installable ? "verification found disagreements" : "not installable with --xdp-only")</span>"
    }

    private func problemsSection() -> String {
        let problems = problems
        guard !problems.isEmpty else { return "" }
        let errors = problems.filter { $0.severity == .error }.count
        var s = "<section id=\"problems\"><h2>Problems <small>\(errors) error\(errors == 1 ? "" : "s"), \(problems.count - errors) warning\(problems.count - errors == 1 ? "" : "s")</small></h2><ul class=\"problems\">\n"
        func item(_ p: ReportProblem) -> String {
            let link = p.rule.map { " <a href=\"#\(HTML.anchor($0))\">rule</a>" } ?? ""
            return "<li class=\"\(p.severity.rawValue)\"><b>\(p.severity.rawValue)</b> \(HTML.escape(p.detail))\(link)</li>\n"
        }
        // Every error in sight; past a few warnings, the rest folded so the share stays near the top.
        let shown = errors + min(problems.count - errors, errors > 0 ? 0 : Self.warningsShown)
        for p in problems.prefix(shown) { s += item(p) }
        if problems.count > shown {
            s += "</ul><details><summary>\(problems.count - shown) more warning\(problems.count - shown == 1 ? "" : "s")</summary><ul class=\"problems\">\n"
            for p in problems.dropFirst(shown) { s += item(p) }
            s += "</ul></details></section>\n"
            return s
        }
        return s + "</ul></section>\n"
    }

    /// Warnings listed before the rest are folded (none when there are errors).
    static let warningsShown = 3

    private func shareSection() -> String {
        let rules = ruleShare
        var s = "<section id=\"share\" class=\"hero\"><div class=\"share\">"
        s += "<div class=\"big\(rules.inXDP == 0 ? " low" : "")\">\(HTML.escape(rules.percent))</div><div class=\"what\"><b>XDP share of the rules that drop</b><br/>"
        if rules.total == 0 {
            s += "nothing drops arriving packets: no DROP or REJECT rule on their way to INPUT, policy ACCEPT"
        } else {
            s += "XDP decides \(rules.inXDP) of the \(rules.total) rules that drop arriving packets"
            if let p = dropPolicyLayer { s += " (its DROP policy counted as one, \(p == .xdp ? "in XDP" : "in the kernel"))" }
        }
        s += HTML.shareBar(rules, label: "dropping rules") + "</div></div>\n"
        if let v = verification {
            let p = v.share
            s += "<div class=\"share\"><div class=\"big\(p.inXDP == 0 ? " low" : "")\">\(HTML.escape(p.percent))</div><div class=\"what\"><b>XDP share of the packets dropped</b><br/>"
            s += p.total == 0 ? "the kernel dropped none of the \(v.probes) probes"
                : "XDP drops \(p.inXDP) of the \(p.total) probes the kernel drops (\(v.probes) probes)"
            s += HTML.shareBar(p, label: "probes the kernel drops")
            let agree = v.disagreements.isEmpty ? "<span class=\"good\">all \(v.probes) probes agree</span>"
                : "<span class=\"bad\">\(v.disagreements.count) of \(v.probes) probes disagree</span>"
            s += "<div class=\"note\">--verify, both layers against the kernel alone: \(agree)</div></div></div>\n"
        }
        s += "<div class=\"xdponly \(result.qualifiesForXdpOnly ? "yes" : "no")\">\(HTML.escape(xdpOnlyLine))"
        let blockers = result.xdpOnlyBlockers
        if !blockers.isEmpty {
            s += "<details><summary>why not</summary><ul>"
            for b in blockers { s += "<li>\(HTML.escape(b.detail))</li>" }
            s += "</ul></details>"
        }
        return s + "</div></section>\n"
    }

    private func chainsSection() -> String {
        let chains = chains
        var s = "<section id=\"chains\"><h2>Where each rule runs</h2>\n"
        s += "<p class=\"legend\">One box per rule, in chain order (first match from the left): "
        s += "<span class=\"key xdp\"></span> XDP decides its packets <span class=\"key kernel\"></span> the kernel does "
        s += "<span class=\"key none\"></span> never decides; the counts in that order. A box with a P is filter INPUT's policy. Hover a box for the rule; click it for its row.</p>\n"
        let longest = chains.map(\.rules.count).max() ?? 1
        let groups: [(RuleReport.Scope, String)] = [(.input, "filter INPUT and the chains it reaches: what XDP mirrors"),
                                                    (.beforeInput, "before filter INPUT (raw, mangle, nat PREROUTING; mangle INPUT)"),
                                                    (.elsewhere, "not on the way of arriving packets (FORWARD, OUTPUT, POSTROUTING, unreachable)")]
        for (scope, title) in groups {
            let these = chains.filter { $0.scope == scope }
            guard !these.isEmpty else { continue }
            s += "<h3>\(HTML.escape(title))</h3><div class=\"bars\">\n"
            for c in these {
                s += "<div class=\"chain\">\(HTML.escape(c.name))</div>"
                s += "<div class=\"counts\"><span class=\"n xdp\">\(c.count(.xdp))</span> <span class=\"n kernel\">\(c.count(.kernel))</span> <span class=\"n none\">\(c.count(nil))</span></div>"
                let policy = c.table == "filter" && c.chain == "INPUT" ? ruleset.table("filter")?.chain("INPUT")?.policy.map { ($0, inputPolicyLayer) } : nil
                s += HTML.chainBar(c, longest: longest + 1, policy: policy) + "\n"
            }
            s += "</div>\n"
        }
        return s + "</section>\n"
    }

    private func kernelSection() -> String {
        let groups = kernelGroups
        var s = "<section id=\"kernel\"><h2>What still goes to the kernel, and why</h2>\n"
        if groups.isEmpty { s += "<p>Nothing on the way to filter INPUT: XDP decides every rule there.</p>\n" }
        for g in groups {
            s += "<details open=\"open\"><summary><b>\(HTML.escape(g.title))</b> <span class=\"count\">\(g.rules.count) rule\(g.rules.count == 1 ? "" : "s")</span> <code class=\"id\">\(HTML.escape(g.reason))</code></summary><table class=\"rules\">\n"
            for r in g.rules {
                s += "<tr><td class=\"where\"><a href=\"#\(HTML.anchor(r.ref))\">\(HTML.escape(r.ref.table))/\(HTML.escape(r.ref.chain)) #\(r.ref.index)</a>\(r.ref.line.map { "<br/><small>line \($0)</small>" } ?? "")</td>"
                s += "<td><code>\(HTML.escape(r.text))</code><div class=\"detail\">\(HTML.escape(r.status.detail))</div></td></tr>\n"
            }
            s += "</table></details>\n"
        }
        let elsewhere = elsewhereKernelRules.count
        if elsewhere > 0 {
            s += "<p class=\"note\">\(elsewhere) more rule\(elsewhere == 1 ? "" : "s") in chains arriving packets do not pass (FORWARD, OUTPUT, POSTROUTING) run in the kernel as before; they are in the full table.</p>\n"
        }
        return s + "</section>\n"
    }

    private func summarySection() -> String {
        var s = "<section id=\"summary\"><h2>Summary</h2><ul>\n"
        for l in summaryLines() where !l.hasPrefix("  ") { s += "<li>\(HTML.escape(l))</li>\n" }
        for n in result.report.notes { s += "<li>note: \(HTML.escape(n))</li>\n" }
        return s + "</ul></section>\n"
    }

    private func rulesSection() -> String {
        var s = "<section id=\"rules\"><h2>All rules</h2><table class=\"rules full\">\n"
        s += "<thead><tr><th>line</th><th>chain</th><th>#</th><th>layer</th><th>how / why</th><th>rule</th></tr></thead><tbody>\n"
        for r in result.report.rules {
            s += "<tr id=\"\(HTML.anchor(r.ref))\" class=\"\(r.status.layerName)\"><td>\(r.ref.line.map(String.init) ?? "")</td>"
            s += "<td>\(HTML.escape(r.ref.table))/\(HTML.escape(r.ref.chain))</td><td>\(r.ref.index)</td>"
            s += "<td><span class=\"layer \(r.status.layerName)\">\(r.status.layerName)</span></td>"
            s += "<td><code class=\"id\">\(HTML.escape(r.status.qualifier))</code> \(HTML.escape(r.status.detail))</td>"
            s += "<td><code>\(HTML.escape(r.text))</code></td></tr>\n"
        }
        return s + "</tbody></table></section>\n"
    }
}
