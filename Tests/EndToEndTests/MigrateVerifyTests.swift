import Compiler
import Foundation
import IptParse
import TestSupport
import XCTest

/// `ebpf-iptables migrate --verify` over every fixture and every IPv4 corpus ruleset the
/// kernel accepts: the two layers together (the compiled XDP program, then the kernel's
/// iptables for what it passes) decide every probe as the kernel alone does. Nothing is
/// excluded. And a deliberately wrong XDP side is caught.
final class MigrateVerifyTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping migrate --verify: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "conntrack", "python3"] where !Run.has(tool) {
            throw XCTSkip("migrate --verify needs '\(tool)' (apt-get install nftables conntrack python3)")
        }
    }

    struct Outcome {
        var probes = 0
        var agreements = 0
        var kernelDrops = 0
        var xdpDrops = 0
        var disagreements: [String] = []
        var status: Int32 = 0
        var stderr = ""
    }

    func verify(_ url: URL, sets: URL?, extra: [String] = [], env: [String: String] = [:]) throws -> Outcome {
        var args = [Run.binary, "migrate", "--verify", "--format", "json", "--probes", "200", "--reject-as-drop", "--interface", "eth0"] + extra
        if let sets { args += ["--ipset", sets.path] }
        let r = Run.run(args + [url.path], env: env)
        var o = Outcome(status: r.status, stderr: r.stderr)
        let obj = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
        let v = obj?["verification"] as? [String: Any]
        o.probes = v?["probes"] as? Int ?? 0
        o.agreements = v?["agreements"] as? Int ?? 0
        o.kernelDrops = v?["kernel_drops"] as? Int ?? 0
        o.xdpDrops = v?["xdp_drops"] as? Int ?? 0
        o.disagreements = (v?["disagreements"] as? [[String: String]] ?? []).map {
            "\($0["why"] ?? ""): \($0["packet"] ?? ""): iptables \($0["iptables"] ?? ""), XDP \($0["xdp"] ?? "")"
        }
        XCTAssertNotNil(v, "\(url.lastPathComponent): no verification in the report: \(r.stderr)")
        return o
    }

    /// The corpus's IPv4 rulesets the kernel's own iptables-restore accepts (in a namespace,
    /// with the sets they name), each with a sets file: the companion `.ipset` where there is
    /// one, plus empty sets for the names no file defines (iptables-restore needs them).
    func corpusRulesets(tmp: URL) throws -> [(URL, URL?)] {
        guard let corpus = Fixtures.corpus else {
            print("../shared/corpus is absent: verifying fixtures only")
            return []
        }
        var out: [(URL, URL?)] = []
        for url in Fixtures.files(in: corpus, suffix: ".rules") where !url.lastPathComponent.hasSuffix(".v6.rules") {
            let text = Fixtures.text(url)
            let companion = url.deletingPathExtension().appendingPathExtension("ipset")
            var setsText = FileManager.default.fileExists(atPath: companion.path) ? Fixtures.text(companion) : ""
            if !setsText.isEmpty && !setsText.hasSuffix("\n") { setsText += "\n" }
            // The kernel decides what it accepts, not our parser.
            let ns = try NetworkNamespace(prefix: "ebpt-vchk")
            if !setsText.isEmpty { ns.run(["ipset", "restore"], stdin: setsText) }
            ns.createSets(referencedBy: text)
            let check = ns.run(["iptables-restore", "--test"], stdin: text)
            guard check.status == 0 else {
                print("migrate --verify: \(url.lastPathComponent): the kernel's iptables-restore refuses it: \(check.stderr.split(separator: "\n").first ?? "")")
                continue
            }
            guard let rs = try? RestoreParser.parse(text, options: .init()) else {
                XCTFail("\(url.lastPathComponent): the kernel accepts it, our parser does not: migrate cannot read it")
                continue
            }
            var created = Set((try? IpsetParser.parse(setsText, file: companion.path))?.sets.map(\.name) ?? [])
            for table in rs.tables {
                for (name, dims) in Verification.referencedSets(table) where created.insert(name).inserted {
                    setsText += "create \(name) \(dims > 1 ? "hash:ip,port" : "hash:ip") family inet hashsize 1024 maxelem 65536\n"
                }
            }
            var sets: URL?
            if !setsText.isEmpty {
                let file = tmp.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".ipset")
                try Data(setsText.utf8).write(to: file)
                sets = file
            }
            out.append((url, sets))
        }
        return out
    }

    func share(_ part: Int, _ whole: Int) -> String { "\(part)/\(whole) (\(XDPShare(inXDP: part, total: whole).percent))" }

    /// Every fixture and every IPv4 corpus ruleset the kernel accepts: zero disagreements,
    /// every probe scored. Prints probes, agreements and the XDP share per file and in total.
    func testEveryRulesetVerifiesWithBothLayers() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-verify-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let sipSets = Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")
        var rulesets: [(URL, URL?)] = ["sip-edge.rules", "differential.rules", "kitchen-sink.rules"].map {
            (Fixtures.fixtures.appendingPathComponent("rulesets/\($0)"), sipSets)
        }
        rulesets += try corpusRulesets(tmp: tmp)
        var total = Outcome()
        let started = Date()
        for (url, sets) in rulesets {
            let o = try verify(url, sets: sets)
            let name = url.lastPathComponent
            XCTAssertEqual(o.status, 0, "\(name): \(o.stderr)")
            XCTAssertGreaterThanOrEqual(o.probes, 200, name)
            XCTAssertEqual(o.disagreements, [], name)
            XCTAssertEqual(o.agreements, o.probes, "\(name): every probe is scored")
            XCTAssertLessThanOrEqual(o.xdpDrops, o.kernelDrops, name)
            print("migrate --verify: \(name): \(o.probes) probes, \(o.agreements) agree, XDP share \(share(o.xdpDrops, o.kernelDrops))")
            total.probes += o.probes
            total.agreements += o.agreements
            total.kernelDrops += o.kernelDrops
            total.xdpDrops += o.xdpDrops
        }
        print("migrate --verify: \(rulesets.count) rulesets, \(total.probes) probes, \(total.agreements) agree, "
              + "XDP share \(share(total.xdpDrops, total.kernelDrops)), \(Int(Date().timeIntervalSince(started))) s")
        XCTAssertGreaterThanOrEqual(rulesets.count, 3)
        // The share is measured, not assumed: some XDP drops must be there to compare.
        XCTAssertGreaterThan(total.xdpDrops, 0)
    }

    /// With --xdp-only XDP also accepts alone: its accepts must match the kernel's too.
    func testXDPOnlyVerifiesAcceptsToo() throws {
        let o = try verify(Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules"),
                           sets: Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset"), extra: ["--xdp-only"])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertEqual(o.disagreements, [])
        XCTAssertEqual(o.agreements, o.probes)
        print("migrate --verify --xdp-only: sip-edge.rules: \(o.probes) probes, \(o.agreements) agree, XDP share \(share(o.xdpDrops, o.kernelDrops))")
    }

    func testAWrongXDPSideIsCaughtAndNamed() throws {
        let o = try verify(Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules"),
                           sets: Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset"),
                           env: ["EBPF_IPTABLES_VERIFY_SABOTAGE": "1"])
        XCTAssertEqual(o.status, 1)
        XCTAssertFalse(o.disagreements.isEmpty)
        // The report names the rule iptables applied and the one XDP applied instead.
        XCTAssertTrue(o.disagreements.allSatisfy {
            $0.hasPrefix("XDP drops a packet the kernel accepts") && $0.contains("iptables SIP 3 (accept), accepted") && $0.contains("XDP INPUT 13 (drop)")
        }, o.disagreements.joined(separator: "\n"))
    }
}

/// How a probe's answers are scored, without a kernel: the cases the verification must tell apart.
final class VerificationScoringTests: XCTestCase {
    let ssh = Decision(.rule(table: "filter", chain: "INPUT", index: 3), .drop)
    let peers = Decision(.rule(table: "filter", chain: "SIP", index: 1), .accept)
    let policyDrop = Decision(.policy(table: "filter", chain: "INPUT"), .drop)

    func testOnlyWhatXDPDecidesCanDisagree() {
        // XDP passes: the kernel decides, whatever it decides.
        XCTAssertNil(Scoring.disagreement(xdp: XDPAnswer(dropped: false, decision: nil), kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: false))
        XCTAssertNil(Scoring.disagreement(xdp: XDPAnswer(dropped: false, decision: nil), kernel: KernelAnswer(accepted: true, decision: peers), xdpOnly: false))
        // XDP drops by the kernel's rule: agreement.
        XCTAssertNil(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: false))
        // XDP drops what the kernel accepts.
        XCTAssertEqual(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: true, decision: peers), xdpOnly: false),
                       "XDP drops a packet the kernel accepts")
        // Both drop, by different rules: the counters would differ.
        XCTAssertEqual(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: false, decision: policyDrop), xdpOnly: false),
                       "XDP drops it by another rule than the kernel")
        // ... unless one of them is a rule XDP draws for (statistic random): each side drew.
        XCTAssertNil(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: false, decision: policyDrop),
                                          xdpOnly: false, drawn: [ssh.decider]))
        XCTAssertNil(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: policyDrop), kernel: KernelAnswer(accepted: false, decision: ssh),
                                          xdpOnly: false, drawn: [ssh.decider]))
        XCTAssertEqual(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: true, decision: peers),
                                            xdpOnly: false, drawn: [ssh.decider]), "XDP drops a packet the kernel accepts")
        // A drop no DROP position counted.
        XCTAssertNotNil(Scoring.disagreement(xdp: XDPAnswer(dropped: true, decision: nil), kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: false))
    }

    func testXDPOnlyAcceptsMustMatch() {
        let xdpAccepts = XDPAnswer(dropped: false, decision: peers)
        XCTAssertNil(Scoring.disagreement(xdp: xdpAccepts, kernel: KernelAnswer(accepted: true, decision: peers), xdpOnly: true))
        XCTAssertEqual(Scoring.disagreement(xdp: xdpAccepts, kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: true),
                       "XDP alone accepts a packet the kernel drops")
        // Without --xdp-only an accept only passes the packet up: the kernel decides it.
        XCTAssertNil(Scoring.disagreement(xdp: xdpAccepts, kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: false))
    }

    func testTheShareCountsAgreeingXDPDrops() {
        var s = Scoring()
        s.add(packet: "a", xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: false, decision: ssh), xdpOnly: false)
        s.add(packet: "b", xdp: XDPAnswer(dropped: false, decision: nil), kernel: KernelAnswer(accepted: false, decision: policyDrop), xdpOnly: false)
        s.add(packet: "c", xdp: XDPAnswer(dropped: false, decision: nil), kernel: KernelAnswer(accepted: true, decision: peers), xdpOnly: false)
        s.add(packet: "d", xdp: XDPAnswer(dropped: true, decision: ssh), kernel: KernelAnswer(accepted: true, decision: peers), xdpOnly: false)
        XCTAssertEqual(s.probes, 4)
        XCTAssertEqual(s.agreements, 3)
        XCTAssertEqual(s.kernelDrops, 2)
        XCTAssertEqual(s.xdpDrops, 1)
        XCTAssertEqual(s.disagreements.map(\.packet), ["d"])
        XCTAssertEqual(s.disagreements.first?.iptables, "SIP 1 (accept), accepted")
        XCTAssertEqual(s.disagreements.first?.xdp, "INPUT 3 (drop)")
        XCTAssertEqual(s.verification.share, XDPShare(inXDP: 1, total: 2))
    }

    /// The kernel's deciding rule is read along the packet's way: a jump followed only when
    /// its counter moved, a rule a reply moved in OUTPUT ignored, the policy when INPUT ends.
    func testKernelWalkFollowsThePacketsWay() throws {
        let rs = try RestoreParser.parse("""
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :SIP - [0:0]
        -A INPUT -p udp --dport 5060 -j SIP
        -A INPUT -p tcp --dport 22 -j ACCEPT
        -A OUTPUT -j ACCEPT
        -A SIP -s 192.0.2.1 -j LOG
        -A SIP -s 192.0.2.1 -j ACCEPT
        COMMIT

        """, options: .init())
        func counters(_ input: [UInt64], _ output: [UInt64], _ sip: [UInt64], policy: UInt64) -> KernelCounters {
            KernelCounters.parse("*filter\n:INPUT DROP [\(policy):0]\n:OUTPUT ACCEPT [0:0]\n"
                                 + input.map { "[\($0):0] -A INPUT -x\n" }.joined() + output.map { "[\($0):0] -A OUTPUT -x\n" }.joined()
                                 + sip.map { "[\($0):0] -A SIP -x\n" }.joined() + "COMMIT\n")
        }
        let zero = counters([0, 0], [0], [0, 0], policy: 0)
        XCTAssertEqual(KernelWalk(ruleset: rs, before: zero, after: counters([1, 0], [1], [1, 1], policy: 0)).decision(),
                       Decision(.rule(table: "filter", chain: "SIP", index: 2), .accept))
        // Into SIP and back out (its rules did not match), then the policy; OUTPUT moved for a reply.
        XCTAssertEqual(KernelWalk(ruleset: rs, before: zero, after: counters([1, 0], [1], [0, 0], policy: 1)).decision(), policyDrop)
        XCTAssertEqual(KernelWalk(ruleset: rs, before: zero, after: counters([0, 1], [0], [0, 0], policy: 0)).decision(),
                       Decision(.rule(table: "filter", chain: "INPUT", index: 2), .accept))
        // Nothing in filter INPUT moved: the kernel dropped it before, and no rule says so.
        XCTAssertNil(KernelWalk(ruleset: rs, before: zero, after: counters([0, 0], [1], [1, 1], policy: 0)).decision())
    }
}
