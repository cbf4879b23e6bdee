import Compiler
import Foundation
import IptParse
import TestSupport
import XCTest

/// Golden text, JSON and markdown migration reports for every IPv4 fixture ruleset.
final class MigrationReportTests: XCTestCase {
    func report(for url: URL, xdpOnly: Bool = false) throws -> MigrationReport {
        let rs = try RestoreParser.parse(Fixtures.text(url), options: .init(file: url.lastPathComponent))
        let sets = try IpsetParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")), file: "sip-edge.ipset")
        let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: true, xdpOnly: xdpOnly))
        return MigrationReport(source: url.lastPathComponent, result: r)
    }

    func testReportsMatchTheirGoldenFiles() throws {
        let files = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
            .filter { !$0.lastPathComponent.hasSuffix(".v6.rules") }
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
        let r = try report(for: Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules"))
        let obj = try JSONSerialization.jsonObject(with: Data(r.json().utf8)) as? [String: Any]
        XCTAssertEqual(obj?["schema"] as? String, "ebpf-iptables/migrate/2")
        XCTAssertEqual(Set(obj?.keys.map { $0 } ?? []),
                       ["schema", "source", "interface", "installable", "xdp_only", "qualifies_for_xdp_only", "xdp_only_blockers",
                        "layers", "input_layers", "before_input_kernel_rules", "totals", "rules", "cost", "notes"])
        let rule = (obj?["rules"] as? [[String: Any]])?.first
        XCTAssertEqual(Set(rule?.keys.map { $0 } ?? []), ["table", "chain", "index", "line", "rule", "scope", "layer", "status", "detail"])
        XCTAssertEqual(obj?["installable"] as? Bool, true)
        XCTAssertEqual(obj?["qualifies_for_xdp_only"] as? Bool, true)
        XCTAssertEqual(r.exitStatus, 0)
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
        XCTAssertTrue(alone.result.xdpOnlyBlockers.contains { if case .natTable = $0 { true } else { false } })
        let obj = try JSONSerialization.jsonObject(with: Data(alone.json().utf8)) as? [String: Any]
        let blockers = obj?["xdp_only_blockers"] as? [[String: Any]] ?? []
        XCTAssertEqual(blockers.count, alone.result.xdpOnlyBlockers.count)
        XCTAssertEqual(Set(blockers.compactMap { $0["kind"] as? String }), ["kernel-rule", "nat-table"])
    }
}
