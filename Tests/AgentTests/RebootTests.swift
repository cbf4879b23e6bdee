import Foundation
import TestSupport
import XCTest

/// The reboot scenario of issue 11: pins gone, state and config kept, kernel tables empty.
final class RebootTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    static let sets = """
        create bad hash:ip family inet hashsize 1024 maxelem 65536
        add bad 198.18.5.5
        add bad 198.18.5.6
        create good hash:net family inet hashsize 1024 maxelem 65536
        add good 198.18.7.0/24

        """

    static let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set bad src -j DROP
        -A INPUT -s 198.18.9.0/24 -j DROP
        -A INPUT -m set --match-set good src -j ACCEPT
        COMMIT

        """

    static let rules6 = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -s 2001:db8::/32 -j DROP
        COMMIT

        """

    /// The firewall before: XDP attached, a ruleset with sets, both families. Saved with
    /// `save --persist` (the CLI alone). Then the reboot, then `serve`: everything back in
    /// both layers, traffic checked; the CLI's commands of the issue work.
    func testServeAfterARebootBringsTheSavedRulesetBackInBothLayers() throws {
        let lab = try RebootLab("rb")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let setsPath = try lab.write(Self.sets, "sets"), rulesPath = try lab.write(Self.rules, "rules"), v6 = try lab.write(Self.rules6, "rules6")
        var r = lab.ours(["restore", "--ipset", setsPath, rulesPath], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = lab.ours(["restore", "-6", v6], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = lab.ours(["save", "--persist"], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "", "save --persist prints nothing on stdout")
        XCTAssertTrue(r.stderr.contains("attached to rx0"), r.stderr)
        // `save` still prints iptables-save text.
        XCTAssertTrue(lab.ours(["save"], alone: true).stdout.contains("-A INPUT -m set --match-set bad src -j DROP"))
        let before = lab.kernelState()
        var sender = try lab.sender()
        XCTAssertTrue(try lab.xdpDrops(sender, from: labAddress("198.18.5.5")), "XDP drops a member of bad before")
        XCTAssertTrue(try lab.xdpDrops(sender, from: labAddress("198.18.9.1")), "XDP drops 198.18.9.0/24 before")
        XCTAssertFalse(try lab.xdpDrops(sender, from: labAddress("198.18.7.7")), "XDP passes a member of good before")

        try lab.reboot()
        // The measurements, before anything is restored: status does not fail, the
        // forgotten attachment does not block attach, -A does not need the old pins.
        r = lab.ours(["status"], alone: true)
        XCTAssertEqual(r.status, 0, "status after the reboot: \(r.stderr)")
        XCTAssertTrue(r.stdout.hasPrefix("not attached"), r.stdout)
        XCTAssertEqual(lab.kernelState().contains("match-set"), false, "a fresh namespace holds no rules")

        try lab.startServeAndWait()
        let log = lab.logText()
        XCTAssertTrue(log.contains("restore at start (the kernel's tables are empty)"), log)
        XCTAssertTrue(log.contains("attached to rx0"), log)
        XCTAssertEqual(lab.kernelState(), before, "the kernel holds what it held before the reboot")
        r = lab.ours(["status"])
        XCTAssertTrue(r.stdout.hasPrefix("attached to rx0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("3 of 3 filter INPUT rules decided in XDP"), r.stdout)
        sender = try lab.sender()
        XCTAssertTrue(try lab.xdpDrops(sender, from: labAddress("198.18.5.6")), "XDP drops a member of bad after the reboot")
        XCTAssertTrue(try lab.xdpDrops(sender, from: labAddress("198.18.9.200")), "XDP drops 198.18.9.0/24 after the reboot")
        XCTAssertFalse(try lab.xdpDrops(sender, from: labAddress("198.18.7.9")), "XDP passes a member of good after the reboot")
        // The kernel layer counts what XDP passed to it.
        XCTAssertTrue(lab.run(["iptables", "-nvxL", "INPUT"]).stdout.split(separator: "\n").contains { $0.contains("match-set good") && !$0.trimmingCharacters(in: .whitespaces).hasPrefix("0 ") })

        // -A works (no "open pinned program ... no such file").
        r = lab.ours(["-A", "INPUT", "-s", "198.18.10.0/24", "-j", "DROP"])
        XCTAssertEqual(r.status, 0, r.stderr)
        lab.kill(SIGTERM)
    }

    /// The way out before: detach then attach forgot the ruleset. Now detach keeps the
    /// saved files, and a reboot after detach brings the ruleset back without attaching.
    func testDetachNeverDestroysTheSavedRuleset() throws {
        let lab = try RebootLab("dt")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let setsPath = try lab.write(Self.sets, "sets"), rulesPath = try lab.write(Self.rules, "rules")
        XCTAssertEqual(lab.ours(["restore", "--ipset", setsPath, rulesPath], alone: true).status, 0)
        XCTAssertEqual(lab.ours(["save", "--persist"], alone: true).status, 0)
        let saved = try String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8)
        XCTAssertEqual(lab.ours(["detach", "rx0"], alone: true).status, 0)
        XCTAssertEqual(lab.ours(["-S"], alone: true).stdout.contains("match-set bad"), true, "detach leaves the kernel's ruleset")
        let r = lab.ours(["save", "--persist"], alone: true)
        XCTAssertTrue(r.stderr.contains("nothing attached"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8), saved)
        let before = lab.kernelState()
        try lab.reboot()
        try lab.startServeAndWait()
        XCTAssertEqual(lab.kernelState(), before)
        XCTAssertTrue(lab.ours(["status"]).stdout.hasPrefix("not attached"), "nothing is attached after a detach")
        lab.kill(SIGTERM)
    }
}
