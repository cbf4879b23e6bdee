import Compiler
import IptParse
@testable import Runtime
import XCTest

/// Edit ordering without root: every command through the firewall, the fakes checking at
/// every single change of either layer that XDP never drops what the kernel accepts, and
/// after every command that XDP runs exactly what the kernel holds.
final class TwoLayerEditTests: XCTestCase {
    static let base = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :SIP - [0:0]
        -A INPUT -p tcp -m tcp --dport 22 -s 10.0.0.0/8 -j ACCEPT
        -A INPUT -p udp -m udp --dport 5060 -j SIP
        -A INPUT -s 203.0.113.9/32 -j DROP
        -A INPUT -p icmp -j ACCEPT
        -A SIP -m set --match-set peers src -j ACCEPT
        -A SIP -m set --match-set banned src -j DROP
        COMMIT

        """

    static let sets = """
        create peers hash:ip family inet hashsize 1024 maxelem 65536
        add peers 192.0.2.1
        create banned hash:net family inet hashsize 1024 maxelem 65536
        add banned 198.51.100.0/24

        """

    func restored() throws -> World {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: Self.base, source: "base.rules", setFiles: [("sets", Self.sets)])
        req.options = CompileOptions()
        let r = try w.firewall.restore(req)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(w.exact(), "after restore")
        return w
    }

    func run(_ w: World, _ argv: String, status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try w.firewall.iptables(argv.split(separator: " ").map(String.init), family: .ipv4)
        XCTAssertEqual(r.status, status, "\(argv): \(r.stderr)", file: file, line: line)
        XCTAssertTrue(w.exact(), "after \(argv)", file: file, line: line)
    }

    func testRuleEditsNeverDropWhatTheKernelAccepts() throws {
        let w = try restored()
        for cmd in [
            "-I INPUT 1 -s 192.0.2.2 -j ACCEPT",          // loosens
            "-I INPUT 2 -s 192.0.2.1 -j DROP",            // tightens
            "-R INPUT 2 -s 192.0.2.3 -j DROP",
            "-D INPUT 1",
            "-D INPUT -s 192.0.2.3/32 -j DROP",
            "-P INPUT ACCEPT",
            "-A INPUT -p tcp -m tcp --dport 80 -j DROP",  // tightens at the end (fast path)
            "-P INPUT DROP",
            "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT", // loosens at the end (fast path)
            "-N EXTRA",
            "-A EXTRA -p tcp -j DROP",
            "-I INPUT 1 -s 10.9.9.9 -j EXTRA",
            "-F EXTRA",
            "-D INPUT 1",
            "-X EXTRA",
            "-E SIP VOIP",
            "-F INPUT",
        ] {
            try run(w, cmd)
        }
        XCTAssertEqual(w.violations, [])
        print("rule edits: \(w.checked) instants checked, \(w.probes.count) probes each, 0 violations")
        XCTAssertGreaterThan(w.checked, 50)
    }

    func testSetEditsNeverDropWhatTheKernelAccepts() throws {
        let w = try restored()
        for cmd in ["add peers 192.0.2.2", "add banned 203.0.113.0/24", "del peers 192.0.2.1", "add peers 10.9.9.9",
                    "del banned 198.51.100.0/24", "flush peers", "add peers 192.0.2.3", "add peers 198.51.100.7"] {
            let r = try w.firewall.ipset(cmd.split(separator: " ").map(String.init), stdin: nil)
            XCTAssertEqual(r.status, 0, "\(cmd): \(r.stderr)")
            XCTAssertTrue(w.exact(), "after \(cmd)")
        }
        XCTAssertEqual(w.violations, [])
        print("set edits: \(w.checked) instants checked, 0 violations")
    }

    func testOneMemberEditRunsTheKernelToolAloneWithoutAReadBack() throws {
        let w = try restored()
        for cmd in ["add peers 192.0.2.2", "del peers 192.0.2.2", "add banned 203.0.113.7", "del banned 203.0.113.7"] {
            let before = w.kernel.log.count
            let r = try w.firewall.ipset(cmd.split(separator: " ").map(String.init), stdin: nil)
            XCTAssertEqual(r.status, 0, "\(cmd): \(r.stderr)")
            // The member's own entries are written; reading the whole set back (`ipset save`)
            // and recompiling would make every edit grow with the set.
            XCTAssertEqual(Array(w.kernel.log[before...]), ["ipset " + cmd], "\(cmd): the fast path, not a whole recompile")
            XCTAssertTrue(w.exact(), "after \(cmd)")
        }
        XCTAssertEqual(w.violations, [])
    }

    func testAppendReadsNoSetBack() throws {
        let w = try restored()
        let before = w.kernel.log.count
        try run(w, "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT")
        // The sets' definitions come from our copy: `ipset save` of a large set would make
        // every append grow with the set.
        XCTAssertEqual(Array(w.kernel.log[before...]), ["iptables -A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT"])
        XCTAssertEqual(w.violations, [])
    }

    func testAppendGoesFirstOnlyWhenItLoosens() throws {
        let w = try restored()
        var order: [String] = []
        w.kernel.onChange = { order.append("kernel"); w.check("kernel changed") }
        w.xdp.onChange = { order.append("xdp"); w.check("xdp changed") }
        try run(w, "-A INPUT -s 192.0.2.2 -j ACCEPT")
        XCTAssertEqual(order.first, "xdp", "an ACCEPT behind a DROP policy: XDP must pass it before the kernel does")
        try run(w, "-P INPUT ACCEPT")
        order = []
        try run(w, "-A INPUT -s 192.0.2.3 -j DROP")
        XCTAssertEqual(order.first, "kernel", "a DROP behind an ACCEPT policy: XDP may drop only once the kernel does")
        XCTAssertEqual(w.violations, [])
    }

    func testRefusedCommandLeavesXDPExact() throws {
        let w = try restored()
        w.kernel.refuse = { $0.contains("192.0.2.2") }
        try run(w, "-I INPUT 1 -s 192.0.2.2 -j ACCEPT", status: 1)
        try run(w, "-A INPUT -s 192.0.2.2 -j ACCEPT", status: 1) // XDP went first, then had to go back
        XCTAssertEqual(w.violations, [])
        XCTAssertNil(w.firewall.store.read(w.firewall.store.paths.eventsFile), "a refusal is not a surprise")
    }

    func testChangeBehindOurBackIsRecompiled() throws {
        let w = try restored()
        // Someone runs the kernel's own iptables: XDP cannot know until our next command.
        w.kernel.onChange = {}
        _ = w.kernel.iptables(.ipv4, ["-I", "INPUT", "1", "-s", "198.51.100.7", "-j", "ACCEPT"])
        w.kernel.onChange = { w.check("kernel changed") }
        try run(w, "-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT")
        XCTAssertTrue(w.firewall.store.read(w.firewall.store.paths.eventsFile)?.contains("changed outside") ?? false)
    }

    func testInterruptedChangeIsSafeAndRecovered() throws {
        let w = try restored()
        // The kernel took the change, then the data plane failed: XDP must be left passing.
        w.xdp.failOnActivate = 1
        XCTAssertThrowsError(try w.firewall.iptables(["-I", "INPUT", "1", "-s", "10.1.2.3", "-j", "DROP"], family: .ipv4))
        XCTAssertTrue(w.xdp.passAll, "after a failure half-way, XDP passes everything")
        w.check("after the failure")
        XCTAssertEqual(w.violations, [])
        w.xdp.failOnActivate = nil
        try run(w, "-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT")
        XCTAssertTrue(w.firewall.store.read(w.firewall.store.paths.eventsFile)?.contains("interrupted") ?? false)
    }

    func testATransitionLeftByAKilledCommandIsEnded() throws {
        let w = try restored()
        // kill -9 between beginTransition and activate: the transition stays on.
        w.xdp.generations[Int(1 - w.xdp.live)] = w.xdp.generations[Int(w.xdp.live)]
        w.xdp.both = true
        try run(w, "-I INPUT 1 -s 10.1.2.3 -j ACCEPT")
        XCTAssertFalse(w.xdp.both)
        XCTAssertTrue(w.firewall.store.read(w.firewall.store.paths.eventsFile)?.contains("interrupted") ?? false)
        XCTAssertEqual(w.violations, [])
        let r = try w.firewall.ipset(["add", "peers", "10.9.9.9"], stdin: nil)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(w.exact())
    }

    func testCountersSurviveAGenerationRewriteAndZero() throws {
        let w = try restored()
        let banned = PacketFacts(source: World.address("198.51.100.7"), destination: World.address("198.18.0.1"), proto: 17,
                                 ports: .init(source: 1, destination: 5060))
        for _ in 0..<5 { w.xdp.send(banned) }
        try run(w, "-I INPUT 1 -s 192.0.2.2 -j ACCEPT") // rewrites the generation
        for _ in 0..<2 { w.xdp.send(banned) }
        let saved = try w.firewall.save(family: .ipv4, counters: true, table: nil)
        XCTAssertTrue(saved.stdout.contains("[7:700] -A SIP -m set --match-set banned src -j DROP"), saved.stdout)
        try run(w, "-Z SIP")
        let after = try w.firewall.save(family: .ipv4, counters: true, table: nil)
        XCTAssertTrue(after.stdout.contains("[0:0] -A SIP -m set --match-set banned src -j DROP"), after.stdout)
    }
}
