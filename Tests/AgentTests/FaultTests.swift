import Foundation
import TestSupport
import XCTest

/// kill -9 of the process doing the work, then a start of the agent: the kernel holds the
/// old or the new ruleset (never a mix), XDP judges by what the kernel holds, and the saved
/// files equal what runs.
final class AgentFaultTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    static let members = 100_000
    static let firstMember = labAddress("198.19.0.1")

    static func bigSet(name: String = "big", first: UInt32) -> String {
        var s = "create \(name) hash:ip family inet hashsize 65536 maxelem 1000000\n"
        for i in 0..<UInt32(members) { s += "add \(name) \(Probe.dotted(first + i))\n" }
        return s
    }

    static let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set big src -j DROP
        -A INPUT -s 198.18.9.0/24 -j DROP
        COMMIT

        """

    /// Entries of a set in the firewall namespace (-1: no such set).
    func entries(_ lab: RebootLab, _ set: String) -> Int {
        let out = lab.run(["ipset", "list", "-terse", set]).stdout
        return out.split(separator: "\n").first { $0.hasPrefix("Number of entries: ") }.flatMap { Int($0.dropFirst(19)) } ?? -1
    }

    /// The saved files against the kernel: rules equal (normalized), members equal.
    func assertFilesEqualKernel(_ lab: RebootLab, file: StaticString = #filePath, line: UInt = #line) {
        let saved = (try? String(contentsOfFile: lab.config + "/rules.v4", encoding: .utf8)) ?? ""
        let kernel = lab.run(["iptables-save"]).stdout
        func norm(_ t: String) -> [String] {
            t.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.hasPrefix(":") ? String($0.prefix { $0 != "[" }) : String($0) }
        }
        XCTAssertEqual(norm(saved), norm(kernel), "rules.v4 equals the kernel's rules", file: file, line: line)
        let savedSets = ((try? String(contentsOfFile: lab.config + "/ipsets", encoding: .utf8)) ?? "").split(separator: "\n").filter { !$0.hasPrefix("#") }
        let kernelSets = lab.run(["ipset", "save"]).stdout.split(separator: "\n")
        XCTAssertEqual(Set(savedSets), Set(kernelSets), "ipsets equals the kernel's sets (\(savedSets.count) and \(kernelSets.count) lines)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lab.config + "/ipsets.journal"), "the journal is folded in at start", file: file, line: line)
    }

    /// The agent is SIGKILLed while it restores 100,000 members at start (after a reboot);
    /// started again, it restores again (the marker says the first one was interrupted).
    func testKillDuringRestoreAtStart() throws {
        let lab = try RebootLab("fk")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let sets = try lab.write(Self.bigSet(first: Self.firstMember), "big.ipset"), rules = try lab.write(Self.rules, "rules")
        var r = lab.ours(["restore", "--ipset", sets, rules], alone: true, deadline: .seconds(300))
        XCTAssertEqual(r.status, 0, r.stderr)
        r = lab.ours(["save", "--persist"], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        let saved = lab.kernelState()
        try lab.reboot()

        let from = lab.logSize
        try lab.startServe()
        var state = "never caught half-way"
        let until = Date().addingTimeInterval(120)
        while Date() < until {
            if lab.logText(from: from).contains("serving (") { state = "finished before it could be killed"; break }
            if FileManager.default.fileExists(atPath: lab.state + "/restore-at-start.pending") {
                let n = entries(lab, "ebpf-iptables-tmp-0")
                if n > 0 && n < Self.members {
                    lab.kill(SIGKILL)
                    state = "killed with \(n) members in the temporary set"
                    break
                }
            }
            usleep(5_000)
        }
        XCTAssertTrue(state.hasPrefix("killed"), state)
        usleep(300_000)
        // Old (nothing: the machine just booted) or new, never a mix: no rule without its set.
        let rulesHeld = lab.run(["iptables-save"]).stdout.contains("--match-set big src")
        let bigHeld = entries(lab, "big")
        XCTAssertTrue(!rulesHeld || bigHeld == Self.members, "after the kill: rules \(rulesHeld), big \(bigHeld) members")
        print("kill -9 during the restore at start: \(state); the kernel held rules: \(rulesHeld), big: \(bigHeld) members")

        let again = lab.logSize
        try lab.startServeAndWait(seconds: 180)
        XCTAssertTrue(lab.logText(from: again).contains("the previous restore at start was interrupted"), lab.logText(from: again))
        XCTAssertEqual(lab.kernelState(), saved, "the saved ruleset is back whole")
        XCTAssertEqual(entries(lab, "ebpf-iptables-tmp-0"), -1, "no temporary set left")
        assertFilesEqualKernel(lab)
        let s = try lab.sender()
        XCTAssertTrue(try lab.xdpDrops(s, from: Self.firstMember + 77_777), "XDP drops a member")
        XCTAssertTrue(try lab.xdpDrops(s, from: labAddress("198.18.9.3")))
        XCTAssertFalse(try lab.xdpDrops(s, from: labAddress("198.18.6.1")))
        lab.kill(SIGTERM)
    }

    /// A set edit of 100,000 members (restore --ipset: the new members replace the old)
    /// SIGKILLed half-way, in the process doing it: the agent when one serves the control
    /// socket (the CLI forwards to it), else the CLI itself. Then the agent starts (again):
    /// the kernel holds the old or the new members, never a mix; XDP drops exactly the
    /// members the kernel holds; the saved files equal what runs.
    func testKillDuringALargeSetEditThenStart() throws {
        let lab = try RebootLab("fe")
        defer { lab.close() }
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let oldFirst = Self.firstMember, newFirst = Self.firstMember + UInt32(Self.members) + 1000
        let oldSets = try lab.write(Self.bigSet(first: oldFirst), "old.ipset"), newSets = try lab.write(Self.bigSet(first: newFirst), "new.ipset")
        let rules = try lab.write(Self.rules, "rules")
        XCTAssertEqual(lab.ours(["restore", "--ipset", oldSets, rules], alone: true, deadline: .seconds(300)).status, 0)
        XCTAssertEqual(lab.ours(["save", "--persist"], alone: true).status, 0)
        try lab.startServeAndWait(seconds: 180)
        let viaAgent = FileManager.default.fileExists(atPath: lab.state + "/agent.sock")

        // The edit, in the background; its pid is the CLI's (env and ip netns exec exec it).
        let env = lab.environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let started = Run.run(["sh", "-c", "env \(env) ip netns exec \(lab.fw.name) \(lab.bin)/ebpf-iptables-restore --ipset \(newSets) \(rules) >\(lab.root)/edit.out 2>&1 & echo $!"])
        guard let cli = Int32(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { return XCTFail(started.stderr) }
        var state = "never caught half-way"
        let until = Date().addingTimeInterval(120)
        while Date() < until {
            if kill(cli, 0) != 0 { state = "finished before it could be killed"; break }
            let n = entries(lab, "ebpf-iptables-tmp-0")
            if n > 0 && n < Self.members {
                if viaAgent { lab.kill(SIGKILL) } else { kill(cli, SIGKILL) }
                state = "killed the \(viaAgent ? "agent" : "CLI (no agent on the control socket)") with \(n) members in the temporary set"
                break
            }
            usleep(5_000)
        }
        XCTAssertTrue(state.hasPrefix("killed"), state)
        usleep(300_000)
        if !viaAgent { lab.kill(SIGTERM) }
        for _ in 0..<50 where kill(cli, 0) == 0 { usleep(100_000) }

        // The agent starts again: the kernel holds a ruleset, so nothing is replaced.
        let from = lab.logSize
        try lab.startServeAndWait(seconds: 180)
        XCTAssertTrue(lab.logText(from: from).contains("the kernel already holds a ruleset"), lab.logText(from: from))
        let held = lab.run(["ipset", "save", "big"]).stdout
        let hasOld = held.contains("add big \(Probe.dotted(oldFirst + 12_345))\n"), hasNew = held.contains("add big \(Probe.dotted(newFirst + 12_345))\n")
        XCTAssertEqual(entries(lab, "big"), Self.members)
        XCTAssertTrue(hasOld != hasNew, "old or new members, never a mix (old \(hasOld), new \(hasNew))")
        assertFilesEqualKernel(lab)
        // XDP judges by what the kernel holds (the next command reconciles an interrupted change).
        XCTAssertEqual(lab.ours(["-A", "INPUT", "-s", "198.18.10.0/24", "-j", "DROP"]).status, 0)
        let s = try lab.sender()
        let oldDropped = try lab.xdpDrops(s, from: oldFirst + 4242), newDropped = try lab.xdpDrops(s, from: newFirst + 4242)
        XCTAssertEqual(oldDropped, hasOld)
        XCTAssertEqual(newDropped, hasNew)
        print("kill -9 during a 100,000-member set edit: \(state); afterwards the kernel holds the \(hasOld ? "old" : "new") members; XDP drops old \(oldDropped), new \(newDropped)")
        lab.kill(SIGTERM)
    }
}
