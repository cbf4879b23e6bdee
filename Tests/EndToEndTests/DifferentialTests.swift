import Foundation
import TestSupport
import XCTest

/// Every ruleset runs, and decides every probe as the kernel's own iptables does.
///
/// For each IPv4 ruleset of fixtures/rulesets and of the shared corpus that the kernel's
/// iptables-restore accepts: namespace `ref` holds it through iptables-restore (and ipset)
/// alone; namespace `two` through `ebpf-iptables attach` and `ebpf-iptables-restore FILE`
/// with no flags (both layers). The same frames go to both (DifferentialRun); each must get
/// the same verdict (delivered or not) and the same deciding rule: the kernel's in `ref`
/// (iptables-save -c deltas), and in `two` the rule of XDP's position when XDP dropped it,
/// else the kernel's. After each restore the kernel of `two` must print (iptables-save,
/// ebpf-iptables-save, ipset save) what `ref` prints; after the probes the counters of both
/// layers must be what the design says they are (CounterCheck).
final class DifferentialTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping differential test: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "conntrack", "python3"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install nftables conntrack python3)")
        }
    }

    /// One line per ruleset, then the total; every disagreement and problem fails the test.
    func report(_ label: String, _ results: [DifferentialRun.Result]) {
        for r in results {
            for d in r.disagreements { XCTFail("\(r.name): \(d)") }
            for p in r.problems { XCTFail("\(r.name): \(p)") }
        }
        for r in results where r.kernelAccepts {
            let unscorable = r.unscorable > 0 ? ", \(r.unscorable) unscorable (the two kernels differed)" : ""
            print("differential \(r.name): \(r.probes) probes, \(r.agreed)/\(r.scored) agree\(unscorable); "
                  + "kernel drops \(r.kernelDrops) (\(r.rejects) by REJECT), XDP dropped \(r.xdpDrops) itself (XDP share \(r.share)); "
                  + "\(r.counters.line); \(String(format: "%.1f", r.seconds)) s")
        }
        let ran = results.filter(\.kernelAccepts)
        let sum = { (f: (DifferentialRun.Result) -> Int) in ran.reduce(0) { $0 + f($1) } }
        let kd = sum(\.kernelDrops), xd = sum(\.xdpDrops), rj = sum(\.rejects)
        print("differential \(label) total: \(ran.count) rulesets, \(sum(\.probes)) probes, \(sum(\.agreed))/\(sum(\.scored)) agree, "
              + "\(sum(\.unscorable)) unscorable, \(sum { $0.disagreements.count }) disagreements; kernel drops \(kd) (\(rj) by REJECT), XDP dropped \(xd) "
              + "(XDP share \(kd == 0 ? "-" : String(format: "%.0f%%", 100 * Double(xd) / Double(kd)))); "
              + "\(String(format: "%.0f", results.reduce(0) { $0 + $1.seconds })) s")
    }

    func testFixtureRulesetsDecideLikeTheKernel() throws {
        let subjects = RulesetSubject.fixtures
        XCTAssertGreaterThanOrEqual(subjects.count, 3)
        let results = try subjects.map { try DifferentialRun(subject: $0, probesWanted: 250).run() }
        for r in results {
            XCTAssertTrue(r.kernelAccepts, "\(r.name): the kernel refuses a fixture ruleset")
            XCTAssertGreaterThan(r.scored, 50, "\(r.name): too few probes scored")
        }
        report("fixtures", results)
        XCTAssertEqual(results.reduce(0) { $0 + $1.agreed }, results.reduce(0) { $0 + $1.scored })
    }

    /// The oracle can fail: the same run with XDP's ACCEPT positions turned into DROPs behind
    /// the firewall's back must find every probe the kernel accepts there dropped by XDP.
    func testAWrongXDPIsNoticed() throws {
        guard let sip = RulesetSubject.fixtures.first(where: { $0.name == "sip-edge.rules" }) else { return XCTFail("sip-edge.rules is missing") }
        var run = DifferentialRun(subject: sip, probesWanted: 60)
        var flipped = 0
        run.sabotage = { two, compiled in
            var t = compiled.tables
            for i in t.verdicts.indices where t.verdicts[i] == .accept { t.verdicts[i] = .drop; flipped += 1 }
            let d = try two.xdp()
            let idle = 1 - (try d.liveGeneration())
            try d.dp.write(t, generation: idle)
            try d.dp.activate(generation: idle)
        }
        let r = try run.run()
        XCTAssertGreaterThan(flipped, 0)
        XCTAssertGreaterThan(r.disagreements.count, 5, "a wrong XDP went unnoticed")
        XCTAssertTrue(r.disagreements.allSatisfy { $0.contains("kernel alone: delivered") && $0.contains("(in XDP)") }, "\(r.disagreements)")
        print("differential sabotage: \(flipped) ACCEPT positions made DROP in XDP; \(r.disagreements.count) of \(r.scored) probes disagreed")
    }

    func testCorpusRulesetsDecideLikeTheKernel() throws {
        guard let subjects = RulesetSubject.corpus else {
            print("skipping corpus differential: ../shared/corpus is absent")
            throw XCTSkip("../shared/corpus is absent")
        }
        let results = try subjects.map { try DifferentialRun(subject: $0, probesWanted: 200).run() }
        let accepted = results.filter(\.kernelAccepts)
        report("corpus", results)
        print("differential corpus: \(accepted.filter(\.oursRestores).count) of the \(accepted.count) IPv4 files the kernel accepts "
              + "restore with ebpf-iptables-restore and no flag (\(results.count - accepted.count) the kernel refuses: "
              + "\(results.filter { !$0.kernelAccepts }.map(\.name).joined(separator: ", ")))")
        XCTAssertEqual(accepted.filter(\.oursRestores).count, accepted.count)
        XCTAssertGreaterThanOrEqual(accepted.count, 15)
        XCTAssertEqual(accepted.reduce(0) { $0 + $1.agreed }, accepted.reduce(0) { $0 + $1.scored })
        // Unscorable probes are the kernel disagreeing with itself; they must stay rare.
        XCTAssertLessThan(accepted.reduce(0) { $0 + $1.unscorable } * 20, accepted.reduce(0) { $0 + $1.probes })
    }
}
