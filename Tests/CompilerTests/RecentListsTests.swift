@testable import Compiler
import IptParse
import XCTest

/// Which recent lists XDP keeps (RecentLists, docs/recent.md) and how their rules lower.
final class RecentListsTests: XCTestCase {
    func compile(_ body: String, options: CompileOptions = CompileOptions()) throws -> CompileResult {
        let rs = try RestoreParser.parse("*filter\n" + body + "\nCOMMIT\n", options: .init(file: "t.rules"))
        return Compiler.compile(rs, interface: "eth0", options: options)
    }

    func recentTests(_ r: CompileResult) -> [RecentTest] {
        r.tables.fallback.flatMap { $0.ext }.compactMap { if case .recent(let t) = $0 { t } else { nil } }
    }

    static let sip = """
    :INPUT ACCEPT [0:0]
    -A INPUT -p udp --dport 5060 -m recent --set --name SIP
    -A INPUT -p udp --dport 5060 -m recent --update --seconds 60 --hitcount 4 --name SIP -j DROP
    """

    /// The SIP scanner pattern: the --set rule acts and lets the walk go on; the --update
    /// rule drops in XDP; both name the same list and ring.
    func testSIPScannerPatternIsXDPs() throws {
        let r = try compile(Self.sip)
        let tests = recentTests(r)
        XCTAssertEqual(tests.count, 2)
        XCTAssertEqual(tests.map(\.command), [.set, .update])
        // The --set rule is a CONTINUE position: its test answers as the kernel's (no act-only no).
        XCTAssertEqual(tests.map(\.actOnly), [false, false])
        XCTAssertEqual(tests.map(\.name), ["SIP", "SIP"])
        XCTAssertEqual(tests[1].seconds, 60)
        XCTAssertEqual(tests[1].hitcount, 4)
        XCTAssertEqual(tests[0].listHitcounts, [0, 4])
        XCTAssertEqual(RecentTest.ringMask(hitcounts: tests[0].listHitcounts, ipPktListTot: 0), 31)
        XCTAssertEqual(RecentTest.ringMask(hitcounts: [4], ipPktListTot: 0), 3)
        XCTAssertEqual(RecentTest.ringMask(hitcounts: [4], ipPktListTot: 20), 31)
        XCTAssertEqual(r.report.rules[1].status.layer, .xdp)
        // The --set rule continues in XDP, which acts on the list and counts it.
        XCTAssertEqual(r.report.rules[0].status, .xdp(.continues(.recent("SIP"), .fallback(entries: 1))))
        // Two instances: the per-packet memo keeps them apart.
        XCTAssertNotEqual(tests[0].instance, tests[1].instance)
    }

    func testFormsLeftToTheKernel() throws {
        let cases: [(String, String)] = [
            ("-A INPUT -m recent --name L --rcheck --rttl -j DROP", "--rttl"),
            ("-A INPUT -m recent --name L --remove", "--remove"),
            ("-A INPUT -m recent --name L --rcheck --seconds 9 --reap -j DROP\n-A INPUT -m recent --name L --rcheck --seconds 20 -j DROP", "--reap"),
            ("-A INPUT -m recent --name L ! --rcheck -j DROP", "! --rcheck"),
            ("-A INPUT -m recent --name L --rcheck -j ACCEPT", "-j ACCEPT"),
            ("-A INPUT -m recent --name L --rcheck -j LOG", "target LOG"),
            ("-A INPUT -m recent --name L --set -p udp -m udp --dport 5", "a match after -m recent"),
        ]
        for (rule, word) in cases {
            let r = try compile(":INPUT ACCEPT [0:0]\n" + rule)
            XCTAssertTrue(recentTests(r).isEmpty, rule)
            XCTAssertEqual(r.report.rules[0].status.layer, .kernel, rule)
            // A rule without a target reports that it only counts (that reason comes first).
            let detail = r.report.rules[0].status.detail
            XCTAssertTrue(detail.contains(word) || (rule.hasSuffix("--remove") || rule.hasSuffix("5")) && detail.contains("counts"), "\(rule): \(detail)")
        }
    }

    /// --reap: left out where it changes no answer (every test counting hits on the list has
    /// a window no longer than the shortest reaping one); otherwise the list is the kernel's.
    func testReapWhereItChangesNoAnswer() throws {
        let r = try compile("""
        :INPUT ACCEPT [0:0]
        -A INPUT -p udp --dport 5060 -m recent --set --name S
        -A INPUT -p udp --dport 5060 -m recent --rcheck --seconds 60 --reap --hitcount 3 --name S -j DROP
        -A INPUT -p udp --dport 5061 -m recent --update --seconds 30 --name S -j DROP
        """)
        XCTAssertEqual(recentTests(r).map(\.command), [.set, .rcheck, .update])
        XCTAssertEqual(r.report.rules.map(\.status.layer), [.xdp, .xdp, .xdp])

        XCTAssertNil(RecentLists.reapRefusal(reapSeconds: 60, checkSeconds: [60, 1]))
        XCTAssertNil(RecentLists.reapRefusal(reapSeconds: 60, checkSeconds: []))
        XCTAssertNotNil(RecentLists.reapRefusal(reapSeconds: 60, checkSeconds: [61]))
        XCTAssertNotNil(RecentLists.reapRefusal(reapSeconds: 60, checkSeconds: [0]))
        // Two reaping tests: the shorter window is the one every test must fit in.
        let two = try compile("""
        :INPUT ACCEPT [0:0]
        -A INPUT -m recent --rcheck --seconds 60 --reap --name S -j DROP
        -A INPUT -m recent --rcheck --seconds 10 --reap --name S -j DROP
        """)
        XCTAssertEqual(two.report.rules.map(\.status.layer), [.kernel, .kernel])
        XCTAssertTrue(two.report.rules[0].status.detail.contains("--seconds 60"), two.report.rules[0].status.detail)
    }

    /// --rttl: XDP's copy holds the TTL of the last packet iptables recorded, the kernel's the
    /// last one XDP passed. Evaluated in XDP only after a bare `--set` of the list in the same
    /// chain (the kvmpbx ICMPFLOOD pattern, without its LOG rule): both copies then hold the
    /// packet's own TTL. Without it, or with the --set behind a test, another side or another
    /// list, the list stays the kernel's.
    func testRTTLAfterABareSetInTheChain() throws {
        func flood(_ set: String) -> String {
            """
            :INPUT DROP [0:0]
            :ICMPFLOOD - [0:0]
            -A INPUT -p icmp -m icmp --icmp-type 8 -j ICMPFLOOD
            -A ICMPFLOOD \(set)
            -A ICMPFLOOD -m recent --update --seconds 1 --hitcount 6 --rttl --name ICMP --mask 255.255.255.255 --rsource -j DROP
            -A ICMPFLOOD -j ACCEPT
            """
        }
        let ok = try compile(flood("-m recent --set --name ICMP --mask 255.255.255.255 --rsource"))
        let tests = recentTests(ok)
        XCTAssertEqual(tests.map(\.command), [.set, .update])
        XCTAssertEqual(tests.map(\.rttl), [false, true])
        let update = ok.report.rules.first { $0.ref.chain == "ICMPFLOOD" && $0.ref.index == 2 }
        XCTAssertEqual(update?.status.layer, .xdp, update?.status.detail ?? "")
        XCTAssertEqual(ok.report.rules.first { $0.ref.chain == "ICMPFLOOD" && $0.ref.index == 3 }?.status.layer, .xdp)

        for (set, why) in [("-m comment --comment x", "no --set"),
                           ("-p icmp -m recent --set --name ICMP", "a test before the --set"),
                           ("-m recent --set --name ICMP --rdest", "the other side"),
                           ("-m recent --set --name OTHER", "another list")] {
            let r = try compile(flood(set))
            XCTAssertFalse(recentTests(r).contains { $0.name == "ICMP" }, why)
            let detail = r.report.rules.first { $0.ref.chain == "ICMPFLOOD" && $0.ref.index == 2 }?.status.detail ?? ""
            XCTAssertTrue(detail.contains("--rttl"), "\(why): \(detail)")
        }
        // --set after the --rttl rule: the entry holds the previous packet's TTL.
        let after = try compile("""
            :INPUT DROP [0:0]
            :ICMPFLOOD - [0:0]
            -A INPUT -p icmp -j ICMPFLOOD
            -A ICMPFLOOD -m recent --rcheck --seconds 1 --hitcount 6 --rttl --name ICMP -j DROP
            -A ICMPFLOOD -m recent --set --name ICMP
            -A ICMPFLOOD -j ACCEPT
            """)
        XCTAssertTrue(recentTests(after).isEmpty)
    }

    /// One rule of a list that runs in the kernel (here: FORWARD uses it) keeps every rule of
    /// the list there: XDP's copy would miss that rule's updates.
    func testListUsedOutsideINPUTStaysInKernel() throws {
        let r = try compile(Self.sip + "\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m recent --set --name SIP")
        XCTAssertTrue(recentTests(r).isEmpty)
        XCTAssertTrue(r.report.rules[1].status.detail.contains("outside what filter INPUT reaches"), r.report.rules[1].status.detail)
    }

    /// A KERNEL position before the list's rules (a LOG) stops XDP's walk where iptables goes
    /// on to update the list: refused. One for another protocol does not matter.
    func testKernelPositionBeforeTheList() throws {
        let before = try compile(":INPUT ACCEPT [0:0]\n-A INPUT -p udp -j LOG\n" + Self.sip.split(separator: "\n").dropFirst().joined(separator: "\n"))
        XCTAssertTrue(recentTests(before).isEmpty)
        let otherProto = try compile(":INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j LOG\n" + Self.sip.split(separator: "\n").dropFirst().joined(separator: "\n"))
        XCTAssertEqual(recentTests(otherProto).count, 2)
        // A conntrack test before: certain for UDP, so the list stays XDP's.
        let ct = try compile(":INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n" + Self.sip.split(separator: "\n").dropFirst().joined(separator: "\n"))
        XCTAssertEqual(recentTests(ct).count, 2)
        // ... but not for ICMP (echo requests are uncertain to the program).
        let icmp = try compile("""
        :INPUT ACCEPT [0:0]
        -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
        -A INPUT -p icmp -m recent --set --name ICMP
        -A INPUT -p icmp -m recent --update --seconds 1 --hitcount 6 --name ICMP -j DROP
        """)
        XCTAssertTrue(recentTests(icmp).isEmpty)
    }

    func testDifferentMasksStayInKernel() throws {
        let r = try compile("""
        :INPUT ACCEPT [0:0]
        -A INPUT -m recent --set --name M --mask 255.255.255.0
        -A INPUT -m recent --rcheck --name M -j DROP
        """)
        XCTAssertTrue(recentTests(r).isEmpty)
    }

    /// kvmpbx's ICMPFLOOD chain (--rttl, a LOG with limit, reached through a ctstate jump for
    /// ICMP): its list stays the kernel's, and the report says why.
    func testCorpusICMPFloodStaysInKernel() throws {
        let r = try compile("""
        :INPUT DROP [0:0]
        :ICMPFLOOD - [0:0]
        -A INPUT -p icmp -m icmp --icmp-type 8 -m conntrack --ctstate NEW -j ICMPFLOOD
        -A ICMPFLOOD -m recent --set --name ICMP --mask 255.255.255.255 --rsource
        -A ICMPFLOOD -m recent --update --seconds 1 --hitcount 6 --rttl --name ICMP --mask 255.255.255.255 --rsource -m limit --limit 1/sec --limit-burst 1 -j LOG --log-prefix "iptables[ICMP-flood]: "
        -A ICMPFLOOD -m recent --update --seconds 1 --hitcount 6 --rttl --name ICMP --mask 255.255.255.255 --rsource -j DROP
        -A ICMPFLOOD -j ACCEPT
        """)
        XCTAssertTrue(recentTests(r).isEmpty)
        // Not for --rttl (the bare --set before makes it exact) but for rule 2's LOG: a logged
        // packet goes up and meets the kernel's lagging copy at rule 3 (docs/recent.md).
        let detail = r.report.rules[3].status.detail
        XCTAssertTrue(detail.contains("ICMPFLOOD rule 2"), detail)
        XCTAssertFalse(detail.contains("--rttl"), detail)
    }

    func testListIDIsFNV1a() {
        XCTAssertEqual(RecentTest.listID(""), 0x811c_9dc5)
        XCTAssertEqual(RecentTest.listID("a"), 0xe40c_292c)
    }

    /// More stateful tests than the per-packet memo holds: lists go back to the kernel,
    /// largest first, until the rest fit.
    func testTooManyInstances() throws {
        var body = ":INPUT ACCEPT [0:0]\n"
        // SMALL first: BIG's rules, back in the kernel, then come after SMALL's (before them
        // they would stop XDP's walk, and SMALL would have to go too).
        for i in 0..<30 { body += "-A INPUT -p udp --dport \(2000 + i) -m recent --rcheck --name SMALL -j DROP\n" }
        for i in 0..<40 { body += "-A INPUT -p udp --dport \(1000 + i) -m recent --rcheck --name BIG -j DROP\n" }
        let r = try compile(body)
        let names = Set(recentTests(r).map(\.name))
        XCTAssertEqual(names, ["SMALL"])
        XCTAssertTrue(r.report.rules[30].status.detail.contains("more than 64 stateful tests"), r.report.rules[30].status.detail)
    }
}
