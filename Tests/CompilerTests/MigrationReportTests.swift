import Compiler
import Foundation
import FoundationXML
import IptParse
import TestSupport
import XCTest

/// Golden text, JSON and markdown migration reports for every IPv4 fixture ruleset; the
/// HTML page parsed back; the shares checked against counts made here from the ruleset.
final class MigrationReportTests: XCTestCase {
    func report(for url: URL, xdpOnly: Bool = false, rejectAsDrop: Bool = true) throws -> MigrationReport {
        let rs = try RestoreParser.parse(Fixtures.text(url), options: .init(file: url.lastPathComponent))
        let sets = try IpsetParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")), file: "sip-edge.ipset")
        let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: xdpOnly))
        return MigrationReport(source: url.lastPathComponent, ruleset: rs, result: r)
    }

    var fixtureRulesets: [URL] {
        Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
            .filter { !$0.lastPathComponent.hasSuffix(".v6.rules") }
    }

    func testReportsMatchTheirGoldenFiles() throws {
        let files = fixtureRulesets
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for url in files {
            let r = try report(for: url)
            let stem = url.deletingPathExtension().lastPathComponent
            for (ext, body) in [("txt", r.text()), ("json", r.json()), ("md", r.markdown())] {
                let golden = Fixtures.fixtures.appendingPathComponent("reports/\(stem).\(ext)")
                if Fixtures.recording {
                    try body.write(to: golden, atomically: true, encoding: .utf8)
                } else {
                    XCTAssertEqual(body, Fixtures.text(golden), "\(stem).\(ext): re-record with EBPF_IPTABLES_RECORD=1 if intended")
                }
            }
        }
    }

    /// The JSON schema is stable: these keys are what scripts read.
    func testJSONSchemaKeys() throws {
        var r = try report(for: Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules"))
        r.verification = MigrationReport.Verification(
            probes: 3, agreements: 2,
            disagreements: [.init(packet: "p", iptables: "SIP 3 (accept), accepted", xdp: "INPUT 13 (drop)", why: "XDP drops a packet the kernel accepts")],
            kernelDrops: 1, xdpDrops: 1)
        let obj = try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any]
        XCTAssertEqual(obj?["schema"] as? String, "ebpf-iptables/migrate/3")
        XCTAssertEqual(Set(obj?.keys.map { $0 } ?? []),
                       ["schema", "source", "interface", "installable", "xdp_only", "qualifies_for_xdp_only", "xdp_only_blockers",
                        "problems", "share", "layers", "input_layers", "before_input_kernel_rules", "chains", "totals", "rules",
                        "cost", "notes", "verification"])
        let rule = (obj?["rules"] as? [[String: Any]])?.first
        XCTAssertEqual(Set(rule?.keys.map { $0 } ?? []), ["table", "chain", "index", "line", "rule", "scope", "layer", "status", "detail"])
        XCTAssertEqual(Set((obj?["share"] as? [String: Any])?.keys.map { $0 } ?? []), ["in_xdp", "total", "drop_policy"])
        let chain = (obj?["chains"] as? [[String: Any]])?.first
        XCTAssertEqual(Set(chain?.keys.map { $0 } ?? []), ["table", "chain", "scope", "xdp", "kernel", "none"])
        let v = obj?["verification"] as? [String: Any]
        XCTAssertEqual(Set(v?.keys.map { $0 } ?? []), ["probes", "agreements", "disagreements", "kernel_drops", "xdp_drops"])
        XCTAssertEqual(Set((v?["disagreements"] as? [[String: Any]])?.first?.keys.map { $0 } ?? []), ["packet", "iptables", "xdp", "why"])
        let problem = (obj?["problems"] as? [[String: Any]])?.first
        XCTAssertEqual(problem?["severity"] as? String, "error")
        XCTAssertEqual(problem?["kind"] as? String, "disagreement")
        XCTAssertEqual(obj?["installable"] as? Bool, false)
        XCTAssertEqual(obj?["qualifies_for_xdp_only"] as? Bool, true)
        XCTAssertEqual(r.exitStatus, 1)
    }

    /// Without --xdp-only everything installs (the kernel decides what XDP cannot); with it,
    /// the report says what keeps XDP from deciding alone, and migrate fails.
    func testKitchenSinkInstallsUnlessXDPMustDecideAlone() throws {
        let url = Fixtures.fixtures.appendingPathComponent("rulesets/kitchen-sink.rules")
        let both = try report(for: url)
        XCTAssertEqual(both.exitStatus, 0)
        XCTAssertGreaterThan(both.result.report.count(.kernel, scope: .input), 0)
        XCTAssertFalse(both.result.qualifiesForXdpOnly)

        let alone = try report(for: url, xdpOnly: true)
        XCTAssertEqual(alone.exitStatus, 1)
        XCTAssertTrue(alone.text().contains("NOT installable with --xdp-only"))
        XCTAssertEqual(alone.problems.first?.kind, .notInstallable)
        XCTAssertTrue(alone.text().contains("Problems\n  error: --xdp-only was asked"), "problems come first")
        XCTAssertTrue(alone.result.xdpOnlyBlockers.contains { if case .natTable = $0 { true } else { false } })
        let obj = try JSONSerialization.jsonObject(with: Data(alone.json().utf8)) as? [String: Any]
        let blockers = obj?["xdp_only_blockers"] as? [[String: Any]] ?? []
        XCTAssertEqual(blockers.count, alone.result.xdpOnlyBlockers.count)
        XCTAssertEqual(Set(blockers.compactMap { $0["kind"] as? String }), ["kernel-rule", "nat-table"])
    }

    /// The static share counted here from the ruleset itself: every DROP/REJECT rule on the
    /// way to filter INPUT that decides, and a DROP policy; in XDP when its layer is.
    func testRuleShareCountsDropRulesByLayer() throws {
        for url in fixtureRulesets {
            for rejectAsDrop in [false, true] {
                let r = try report(for: url, rejectAsDrop: rejectAsDrop)
                let filter = try XCTUnwrap(r.ruleset.table("filter"))
                var total = 0, inXDP = 0
                for rr in r.result.report.rules where rr.scope != .elsewhere && rr.status.layer != nil {
                    let rule = try XCTUnwrap(r.ruleset.table(rr.ref.table)?.chain(rr.ref.chain)?.rules[rr.ref.index - 1])
                    switch rule.target {
                    case .drop?, .reject?:
                        total += 1
                        if rr.status.layer == .xdp { inXDP += 1 }
                    default: break
                    }
                }
                if filter.chain("INPUT")?.policy == "DROP", let p = r.inputPolicyLayer {
                    total += 1
                    if p == .xdp { inXDP += 1 }
                }
                XCTAssertEqual(r.ruleShare, XDPShare(inXDP: inXDP, total: total), "\(url.lastPathComponent) reject-as-drop \(rejectAsDrop)")
            }
        }
        // sip-edge: the MGMT DROP, the INVALID DROP and the final REJECT; the REJECT is XDP's
        // either way (dropped with --reject-as-drop, answered from XDP without).
        let sip = Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules")
        XCTAssertEqual(try report(for: sip, rejectAsDrop: true).ruleShare, XDPShare(inXDP: 3, total: 3))
        XCTAssertEqual(try report(for: sip, rejectAsDrop: false).ruleShare, XDPShare(inXDP: 3, total: 3))
        XCTAssertEqual(XDPShare(inXDP: 2, total: 3).percent, "66 %")
        XCTAssertEqual(XDPShare(inXDP: 1, total: 1000).percent, "<1 %")
        XCTAssertEqual(XDPShare(inXDP: 0, total: 0).percent, "-")
    }

    /// Per-chain counts add up to the per-layer totals, and every rule is in exactly one chain.
    func testChainsPartitionTheRules() throws {
        for url in fixtureRulesets {
            let r = try report(for: url)
            XCTAssertEqual(r.chains.flatMap(\.rules).count, r.result.report.rules.count, url.lastPathComponent)
            for layer: RuleStatus.Layer? in [.xdp, .kernel, nil] {
                XCTAssertEqual(r.chains.map { $0.count(layer) }.reduce(0, +), r.result.report.count(layer), url.lastPathComponent)
            }
            let grouped = r.kernelGroups.flatMap(\.rules).count + r.elsewhereKernelRules.count
            XCTAssertEqual(grouped, r.result.report.count(.kernel), url.lastPathComponent)
        }
    }

    /// The HTML page parses as XML (so every element is closed), holds the share, every rule
    /// (text, placement and a row to link to), a box per rule in the picture, and every
    /// link inside it points at something on the page.
    func testHTMLIsWellFormedAndHoldsTheShareAndEveryRule() throws {
        for url in fixtureRulesets {
            var r = try report(for: url)
            r.verification = MigrationReport.Verification(probes: 10, agreements: 10, disagreements: [], kernelDrops: 4, xdpDrops: 3)
            let html = r.html()
            let page = try HTMLPage(html)
            let name = url.lastPathComponent
            XCTAssertTrue(page.text.contains("XDP share"), name)
            XCTAssertTrue(page.text.contains(r.ruleShare.percent), name)
            XCTAssertTrue(page.text.contains("75 %"), "\(name): the probe share of 3/4")
            XCTAssertFalse(html.contains("http://") || html.contains("https://"), "\(name): nothing fetched")
            XCTAssertEqual(page.ruleBoxes, r.result.report.rules.count, "\(name): a box per rule in the picture")
            XCTAssertEqual(page.ids.filter { $0.hasPrefix("r-") }.count, r.result.report.rules.count, "\(name): a row per rule")
            for rule in r.result.report.rules {
                XCTAssertTrue(page.text.contains(rule.text), "\(name): \(rule.text)")
                XCTAssertTrue(page.text.contains(rule.status.detail), "\(name): \(rule.status.detail)")
            }
            XCTAssertEqual(page.ids.count, Set(page.ids).count, "\(name): ids are unique")
            for href in page.hrefs {
                XCTAssertTrue(href.hasPrefix("#") && page.ids.contains(String(href.dropFirst())), "\(name): link \(href)")
            }
            // Problems come before the share, the share before the picture, the full table last.
            let order = ["id=\"share\"", "id=\"chains\"", "id=\"kernel\"", "id=\"summary\"", "id=\"rules\""].compactMap { html.range(of: $0)?.lowerBound }
            XCTAssertEqual(order.count, 5, name)
            XCTAssertEqual(order, order.sorted(), name)
            if let p = html.range(of: "id=\"problems\"") { XCTAssertLessThan(p.lowerBound, order[0], name) }
        }
    }
}

/// What a test needs of an HTML page, read with an XML parser: the page must be well-formed.
final class HTMLPage: NSObject, XMLParserDelegate {
    var text = ""
    var ids: [String] = []
    var hrefs: [String] = []
    /// The picture's boxes, one per rule.
    var ruleBoxes = 0

    init(_ html: String) throws {
        super.init()
        let parser = XMLParser(data: Data(html.utf8))
        parser.delegate = self
        guard parser.parse() else {
            throw NSError(domain: "html", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "not well-formed at line \(parser.lineNumber), column \(parser.columnNumber): \(parser.parserError.map { "\($0)" } ?? "")"])
        }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if let id = attributes["id"] { ids.append(id) }
        if let href = attributes["href"] { hrefs.append(href) }
        if name == "rect", attributes["class"]?.split(separator: " ").contains("rule") == true { ruleBoxes += 1 }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}
