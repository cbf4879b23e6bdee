import Foundation
import TestSupport
import XCTest

extension LiveUpdateTests {
    /// The oracle can fail: an ACCEPT inserted with the kernel's own iptables behind
    /// ebpf-iptables' back is not in XDP, which keeps dropping that class (policy DROP) until
    /// the next ebpf-iptables command finds the kernel changed and recompiles (events.log).
    /// The stream must show exactly that: packets lost between the two commands, none after.
    func testAnEditBehindTheFirewallsBackIsNoticed() throws {
        try behindOurBack(next: ("ebpf-iptables", ["-A", "INPUT", "-s", "198.18.99.1", "-j", "DROP"]))
    }

    /// The same with a one-member `ebpf-ipset add` (the fast path) as the next command.
    func testAnEditBehindTheFirewallsBackIsRecoveredByAMemberAdd() throws {
        try behindOurBack(next: ("ebpf-ipset", ["add", "wl", "198.18.99.2"]))
    }

    func behindOurBack(next: (tool: String, args: [String])) throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let fw = try lab.addReceiver("fw")
        let rules = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 198.18.10.0/24 -j ACCEPT\n"
            + "-A INPUT -m set --match-set wl src -j ACCEPT\nCOMMIT\n"
        let path = lab.root + "/behind.rules"
        try Data(rules.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(fw.ours(["attach", "rx0"]).status, 0)
        XCTAssertEqual(fw.ours(["create", "wl", "hash:ip"], tool: "ebpf-ipset").status, 0)
        XCTAssertEqual(fw.ours([path], tool: "ebpf-iptables-restore").status, 0)
        let classes = [TrafficStream.Class(name: "S", first: Self.a("198.18.10.1")), TrafficStream.Class(name: "U", first: Self.a("198.18.200.1"))]
        let stream = try TrafficStream(classes: classes, gen: lab.gen, interfaces: [fw.genSide], receivers: [fw.ns], rate: 1000, maxSeconds: 60)
        var timeline = StreamTimeline(names: ["S", "U"], initial: [true, false])
        usleep(200_000)
        var t0 = monotonicNow()
        XCTAssertEqual(fw.run(["iptables", "-I", "INPUT", "1", "-s", "198.18.200.1", "-j", "ACCEPT"]).status, 0)
        timeline.steps.append(.init(label: "iptables -I (behind our back)", start: t0, end: monotonicNow(), after: [true, true]))
        usleep(300_000)
        t0 = monotonicNow()
        XCTAssertEqual(fw.ours(next.args, tool: next.tool).status, 0)
        let recovered = monotonicNow()
        timeline.steps.append(.init(label: next.tool, start: t0, end: recovered, after: [true, true]))
        usleep(300_000)
        let record = try stream.stop()
        let o = timeline.check(sent: record.sent, received: record.received[0])
        let lostAfterRecovery = record.sent.enumerated().filter { $0.offset % 2 == 1 && $0.element >= recovered && !record.received[0].contains($0.offset) }
        print("behind our back: \(o.lostCount) U datagrams lost while XDP did not know the kernel's new ACCEPT "
              + "(the oracle noticed), \(lostAfterRecovery.count) after the next command (\(next.tool) \(next.args.joined(separator: " ")))")
        XCTAssertGreaterThan(o.lostCount, 10, "the stream oracle did not notice XDP dropping what the kernel accepts")
        XCTAssertTrue(o.lost.allSatisfy { $0.hasPrefix("U ") && $0.contains("after iptables -I (behind our back)") }, "\(o.lost)")
        XCTAssertEqual(lostAfterRecovery.count, 0, "the next command (\(next.tool)) must recompile XDP from the kernel")
        XCTAssertTrue(fw.events.contains { $0.contains("changed outside ebpf-iptables") }, "\(fw.events)")
    }
}
