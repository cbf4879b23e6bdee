import Compiler
import Foundation
import IptParse
import TestSupport
import XCTest

/// Golden text and JSON migration reports for every IPv4 fixture ruleset.
final class MigrationReportTests: XCTestCase {
    func report(for url: URL) throws -> MigrationReport {
        let rs = try RestoreParser.parse(Fixtures.text(url), options: .init(file: url.lastPathComponent))
        let sets = try IpsetParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")), file: "sip-edge.ipset")
        let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: true, inputOnly: true))
        return MigrationReport(source: url.lastPathComponent, result: r, inputOnly: true)
    }

    func testReportsMatchTheirGoldenFiles() throws {
        let files = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
            .filter { !$0.lastPathComponent.hasSuffix(".v6.rules") }
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for url in files {
            let r = try report(for: url)
            let stem = url.deletingPathExtension().lastPathComponent
            for (ext, body) in [("txt", r.text()), ("json", r.json())] {
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
        XCTAssertEqual(obj?["schema"] as? String, "ebpf-iptables/migrate/1")
        XCTAssertEqual(Set(obj?.keys.map { $0 } ?? []), ["schema", "source", "interface", "installable", "input_only", "totals", "rules", "cost", "notes"])
        let rule = (obj?["rules"] as? [[String: Any]])?.first
        XCTAssertEqual(Set(rule?.keys.map { $0 } ?? []), ["table", "chain", "index", "line", "rule", "status", "detail"])
        XCTAssertEqual(obj?["installable"] as? Bool, true)
        XCTAssertEqual(r.exitStatus, 0)
    }

    func testKitchenSinkIsNotInstallableAndSaysWhy() throws {
        let r = try report(for: Fixtures.fixtures.appendingPathComponent("rulesets/kitchen-sink.rules"))
        XCTAssertEqual(r.exitStatus, 1)
        XCTAssertTrue(r.text().contains("NOT installable"))
        XCTAssertFalse(r.blocking.isEmpty)
    }
}
