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
        let obj = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
        let v = obj?["verification"] as? [String: Any]
        o.probes = v?["probes"] as? Int ?? 0
        o.agreements = v?["agreements"] as? Int ?? 0
        o.excluded = v?["excluded"] as? Int ?? 0
        o.disagreements = (v?["disagreements"] as? [[String: String]] ?? []).map { "\($0["packet"] ?? ""): iptables \($0["iptables"] ?? ""), XDP \($0["xdp"] ?? "")" }
        XCTAssertNotNil(v, "\(url.lastPathComponent): no verification in the report: \(r.stderr)")
        return o
    }

    /// Every fixture and every IPv4 corpus ruleset iptables-restore accepts, whether or not it
    /// compiles whole: packets that an unsupported rule (or one reached through it) decides
    /// are excluded; every other probe must be decided alike, verdict and rule.
    func testEveryRulesetVerifiesOnWhatCompiled() throws {
        var rulesets: [(URL, URL?)] = []
        let sipSets = Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")
        for name in ["sip-edge.rules", "differential.rules", "kitchen-sink.rules"] {
            rulesets.append((Fixtures.fixtures.appendingPathComponent("rulesets/\(name)"), sipSets))
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-verify-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        if let corpus = Fixtures.corpus {
            for url in Fixtures.files(in: corpus, suffix: ".rules") where !url.lastPathComponent.hasSuffix(".v6.rules") {
                // Files iptables-restore itself refuses (the kernel oracle test checks that) have nothing to verify.
                guard let rs = try? RestoreParser.parse(Fixtures.text(url), options: .init()) else { continue }
                // The companion ipset file where there is one; sets defined nowhere exist empty,
                // as they must for iptables-restore to take the rules at all.
                let companion = url.deletingPathExtension().appendingPathExtension("ipset")
                var setsText = FileManager.default.fileExists(atPath: companion.path) ? Fixtures.text(companion) : ""
                if !setsText.isEmpty && !setsText.hasSuffix("\n") { setsText += "\n" }
                let defined = (try? IpsetParser.parse(setsText, file: companion.path))?.sets.map(\.name) ?? []
                var created = Set(defined)
                for table in rs.tables {
                    for (name, dims) in Verification.referencedSets(table) where !created.contains(name) {
                        created.insert(name)
                        setsText += "create \(name) \(dims > 1 ? "hash:ip,port" : "hash:ip") family inet hashsize 1024 maxelem 65536\n"
                    }
                }
                var sets: URL? = nil
                if !setsText.isEmpty {
                    sets = tmp.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".ipset")
                    try Data(setsText.utf8).write(to: sets!)
                }
                rulesets.append((url, sets))
            }
        } else {
            print("../shared/corpus is absent: verifying fixtures only")
        }
        var probes = 0, agreements = 0, excluded = 0, whole = 0
        for (url, sets) in rulesets {
            let o = try verify(url, sets: sets)
            XCTAssertGreaterThanOrEqual(o.probes, 200, url.lastPathComponent)
            XCTAssertEqual(o.disagreements, [], url.lastPathComponent)
            XCTAssertEqual(o.agreements + o.excluded, o.probes, url.lastPathComponent)
            // 0 when it compiles whole, 1 when something is unsupported; never 2 or a crash.
            XCTAssertTrue([0, 1].contains(o.status), "\(url.lastPathComponent): exit \(o.status)")
            if o.status == 0 { whole += 1 }
            probes += o.probes
            agreements += o.agreements
            excluded += o.excluded
        }
        print("migrate --verify: \(agreements)/\(probes - excluded) compared probes agree over \(rulesets.count) rulesets "
              + "(\(whole) compile whole); \(excluded) of \(probes) probes excluded as decided by an unsupported rule or one reached through it")
        XCTAssertGreaterThan(probes - excluded, probes / 2, "most probes must be compared, not excluded")
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
