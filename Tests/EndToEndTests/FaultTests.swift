import ChildProcess
import Foundation
import Loader
import TestSupport
import XCTest

/// Faults: a command killed half-way through a large change, and pins gone (a reboot).
final class FaultTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping fault tests: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "python3"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
    }

    static let members: UInt32 = 100_000
    static let firstMember = LiveUpdateTests.a("198.19.0.1")

    static let rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -s 198.18.201.0/24 -j DROP
        -A INPUT -s 198.18.10.0/24 -j ACCEPT
        -A INPUT -m set --match-set big src -j ACCEPT
        COMMIT

        """

    /// Members of `big` as the kernel holds them now.
    func kernelMembers(_ r: Receiver) -> Set<UInt32> {
        Set(r.run(["ipset", "save", "big"]).stdout.split(separator: "\n").compactMap { line -> UInt32? in
            let w = line.split(separator: " ")
            return w.count == 3 && w[0] == "add" ? LiveUpdateTests.a(String(w[2])) : nil
        })
    }

    func entries(_ r: Receiver, set: String = "big") -> Int {
        let out = r.run(["ipset", "list", "-terse", set]).stdout
        return out.split(separator: "\n").first { $0.hasPrefix("Number of entries: ") }.flatMap { Int($0.dropFirst(19)) } ?? -1
    }

    /// Members filled so far: in `big` itself (ipset's own restore fills it in place), or in
    /// the temporary set ebpf-iptables-restore --ipset fills before swapping it in.
    func filling(_ r: Receiver) -> Int {
        let n = entries(r)
        return n > 0 && n < Int(Self.members) ? n : max(entries(r, set: "ebpf-iptables-tmp-0"), 0)
    }

    /// A large change SIGKILLed half-way, and the command after it.
    struct KillScenario {
        var label: String
        /// What is installed first (after attach): a set `big`, and rules.
        var sets: String
        var rules: String
        /// The command killed, as an operator runs it (its words; `{big}` is the members' file,
        /// `{rules}` the second rules file).
        var killed: String
        /// Rules the killed command installs (after the set); nil: it changes the set only.
        var newRules: String?
        var next: (tool: String, args: [String])
    }

    static let bigHeader = "create big hash:ip family inet hashsize 65536 maxelem 1000000\n"

    /// `ebpf-ipset restore` of 100,000 members into a set the rules use; the next command is a
    /// one-member `ebpf-ipset add` (the fast path must not run over the interrupted change).
    func testAKilledLargeSetRestoreLeavesXDPSafeAndTheNextCommandRecovers() throws {
        try killed(KillScenario(label: "ebpf-ipset restore (100,000 members)", sets: Self.bigHeader, rules: Self.rules,
                                killed: "ebpf-ipset -exist restore < {big}", newRules: nil,
                                next: ("ebpf-ipset", ["add", "big", Probe.dotted(Self.firstMember + Self.members + 1)])))
    }

    /// `ebpf-iptables-restore --ipset FILE` of a ruleset whose set has 100,000 members (the set
    /// goes in first, then the rules); the next command is an `ebpf-iptables -A`.
    func testAKilledRestoreWithALargeSetLeavesXDPSafeAndTheNextCommandRecovers() throws {
        let before = Self.rules.replacingOccurrences(of: "-A INPUT -m set --match-set big src -j ACCEPT\n", with: "")
        try killed(KillScenario(label: "ebpf-iptables-restore --ipset (100,000 members)", sets: "", rules: before,
                                killed: "ebpf-iptables-restore --ipset {big} {rules}", newRules: Self.rules,
                                next: ("ebpf-iptables", ["-A", "INPUT", "-s", "198.18.99.1", "-j", "DROP"])))
    }

    /// The command is SIGKILLed while XDP is in its transition and the kernel's set is half
    /// filled. Traffic flows all along: from then on XDP drops no packet the kernel accepts
    /// (each member delivered exactly when the kernel's ruleset and set accept it); `status`
    /// says a change was interrupted; the next command recovers, says so in events.log, and
    /// XDP drops again itself what the kernel drops.
    func killed(_ k: KillScenario) throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let fw = try lab.addReceiver("fw")
        let path = lab.root + "/first.rules", rulesPath = lab.root + "/second.rules", file = lab.root + "/big.ipset"
        try Data(k.rules.utf8).write(to: URL(fileURLWithPath: path))
        try Data((k.newRules ?? "").utf8).write(to: URL(fileURLWithPath: rulesPath))
        var big = Self.bigHeader
        for i in 0..<Self.members { big += "add big \(Probe.dotted(Self.firstMember + i))\n" }
        try Data(big.utf8).write(to: URL(fileURLWithPath: file))
        for (args, tool, input) in [(["attach", "rx0"], "ebpf-iptables", nil), (["restore"], "ebpf-ipset", k.sets),
                                    ([path], "ebpf-iptables-restore", nil)] as [([String], String, String?)] where input != "" {
            let r = fw.ours(args, tool: tool, stdin: input)
            XCTAssertEqual(r.status, 0, "\(tool) \(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }

        let classes = [TrafficStream.Class(name: "S", first: LiveUpdateTests.a("198.18.10.1")),
                       TrafficStream.Class(name: "X", first: LiveUpdateTests.a("198.18.201.1")),
                       TrafficStream.Class(name: "U", first: LiveUpdateTests.a("198.18.200.1")),
                       TrafficStream.Class(name: "member", first: Self.firstMember, count: Self.members)]
        let stream = try TrafficStream(classes: classes, gen: lab.gen, interfaces: [fw.genSide], receivers: [fw.ns], rate: 4000, maxSeconds: 120)
        usleep(200_000)
        let started = monotonicNow()
        // As an operator runs it; each exec keeps the pid we kill.
        let command = lab.bin + "/" + k.killed.replacingOccurrences(of: "{big}", with: file).replacingOccurrences(of: "{rules}", with: rulesPath)
        var restore = try ChildProcess.spawn(.init("sh", arguments: ["-c", "exec ip netns exec \(fw.ns.name) \(command)"],
                                                   environment: .inheritAdding(fw.environment), deadline: .seconds(300)))
        // Half-way: XDP in its transition (or passing everything) and the kernel's set filling.
        let xdp = try fw.xdp()
        var state = "never in a transition"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if try restore.checkExit() != nil { state = "finished before it could be killed"; break }
            let f = try xdp.flags
            if f.contains(.transition) || f.contains(.passAll) || f.contains(.guardSources) {
                let n = filling(fw)
                if n > 0 && n < Int(Self.members) {
                    kill(restore.pid, SIGKILL)
                    state = "killed with \(n) members filled, flags \(String(f.rawValue, radix: 16))"
                    break
                }
            }
            _ = try restore.checkExit(waitingUpTo: .milliseconds(2))
        }
        let killed = monotonicNow()
        _ = try? restore.wait(deadline: .seconds(10))
        XCTAssertTrue(state.hasPrefix("killed"), "\(k.label): \(state)")
        // The kernel's ipset child reads to the end of what it was given, then stops.
        var last = -1, stable = 0
        while stable < 3 && Date() < deadline {
            let n = entries(fw)
            stable = n == last ? stable + 1 : 0
            last = n
            usleep(100_000)
        }
        let settled = monotonicNow()
        // What the kernel accepts now: the members its set holds, if its rules use the set.
        let held = fw.run(["iptables-save"]).stdout.contains("--match-set big src") ? kernelMembers(fw) : []
        XCTAssertTrue(try xdp.flags.rawValue & (LiveFlags.transition.rawValue | LiveFlags.passAll.rawValue | LiveFlags.guardSources.rawValue) != 0,
                      "after the kill XDP must still be in its safe state")
        let status = fw.ours(["status"])
        XCTAssertTrue(status.stdout.contains("a change was interrupted"), status.stdout)
        usleep(500_000)

        let nextStart = monotonicNow()
        let next = fw.ours(k.next.args, tool: k.next.tool)
        let recovered = monotonicNow()
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertTrue(fw.events.contains { $0.contains("recovered from an interrupted change") }, "events: \(fw.events)")
        XCTAssertEqual(try xdp.flags.rawValue & (LiveFlags.transition.rawValue | LiveFlags.passAll.rawValue | LiveFlags.guardSources.rawValue), 0,
                       "the next command must leave no change pending")
        usleep(500_000)
        let record = try stream.stop()

        // Each packet against the kernel's set of its moment.
        var lost = 0, leaked = 0, memberChecked = 0, samples: [String] = []
        for (seq, t) in record.sent.enumerated() {
            let c = seq % classes.count
            let got = record.received[0].contains(seq)
            let expected: Bool?
            switch classes[c].name {
            case "S": expected = true
            case "X", "U": expected = false
            default:
                let m = Self.firstMember + UInt32(seq / classes.count) % Self.members
                expected = t < started ? false : t < settled ? nil : (t >= nextStart && t < recovered) ? nil : held.contains(m)
                if expected != nil && t >= settled { memberChecked += 1 }
            }
            guard let expected, expected != got else { continue }
            if expected { lost += 1 } else { leaked += 1 }
            if samples.count < 10 { samples.append("\(classes[c].name) #\(seq) \(String(format: "%.3f", t - started)) s after the restore started, expected \(expected)") }
        }
        print("kill -9 of \(k.label): \(state) \(String(format: "%.0f", (killed - started) * 1000)) ms after it started; the kernel settled accepting \(held.count) members; "
              + "\(record.sent.count) datagrams, \(memberChecked) from members after the kernel settled; \(lost) lost, \(leaked) let through; "
              + "recovered by the next command in \(String(format: "%.0f", (recovered - nextStart) * 1000)) ms")
        XCTAssertEqual(record.socketDrops[0], 0)
        XCTAssertEqual(lost, 0, "XDP dropped what the kernel accepts: \(samples)")
        XCTAssertEqual(leaked, 0, "delivered what the kernel drops: \(samples)")
        XCTAssertGreaterThan(memberChecked, 500)
        XCTAssertFalse(fw.ours(["status"]).stdout.contains("warning: a change was interrupted"), "status after the recovery")

        // After the recovery XDP itself drops a member the kernel does not hold.
        if let absent = (0..<Self.members).lazy.map({ Self.firstMember + $0 }).first(where: { !held.contains($0) }) {
            let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [fw.genSide])
            let before = try xdp.stats().dropped
            var p = Probe(source: absent, destination: FirewallLab.address, proto: 17)
            p.sourcePort = 31000
            try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: 1))
            let until = Date().addingTimeInterval(1)
            while try xdp.stats().dropped == before, Date() < until { usleep(1000) }
            XCTAssertGreaterThan(try xdp.stats().dropped, before, "after recovery XDP drops \(Probe.dotted(absent)) (not in the kernel's set) itself")
        }
    }
}

extension FaultTests {
    /// The pins are removed with the state kept: what a reboot does (`reboot`: the program is
    /// gone from the interface too), or an `rm -rf` of the pin root alone (the program stays
    /// attached, judging by tables nothing can reach any more). Either way commands fall back
    /// to the kernel layer alone and nothing is dropped that the kernel accepts, `status` says
    /// not attached, and `attach` works again and compiles the kernel's ruleset, edits made
    /// meanwhile included.
    func pinsRemoved(reboot: Bool) throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let fw = try lab.addReceiver("fw")
        try fw.instrument(countingSources: ["198.18.50.1", "198.18.51.1", "198.18.10.1"].map(LiveUpdateTests.a))
        let rules = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 198.18.10.0/24 -j ACCEPT\nCOMMIT\n"
        let path = lab.root + "/pins.rules"
        try Data(rules.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(fw.ours(["attach", "rx0"]).status, 0)
        XCTAssertEqual(fw.ours([path], tool: "ebpf-iptables-restore").status, 0)
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [fw.genSide])
        var port: UInt16 = 40000
        func delivered(_ source: String) throws -> Bool {
            let before = fw.snapshot()
            var p = Probe(source: LiveUpdateTests.a(source), destination: FirewallLab.address, proto: 17)
            port += 1
            p.sourcePort = port
            try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: port))
            let until = Date().addingTimeInterval(0.3)
            while Date() < until {
                if let c = fw.snapshot().delta(from: before).nft[Receiver.counterName(LiveUpdateTests.a(source))], c.packets > 0 { return true }
                usleep(2000)
            }
            return false
        }
        XCTAssertTrue(try delivered("198.18.10.1"))
        XCTAssertFalse(try delivered("198.18.50.1"))

        fw.closeDataplane()
        if reboot { XCTAssertEqual(fw.run(["ip", "link", "set", "dev", "rx0", "xdp", "off"]).status, 0) }
        XCTAssertEqual(Run.run(["rm", "-rf", fw.pins]).status, 0)

        let edit = fw.ours(["-I", "INPUT", "1", "-s", "198.18.50.1", "-j", "ACCEPT"])
        XCTAssertEqual(edit.status, 0, edit.stderr)
        XCTAssertTrue(fw.run(["iptables-save"]).stdout.contains("-A INPUT -s 198.18.50.1/32 -j ACCEPT"))
        XCTAssertTrue(try delivered("198.18.50.1"), "with the pins gone, what the kernel accepts must get through")
        let status = fw.ours(["status"])
        XCTAssertTrue(status.stdout.hasPrefix("not attached"), status.stdout + status.stderr)
        XCTAssertTrue(fw.events.contains { $0.contains("without its program") }, "\(fw.events)")

        let attach = fw.ours(["attach", "rx0"])
        XCTAssertEqual(attach.status, 0, "attach after the pins were removed: \(attach.stderr)")
        XCTAssertTrue(try delivered("198.18.50.1"), "the rule added meanwhile is in XDP's tables")
        let dropped = try fw.xdp().stats().dropped
        XCTAssertFalse(try delivered("198.18.51.1"))
        XCTAssertEqual(try fw.xdp().stats().dropped, dropped + 1, "XDP drops again itself what the kernel drops")
        print("pins removed (\(reboot ? "reboot: program detached too" : "rm -rf alone: program still attached")): "
              + "an edit went to the kernel alone, status said not attached, attach worked again: \(attach.stdout.trimmingCharacters(in: .newlines))")
    }

    func testPinsGoneAfterARebootFallBackToTheKernelAndAttachAgain() throws { try pinsRemoved(reboot: true) }

    func testPinsRemovedWhileAttachedFallBackToTheKernelAndAttachAgain() throws { try pinsRemoved(reboot: false) }
}
