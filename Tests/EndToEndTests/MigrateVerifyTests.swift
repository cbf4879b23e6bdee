import Compiler
import Foundation
import IptParse
import TestSupport
import XCTest

/// `ebpf-iptables migrate --verify` over every fixture and corpus ruleset that compiles:
/// at least 200 probes each, zero disagreements. And a deliberately wrong XDP side is caught.
final class MigrateVerifyTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping migrate --verify: \(why)")
            throw XCTSkip(why)
        }
    }

    struct Outcome {
        var probes = 0
        var agreements = 0
        var excluded = 0
        var disagreements: [String] = []
        var status: Int32 = 0
    }

    func verify(_ url: URL, sets: URL?, env: [String: String] = [:]) throws -> Outcome {
        var args = [Run.binary, "migrate", "--verify", "--format", "json", "--probes", "200", "--reject-as-drop", "--input-only", "--interface", "eth0"]
        if let sets { args += ["--ipset", sets.path] }
        let r = Run.run(args + [url.path], env: env)
        var o = Outcome(status: r.status)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let v = obj?["verification"] as? [String: Any]
        o.probes = v?["probes"] as? Int ?? 0
        o.agreements = v?["agreements"] as? Int ?? 0
        o.excluded = v?["excluded"] as? Int ?? 0
        o.disagreements = (v?["disagreements"] as? [[String: String]] ?? []).map { "\($0["packet"] ?? ""): iptables \($0["iptables"] ?? ""), XDP \($0["xdp"] ?? "")" }
        XCTAssertNotNil(v, "\(url.lastPathComponent): no verification in the report: \(r.stderr)")
        return o
    }

    func testEveryCompilingRulesetVerifies() throws {
        var rulesets: [(URL, URL?)] = []
        let sipSets = Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")
        for name in ["sip-edge.rules", "differential.rules"] {
            rulesets.append((Fixtures.fixtures.appendingPathComponent("rulesets/\(name)"), sipSets))
        }
        var installable = 0
        if let corpus = Fixtures.corpus {
            // Every IPv4 corpus ruleset that compiles whole (INPUT part, REJECT as DROP).
            for url in Fixtures.files(in: corpus, suffix: ".rules") where !url.lastPathComponent.hasSuffix(".v6.rules") {
                guard let rs = try? RestoreParser.parse(Fixtures.text(url), options: .init()) else { continue }
                let r = Compiler.compile(rs, interface: "eth0", options: CompileOptions(rejectAsDrop: true, inputOnly: true))
                if r.installable && !r.tables.verdicts.isEmpty {
                    installable += 1
                    rulesets.append((url, nil))
                }
            }
        } else {
            print("../shared/corpus is absent: verifying fixtures only")
        }
        var probes = 0, agreements = 0, excluded = 0
        for (url, sets) in rulesets {
            let o = try verify(url, sets: sets)
            XCTAssertGreaterThanOrEqual(o.probes, 200, url.lastPathComponent)
            XCTAssertEqual(o.disagreements, [], url.lastPathComponent)
            XCTAssertEqual(o.status, 0, url.lastPathComponent)
            probes += o.probes
            agreements += o.agreements
            excluded += o.excluded
        }
        print("migrate --verify: \(agreements)/\(probes - excluded) compared probes agree over \(rulesets.count) rulesets "
              + "(\(installable) of them from the corpus)")
        XCTAssertEqual(agreements + excluded, probes)
    }

    func testAWrongXDPSideIsCaughtAndNamed() throws {
        let o = try verify(Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules"),
                           sets: Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset"),
                           env: ["EBPF_IPTABLES_VERIFY_SABOTAGE": "1"])
        XCTAssertEqual(o.status, 1)
        XCTAssertFalse(o.disagreements.isEmpty)
        // The report names the rule iptables applied and the one XDP applied instead.
        XCTAssertTrue(o.disagreements.allSatisfy { $0.contains("iptables SIP 3 (accept)") && $0.contains("XDP INPUT 13 (drop)") },
                      o.disagreements.joined(separator: "\n"))
    }
}
