import Foundation
import TestSupport
import XCTest

/// A saved file that fails to load never leaves the machine without a firewall.
final class PersistenceLastGoodTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    /// rules.v4 edited by hand into something the kernel refuses (as /etc/iptables/rules.v4
    /// gets edited), then a reboot: the last good ruleset loads, the failure is logged, the
    /// broken file is kept as rules.v4.failed, and the files then hold what runs.
    func testABrokenSavedFileLoadsTheLastGoodOne() throws {
        let lab = try RebootLab("lg")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        var r = lab.ours(["restore", "--ipset", try lab.write(RebootTests.sets, "sets"), try lab.write(RebootTests.rules, "rules")], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = lab.ours(["save", "--persist"], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: lab.config + "/rules.v4.last-good"))
        let before = lab.kernelState()
        let broken = """
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -m set --match-set nosuchset src -j DROP
            -A INPUT -p tcp --dport 70000 -j DROP
            COMMIT

            """
        try Data(broken.utf8).write(to: URL(fileURLWithPath: lab.config + "/rules.v4"))
        try lab.reboot()
        try lab.startServeAndWait()
        let log = lab.logText()
        XCTAssertTrue(log.contains("failed to load"), log)
        XCTAssertTrue(log.contains("loaded the last good IPv4 ruleset"), log)
        XCTAssertEqual(log.split(separator: "\n").filter { $0.contains("failed to load") }.count, 1, "one line per event: \(log)")
        XCTAssertEqual(lab.kernelState(), before, "the last good ruleset runs")
        XCTAssertEqual(try String(contentsOfFile: lab.config + "/rules.v4.failed", encoding: .utf8), broken)
        XCTAssertTrue(try String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8).contains("--match-set bad src -j DROP"),
                      "the files hold what runs again")
        XCTAssertTrue(try lab.xdpDrops(try lab.sender(), from: labAddress("198.18.5.5")))
        lab.kill(SIGTERM)
    }

    /// The agent restarted (the kernel holds a ruleset, the pins are there): nothing is
    /// replaced, even when the saved files say otherwise; the files follow what runs.
    func testARestartKeepsWhatTheKernelHolds() throws {
        let lab = try RebootLab("rs")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        XCTAssertEqual(lab.ours(["restore", "--ipset", try lab.write(RebootTests.sets, "sets"), try lab.write(RebootTests.rules, "rules")], alone: true).status, 0)
        XCTAssertEqual(lab.ours(["save", "--persist"], alone: true).status, 0)
        try lab.startServeAndWait()
        lab.kill(SIGKILL)
        // Changed while no agent runs, and not saved.
        XCTAssertEqual(lab.ours(["-A", "INPUT", "-s", "198.18.11.0/24", "-j", "DROP"], alone: true).status, 0)
        let running = lab.kernelState()
        let from = lab.logSize
        try lab.startServeAndWait()
        XCTAssertTrue(lab.logText(from: from).contains("the kernel already holds a ruleset"), lab.logText(from: from))
        XCTAssertEqual(lab.kernelState(), running)
        XCTAssertTrue(try String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8).contains("198.18.11.0/24"))
        XCTAssertTrue(lab.ours(["status"]).stdout.hasPrefix("attached to rx0"))
        lab.kill(SIGTERM)
    }
}
