import Foundation
import TestSupport
import XCTest

/// The agent saves after every change it makes, before it answers: edits through the agent
/// (the CLI forwards to its control socket), a kill -9 right after an acknowledged edit,
/// then a reboot: everything acknowledged is back.
final class PersistenceAgentTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    func testEditsThroughTheAgentAreSavedBeforeTheyAreAcknowledged() throws {
        let lab = try RebootLab("pa")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        XCTAssertEqual(lab.ours(["restore", "--ipset", try lab.write(RebootTests.sets, "sets"), try lab.write(RebootTests.rules, "rules")],
                                alone: true).status, 0)
        try lab.startServeAndWait()
        guard FileManager.default.fileExists(atPath: lab.state + "/agent.sock") else {
            throw XCTSkip("no control socket in this build: the CLI cannot reach the agent, whose saving this test is about")
        }
        // The start saved everything whole.
        XCTAssertTrue(try String(contentsOfFile: lab.config + "/ipsets", encoding: .utf8).contains("add bad 198.18.5.5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.config + "/ipsets.journal"))

        var r = lab.ours(["-A", "INPUT", "-s", "198.18.12.0/24", "-j", "DROP"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8).contains("-A INPUT -s 198.18.12.0/24 -j DROP"))
        for i in 1...30 {
            r = lab.ours(["add", "bad", "198.18.13.\(i)"], tool: "ebpf-ipset")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        r = lab.ours(["del", "bad", "198.18.13.7"], tool: "ebpf-ipset")
        XCTAssertEqual(r.status, 0, r.stderr)
        let journal = (try? String(contentsOfFile: lab.config + "/ipsets.journal", encoding: .utf8)) ?? ""
        XCTAssertEqual(journal.split(separator: "\n").count, 1 + 31, journal)
        r = lab.ours(["create", "later", "hash:ip"], tool: "ebpf-ipset")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.config + "/ipsets.journal"), "a whole save folds the journal")
        // The last acknowledged edit, then kill -9 at once.
        r = lab.ours(["add", "bad", "198.18.14.1"], tool: "ebpf-ipset")
        XCTAssertEqual(r.status, 0, r.stderr)
        lab.kill(SIGKILL)
        let before = lab.kernelState()
        XCTAssertTrue(before.contains("add bad 198.18.14.1"))

        try lab.reboot()
        try lab.startServeAndWait()
        XCTAssertEqual(lab.kernelState(), before, "every acknowledged edit is back after the reboot")
        let s = try lab.sender()
        XCTAssertTrue(try lab.xdpDrops(s, from: labAddress("198.18.14.1")), lab.ours(["status", "-v"]).stdout + lab.logText())
        XCTAssertTrue(try lab.xdpDrops(s, from: labAddress("198.18.12.9")))
        XCTAssertFalse(try lab.xdpDrops(s, from: labAddress("198.18.13.7")))
        lab.kill(SIGTERM)
    }
}
