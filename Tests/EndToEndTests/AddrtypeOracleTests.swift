import Foundation
import Loader
import TestSupport
import Verifier
import XCTest

/// `-m addrtype` and `-m pkttype` decided in XDP, against the kernel as oracle: the same
/// ruleset in a reference namespace (real iptables) and under ebpf-iptables with XDP on
/// rx0; each probe frame goes into both, and the kernel's counters (`iptables-save -c`; ours
/// through `ebpf-iptables-save -c`, which adds what XDP dropped) say which DROP rule decided
/// it, the nft instrumentation whether it got through INPUT. Destinations: rx0's address,
/// a second local address on another interface, both subnets' broadcasts, 255.255.255.255,
/// 224.0.0.1 and an unknown unicast address; destination MACs: rx0's, broadcast, multicast.
/// Then addresses change: without the agent (XDP's copy of the local table goes stale and
/// must not be used: the kernel decides), after a rewrite of the tables (XDP decides again),
/// and with the agent running (it refreshes the copy on the address event).
final class AddrtypeOracleTests: XCTestCase {
    static let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :skip - [0:0]
        -A INPUT -p udp --dport 1 -m addrtype --dst-type LOCAL -j DROP
        -A INPUT -p udp --dport 2 -m addrtype ! --dst-type LOCAL,BROADCAST -j DROP
        -A INPUT -p udp --dport 3 -m addrtype --dst-type BROADCAST --limit-iface-in -j DROP
        -A INPUT -p udp --dport 4 -m addrtype --src-type UNICAST ! --dst-type MULTICAST -j DROP
        -A INPUT -p udp --dport 5 -m pkttype --pkt-type broadcast -j DROP
        -A INPUT -p udp --dport 6 -m pkttype ! --pkt-type multicast -j DROP
        -A INPUT -p udp --dport 7 -m pkttype --pkt-type unicast -j DROP
        -A INPUT -p udp --dport 8 -j skip
        -A INPUT -p udp --dport 9 -m addrtype --dst-type MULTICAST -j ACCEPT
        -A INPUT -p udp --dport 9 -j DROP
        -A skip -m addrtype --dst-type LOCAL -j RETURN
        -A skip -m addrtype --dst-type BROADCAST --limit-iface-in -j RETURN
        -A skip -j DROP
        COMMIT

        """
    /// INPUT/skip rules with a DROP target (1-based), the rules a dropped probe is scored by.
    static let dropRules: Set<String> = ["INPUT 1", "INPUT 2", "INPUT 3", "INPUT 4", "INPUT 5", "INPUT 6", "INPUT 7",
                                         "INPUT 10", "skip 3"]

    static func ip(_ s: String) -> UInt32 {
        s.split(separator: ".").compactMap { UInt32($0) }.reduce(0) { $0 << 8 | $1 }
    }

    struct Score {
        var probes = 0, agreed = 0, xdpDrops = 0
        var disagreements: [String] = []
    }

    func testAddrtypeAndPkttypeAgainstKernel() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        let lab = try FirewallLab(interface: "rx0")
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        let config = lab.root + "/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        for r in [ref, two] {
            for cmd in [["ip", "-n", r.ns.name, "addr", "add", "198.18.5.1/24", "dev", "rx0"],
                        ["ip", "-n", r.ns.name, "link", "add", "dm0", "type", "veth", "peer", "name", "dm1"],
                        ["ip", "-n", r.ns.name, "addr", "add", "198.18.7.1/24", "dev", "dm0"],
                        ["ip", "-n", r.ns.name, "link", "set", "dm0", "up"],
                        ["ip", "-n", r.ns.name, "link", "set", "dm1", "up"]] {
                let out = Run.run(cmd)
                XCTAssertEqual(out.status, 0, "\(cmd.joined(separator: " ")): \(out.stderr)")
            }
            try r.instrument()
        }
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: Self.rules).status, 0)
        let attach = two.ours(["attach", "rx0"])
        XCTAssertEqual(attach.status, 0, attach.stderr)
        let restore = two.ours([], tool: "ebpf-iptables-restore", stdin: Self.rules)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let xdp = try two.xdp()
        XCTAssertTrue(try xdp.dp.localRoutesState().valid, "the restore took a copy of the local table")

        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        var ipID: UInt16 = 0
        let broadcastMAC: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        let multicastMAC: [UInt8] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]

        func moved(_ a: [RuleName: Count], _ b: [RuleName: Count]) -> Set<String> {
            Set(b.filter { $0.key.table == "filter" && $0.key.index != nil && $0.value.packets != (a[$0.key]?.packets ?? 0) }
                .map { "\($0.key.chain) \($0.key.index ?? 0)" })
        }
        func merged() -> [RuleName: Count] {
            NetfilterSnapshot.iptablesCounters(two.ours(["-c"], tool: "ebpf-iptables-save").stdout)
        }

        /// One probe into both; scored by delivery and the DROP rule that moved.
        func probe(_ dst: String, port: UInt16, mac: [UInt8], src: String = "198.18.100.1", _ score: inout Score, _ phase: String) throws {
            ipID &+= 1
            var p = Probe(source: Self.ip(src), destination: Self.ip(dst), proto: 17)
            p.sourcePort = 20000 &+ ipID
            p.destinationPort = port
            let refBefore = ref.snapshot(), twoBefore = two.snapshot(), twoRules = merged()
            let statsBefore = try xdp.stats()
            try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: mac, ipID: ipID))
            var refAfter = ref.snapshot(), twoAfter = two.snapshot()
            var stats = try xdp.stats()
            for _ in 0..<100 where refAfter.seen == refBefore.seen || (twoAfter.seen == twoBefore.seen && stats.dropped == statsBefore.dropped) {
                usleep(5000)
                refAfter = ref.snapshot()
                twoAfter = two.snapshot()
                stats = try xdp.stats()
            }
            let twoRulesAfter = merged()
            let refDelivered = refAfter.delivered != refBefore.delivered
            let twoDelivered = twoAfter.delivered != twoBefore.delivered
            let refDrops = moved(refBefore.rules, refAfter.rules).intersection(Self.dropRules)
            let twoDrops = moved(twoRules, twoRulesAfter).intersection(Self.dropRules)
            let byXDP = stats.dropped != statsBefore.dropped
            if byXDP { score.xdpDrops += 1 }
            score.probes += 1
            // A packet the kernel drops before INPUT (no route, a martian destination): no
            // rule of the reference moved, and XDP may drop it at a DROP position itself.
            let reachedInput = refAfter.rules.contains { $0.key.table == "filter" && $0.value.packets != (refBefore.rules[$0.key]?.packets ?? 0) }
            let agree = refDelivered == twoDelivered && (!reachedInput || refDrops == twoDrops)
            if agree {
                score.agreed += 1
            } else {
                score.disagreements.append("\(phase): \(p) dmac \(mac.map { String(format: "%02x", $0) }.joined(separator: ":")): kernel delivered \(refDelivered) drops \(refDrops.sorted()); ours delivered \(twoDelivered) drops \(twoDrops.sorted()) byXDP \(byXDP)")
            }
        }

        let destinations = ["198.18.0.2", "198.18.7.1", "198.18.5.255", "198.18.7.255", "255.255.255.255", "224.0.0.1", "198.18.9.9"]
        var first = Score()
        for dst in destinations {
            for port: UInt16 in 1...9 {
                for mac in [FirewallLab.mac, broadcastMAC, multicastMAC] {
                    try probe(dst, port: port, mac: mac, &first, "static")
                }
            }
        }
        // A local source under --src-type UNICAST (rule 4): LOCAL is not UNICAST.
        try probe("198.18.0.2", port: 4, mac: FirewallLab.mac, src: "198.18.7.1", &first, "static")
        print("addrtype oracle, static addresses: \(first.agreed)/\(first.probes) agree, \(first.xdpDrops) dropped by XDP itself")
        XCTAssertEqual(first.disagreements, [])
        XCTAssertGreaterThan(first.xdpDrops, 40, "XDP decides addrtype/pkttype rules itself")

        // Addresses change, no agent: XDP's copy is stale; nothing may be decided from it.
        for r in [ref, two] {
            XCTAssertEqual(Run.run(["ip", "-n", r.ns.name, "addr", "add", "198.18.11.1/24", "dev", "rx0"]).status, 0)
            XCTAssertEqual(Run.run(["ip", "-n", r.ns.name, "addr", "del", "198.18.7.1/24", "dev", "dm0"]).status, 0)
        }
        var stale = Score()
        for dst in ["198.18.11.1", "198.18.11.255", "198.18.7.1", "198.18.0.2", "198.18.5.255"] {
            for port: UInt16 in [1, 2, 3, 8] {
                try probe(dst, port: port, mac: FirewallLab.mac, &stale, "stale")
            }
        }
        print("addrtype oracle, changed without agent: \(stale.agreed)/\(stale.probes) agree, \(stale.xdpDrops) dropped by XDP")
        XCTAssertEqual(stale.disagreements, [])
        XCTAssertEqual(stale.xdpDrops, 0, "a stale copy is never used: the kernel decides every addrtype rule")

        // Any write of the tables takes a fresh copy: XDP decides again.
        let rewrite = two.ours([], tool: "ebpf-iptables-restore", stdin: Self.rules)
        XCTAssertEqual(rewrite.status, 0, rewrite.stderr)
        XCTAssertTrue(try xdp.dp.localRoutesState().valid, "a table write takes a fresh copy of the local table")
        var fresh = Score()
        for dst in ["198.18.11.1", "198.18.11.255", "198.18.7.1", "198.18.0.2"] {
            for port: UInt16 in [1, 2, 3, 8] {
                try probe(dst, port: port, mac: FirewallLab.mac, &fresh, "rewritten")
            }
        }
        print("addrtype oracle, after a rewrite: \(fresh.agreed)/\(fresh.probes) agree, \(fresh.xdpDrops) dropped by XDP")
        XCTAssertEqual(fresh.disagreements, [])
        XCTAssertGreaterThan(fresh.xdpDrops, 0)

        // With the agent: an address added is followed (the agent copies the table again).
        let agentLog = lab.root + "/agent.log"
        FileManager.default.createFile(atPath: agentLog, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        p.arguments = ["netns", "exec", two.ns.name, lab.bin + "/ebpf-iptables", "serve"]
        var env = ProcessInfo.processInfo.environment.merging(two.environment) { $1 }
        env["EBPF_IPTABLES_CONFIG"] = config
        env["EBPF_IPTABLES_LOG_LEVEL"] = "debug"
        env.removeValue(forKey: "EBPF_IPTABLES_NO_AGENT")
        p.environment = env
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: agentLog))
        p.standardError = log
        p.standardOutput = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning {
                kill(p.processIdentifier, SIGTERM)
                for _ in 0..<200 where p.isRunning { usleep(50_000) }
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            }
        }
        var ready = false
        for _ in 0..<300 where !ready {
            ready = Fixtures.text(URL(fileURLWithPath: agentLog)).contains("link watcher: following")
            if !ready { usleep(100_000) }
        }
        XCTAssertTrue(ready, "agent did not start: \(Fixtures.text(URL(fileURLWithPath: agentLog)))")
        // Let the agent settle (it may rewrite the tables at start), then change an address.
        usleep(500_000)
        let copyBefore = try xdp.dp.localRoutesState()
        for r in [ref, two] {
            XCTAssertEqual(Run.run(["ip", "-n", r.ns.name, "addr", "add", "198.18.12.1/24", "dev", "rx0"]).status, 0)
        }
        // The agent copies the table again on the address event: a valid copy at a new generation.
        var valid = false
        for _ in 0..<150 where !valid {
            let now = try xdp.dp.localRoutesState()
            valid = now.valid && (now.rtGenid, now.fibSeq) != (copyBefore.rtGenid, copyBefore.fibSeq)
            if !valid { usleep(20_000) }
        }
        XCTAssertTrue(valid, "the agent took a fresh copy of the local table: \(Fixtures.text(URL(fileURLWithPath: agentLog)))")
        var followed = Score()
        for dst in ["198.18.12.1", "198.18.12.255", "198.18.11.1", "198.18.0.2"] {
            for port: UInt16 in [1, 2, 3, 8] {
                try probe(dst, port: port, mac: FirewallLab.mac, &followed, "agent")
            }
        }
        print("addrtype oracle, changed with the agent: \(followed.agreed)/\(followed.probes) agree, \(followed.xdpDrops) dropped by XDP")
        XCTAssertEqual(followed.disagreements, [])
        XCTAssertGreaterThan(followed.xdpDrops, 0, "with the agent, XDP decides with the new address")
    }
}

