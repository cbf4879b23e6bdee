import Foundation
import TestSupport
import XCTest

/// Live edits of both layers under traffic, with the kernel as the oracle.
///
/// A generator streams UDP datagrams, round robin over classes of source addresses, into two
/// namespaces at once: `ref` (the kernel's own tools alone) and `fw` (ebpf-iptables
/// attached, both layers). A socket in each records which datagrams got through INPUT. Each
/// edit runs in `ref` with the kernel's tool and in `fw` with ours, and says which classes
/// it changes. A class an edit does not change must get its verdict for every packet sent
/// while the edit runs in that namespace — so no packet the kernel's ruleset of that moment
/// accepts is lost — and a class it changes must get the old verdict for every packet sent
/// before the command started and the new one for every packet sent after it returned.
/// `ref` checks the expected verdicts themselves: the same timeline must hold there.
final class LiveUpdateTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping live-update test: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "python3"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
    }

    static func a(_ s: String) -> UInt32 {
        s.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | (UInt32($1) ?? 0) }
    }

    /// The classes and their verdicts under `base`: name, source, delivered.
    static let classes: [(String, String, Bool)] = [
        ("S", "198.18.10.1", true), ("M", "198.18.11.1", true), ("X", "198.18.201.1", false), ("U", "198.18.200.1", false),
        ("A21", "198.18.21.1", false), ("I22", "198.18.22.1", false), ("D23", "198.18.23.1", false), ("R24", "198.18.24.1", false),
        ("N26", "198.18.26.1", false), ("IP27", "198.18.27.1", false), ("FL28", "198.18.28.1", true), ("SW29", "198.18.29.1", false),
        ("RS31", "198.18.31.1", false), ("NF32", "198.18.32.1", false),
    ]

    static let base = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :allow - [0:0]
        -A INPUT -s 198.18.201.0/24 -j DROP
        -A INPUT -s 198.18.10.0/24 -j ACCEPT
        -A INPUT -m set --match-set wl src -j ACCEPT
        -A INPUT -m set --match-set fl src -j ACCEPT
        -A INPUT -m set --match-set sw src -j ACCEPT
        -A INPUT -s 198.18.23.1/32 -j DROP
        -A INPUT -s 198.18.24.1/32 -j DROP
        -A INPUT -j allow
        -A allow -s 198.18.23.0/24 -j ACCEPT
        COMMIT

        """

    static let sets = """
        create wl hash:ip family inet hashsize 1024 maxelem 65536
        add wl 198.18.11.1
        create fl hash:ip family inet hashsize 1024 maxelem 65536
        add fl 198.18.28.1
        create sw hash:ip family inet hashsize 1024 maxelem 65536
        create sw2 hash:ip family inet hashsize 1024 maxelem 65536
        add sw2 198.18.29.1

        """

    /// A whole new ruleset: keeps S, M, X, SW29 and I22, drops D23 and R24, accepts RS31.
    static let replacement = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -s 198.18.201.0/24 -j DROP
        -A INPUT -s 198.18.10.0/24 -j ACCEPT
        -A INPUT -m set --match-set wl src -j ACCEPT
        -A INPUT -m set --match-set sw src -j ACCEPT
        -A INPUT -s 198.18.22.1/32 -j ACCEPT
        -A INPUT -s 198.18.31.1/32 -j ACCEPT
        COMMIT

        """

    static let addition = "*filter\n-I INPUT 1 -s 198.18.32.1/32 -j ACCEPT\nCOMMIT\n"

    /// One edit: what our tools and the kernel's run, and the classes whose verdict it changes.
    struct Edit {
        var label: String
        var tool: String
        var args: [String]
        var kernel: [String]
        var stdin: String? = nil
        var changes: [String: Bool]
    }

    static func edits(files: String) -> [Edit] {
        func ipt(_ label: String, _ args: [String], _ changes: [String: Bool]) -> Edit {
            Edit(label: label, tool: "ebpf-iptables", args: args, kernel: ["iptables"] + args, changes: changes)
        }
        func ips(_ label: String, _ args: [String], _ changes: [String: Bool]) -> Edit {
            Edit(label: label, tool: "ebpf-ipset", args: args, kernel: ["ipset"] + args, changes: changes)
        }
        let policyDropped = ["U", "A21", "N26", "IP27", "SW29", "RS31", "NF32"]
        return [
            ipt("-A", ["-A", "INPUT", "-s", "198.18.21.1", "-j", "ACCEPT"], ["A21": true]),
            ipt("-I", ["-I", "INPUT", "1", "-s", "198.18.22.1", "-j", "ACCEPT"], ["I22": true]),
            ipt("-D (a DROP)", ["-D", "INPUT", "-s", "198.18.23.1/32", "-j", "DROP"], ["D23": true]),
            ipt("-R", ["-R", "INPUT", "7", "-s", "198.18.24.1/32", "-j", "ACCEPT"], ["R24": true]),
            ipt("-D (an ACCEPT)", ["-D", "INPUT", "-s", "198.18.21.1/32", "-j", "ACCEPT"], ["A21": false]),
            ipt("-P ACCEPT", ["-P", "INPUT", "ACCEPT"], Dictionary(uniqueKeysWithValues: policyDropped.map { ($0, true) })),
            ipt("-P DROP", ["-P", "INPUT", "DROP"], Dictionary(uniqueKeysWithValues: policyDropped.map { ($0, false) })),
            ipt("-N", ["-N", "newchain"], [:]),
            ipt("-A (chain not jumped to)", ["-A", "newchain", "-s", "198.18.26.1", "-j", "ACCEPT"], [:]),
            ipt("-I (a jump)", ["-I", "INPUT", "2", "-j", "newchain"], ["N26": true]),
            ipt("-E", ["-E", "newchain", "renamed"], [:]),
            ipt("-F (a chain)", ["-F", "renamed"], ["N26": false]),
            ipt("-D (the jump)", ["-D", "INPUT", "-j", "renamed"], [:]),
            ipt("-X", ["-X", "renamed"], [:]),
            ips("ebpf-ipset add", ["add", "wl", "198.18.27.1"], ["IP27": true]),
            ips("ebpf-ipset del", ["del", "wl", "198.18.27.1"], ["IP27": false]),
            ips("ebpf-ipset flush", ["flush", "fl"], ["FL28": false]),
            ips("ebpf-ipset swap", ["swap", "sw", "sw2"], ["SW29": true]),
            ips("ebpf-ipset destroy", ["destroy", "sw2"], [:]),
            Edit(label: "ebpf-iptables-restore", tool: "ebpf-iptables-restore", args: [files + "/replacement.rules"],
                 kernel: ["iptables-restore"], stdin: replacement, changes: ["RS31": true, "D23": false, "R24": false]),
            Edit(label: "ebpf-iptables-restore --noflush", tool: "ebpf-iptables-restore", args: ["--noflush", files + "/addition.rules"],
                 kernel: ["iptables-restore", "--noflush"], stdin: addition, changes: ["NF32": true]),
            ipt("-F (INPUT)", ["-F", "INPUT"], ["S": false, "M": false, "I22": false, "SW29": false, "RS31": false, "NF32": false]),
        ]
    }

    func testEveryKindOfEditUnderTrafficLosesNothingTheKernelAccepts() throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref"), fw = try lab.addReceiver("fw")
        let files = lab.root + "/files"
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        for (name, text) in [("base.rules", Self.base), ("replacement.rules", Self.replacement), ("addition.rules", Self.addition)] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: files + "/" + name))
        }
        XCTAssertEqual(ref.run(["ipset", "restore"], stdin: Self.sets).status, 0)
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: Self.base).status, 0)
        for (args, tool, input) in [(["attach", "rx0"], "ebpf-iptables", nil), (["restore"], "ebpf-ipset", Self.sets),
                                    ([files + "/base.rules"], "ebpf-iptables-restore", nil)] as [([String], String, String?)] {
            let r = fw.ours(args, tool: tool, stdin: input)
            XCTAssertEqual(r.status, 0, "\(tool) \(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }
        let xdpBefore = try fw.xdp().stats()

        let names = Self.classes.map(\.0)
        let classes = Self.classes.map { TrafficStream.Class(name: $0.0, first: Self.a($0.1)) }
        // 400 datagrams a second per class, into both namespaces.
        let stream = try TrafficStream(classes: classes, gen: lab.gen, interfaces: [ref.genSide, fw.genSide], receivers: [ref.ns, fw.ns],
                                       rate: 400 * Double(classes.count), maxSeconds: 120)
        var timelines = [ref, fw].map { _ in StreamTimeline(names: names, initial: Self.classes.map(\.2)) }
        var verdicts = Self.classes.map(\.2)
        usleep(300_000)
        for e in Self.edits(files: files) {
            for (k, c) in e.changes { if let i = names.firstIndex(of: k) { verdicts[i] = c } }
            var t0 = monotonicNow()
            let kr = ref.run(e.kernel, stdin: e.stdin)
            timelines[0].steps.append(.init(label: e.label, start: t0, end: monotonicNow(), after: verdicts))
            XCTAssertEqual(kr.status, 0, "kernel: \(e.kernel): \(kr.stderr)")
            t0 = monotonicNow()
            let r = fw.ours(e.args, tool: e.tool)
            timelines[1].steps.append(.init(label: e.label, start: t0, end: monotonicNow(), after: verdicts))
            XCTAssertEqual(r.status, 0, "\(e.tool) \(e.args): \(r.stderr)")
            usleep(150_000)
        }
        let record = try stream.stop()
        let xdpAfter = try fw.xdp().stats()

        for (i, who) in ["kernel alone (checks the expected verdicts)", "both layers"].enumerated() {
            let o = timelines[i].check(sent: record.sent, received: record.received[i])
            print("live edits, \(who): \(record.sent.count) datagrams sent, \(record.received[i].count) arrived; "
                  + "of those with a certain verdict \(o.certainDelivered) to deliver, \(o.certainDropped) to drop; "
                  + "\(o.lostCount) lost, \(o.leakedCount) let through; socket buffer drops \(record.socketDrops[i])")
            if i == 1 { for r in o.reports { print("  " + r.line) } }
            XCTAssertEqual(record.socketDrops[i], 0, "\(who): the receiving socket lost datagrams: the count means nothing")
            if i == 0 {
                // The kernel alone is the oracle: what it does while its own command runs is its
                // transition, not a fault of the model (one NF32 datagram once got through while
                // iptables-restore replaced the table, in one suite run of many). Printed, not
                // failed; anything outside a running command still fails. Both layers stay strict.
                if o.lostDuringEdits + o.leakedDuringEdits > 0 {
                    print("live edits, kernel alone, while its own command ran: \(o.lostDuringEdits) lost, "
                          + "\(o.leakedDuringEdits) let through: \(o.lost + o.leaked)")
                }
                XCTAssertEqual(o.lostCount - o.lostDuringEdits, 0, "\(who): packets the kernel's ruleset of the moment accepts were lost: \(o.lost)")
                XCTAssertEqual(o.leakedCount - o.leakedDuringEdits, 0, "\(who): packets the kernel's ruleset of the moment drops got through: \(o.leaked)")
            } else {
                XCTAssertEqual(o.lost, [], "\(who): packets the kernel's ruleset of the moment accepts were lost")
                XCTAssertEqual(o.leaked, [], "\(who): packets the kernel's ruleset of the moment drops got through")
            }
            for r in o.reports {
                if i == 1 { XCTAssertGreaterThan(r.keptDelivered.sent + r.keptDropped.sent, 0, "\(who): no traffic while \(r.label) ran") }
                for c in r.changed { XCTAssertGreaterThan(c.after.sent, 0, "\(who): no \(c.name) traffic after \(r.label)") }
            }
        }
        print("live edits: XDP dropped \(xdpAfter.dropped - xdpBefore.dropped) datagrams itself, passed \(xdpAfter.passed - xdpBefore.passed) "
              + "to the kernel, \(xdpAfter.guardPassed - xdpBefore.guardPassed) under a guard or while passing everything, "
              + "\(xdpAfter.splitPassed - xdpBefore.splitPassed) in a transition (one generation dropped)")
        XCTAssertEqual(fw.events, [], "events during the edits")
    }
}

extension LiveUpdateTests {
    /// Each small edit decides the very next packet, in XDP itself where it drops: a packet
    /// of the class it changes is sent before (old verdict) and right after it returned (new
    /// verdict); where the new verdict is DROP, XDP must have dropped that very packet (not
    /// just the kernel behind it), so XDP took the edit at once.
    func testEachSmallEditDecidesTheVeryNextPacket() throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let fw = try lab.addReceiver("fw")
        let sources = ["198.18.40.1", "198.18.41.1", "198.18.42.1", "198.18.43.1"].map(Self.a)
        try fw.instrument(countingSources: sources)
        let rules = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m set --match-set wl src -j ACCEPT\nCOMMIT\n"
        let path = lab.root + "/next.rules"
        try Data(rules.utf8).write(to: URL(fileURLWithPath: path))
        for (args, tool, input) in [(["attach", "rx0"], "ebpf-iptables", nil),
                                    (["restore"], "ebpf-ipset", "create wl hash:ip family inet\nadd wl 198.18.42.1\n"),
                                    ([path], "ebpf-iptables-restore", nil)] as [([String], String, String?)] {
            let r = fw.ours(args, tool: tool, stdin: input)
            XCTAssertEqual(r.status, 0, "\(tool) \(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [fw.genSide])
        var port: UInt16 = 30000
        /// Sends one datagram from `source`: delivered, and dropped by XDP itself.
        func next(_ source: UInt32) throws -> (delivered: Bool, inXDP: Bool) {
            let before = fw.snapshot(), stats = try fw.xdp().stats()
            var p = Probe(source: source, destination: FirewallLab.address, proto: 17)
            port += 1
            p.sourcePort = port
            p.destinationPort = 7
            try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: port))
            let deadline = Date().addingTimeInterval(1)
            var seenAt: Date?
            while Date() < deadline {
                let s = try fw.xdp().stats()
                if s.dropped > stats.dropped { return (false, true) }
                let d = fw.snapshot().delta(from: before)
                if d.nft[Receiver.counterName(source)].map({ $0.packets > 0 }) == true { return (true, false) }
                if d.seen > 0 { seenAt = seenAt ?? Date() }
                if let seenAt, Date().timeIntervalSince(seenAt) > 0.15 { return (false, false) }
                usleep(1000)
            }
            return (false, false)
        }
        let (e, f, g, h) = (sources[0], sources[1], sources[2], sources[3])
        let steps: [(String, String, [String], UInt32, Bool)] = [
            ("ebpf-ipset add", "ebpf-ipset", ["add", "wl", "198.18.40.1"], e, true),
            ("ebpf-ipset del", "ebpf-ipset", ["del", "wl", "198.18.40.1"], e, false),
            ("-A", "ebpf-iptables", ["-A", "INPUT", "-s", "198.18.41.1", "-j", "ACCEPT"], f, true),
            ("-D", "ebpf-iptables", ["-D", "INPUT", "-s", "198.18.41.1/32", "-j", "ACCEPT"], f, false),
            ("-I (DROP before the whitelist)", "ebpf-iptables", ["-I", "INPUT", "1", "-s", "198.18.42.1", "-j", "DROP"], g, false),
            ("-D by number", "ebpf-iptables", ["-D", "INPUT", "1"], g, true),
            ("-I (ACCEPT)", "ebpf-iptables", ["-I", "INPUT", "1", "-s", "198.18.43.1", "-j", "ACCEPT"], h, true),
        ]
        var decided = 0
        for (label, tool, args, source, delivered) in steps {
            let before = try next(source)
            XCTAssertEqual(before.delivered, !delivered, "\(label): before the edit \(Probe.dotted(source)) must get the old verdict")
            let generation = try fw.xdp().liveGeneration()
            let r = fw.ours(args, tool: tool)
            XCTAssertEqual(r.status, 0, "\(label): \(r.stderr)")
            // One member and one appended rule take the fast paths: the live generation stays.
            if ["ebpf-ipset add", "ebpf-ipset del", "-A"].contains(label) {
                XCTAssertEqual(try fw.xdp().liveGeneration(), generation, "\(label) rewrote the generation instead of its entries")
            }
            let after = try next(source)
            XCTAssertEqual(after.delivered, delivered, "\(label): the very next packet from \(Probe.dotted(source)) after the edit")
            if !delivered { XCTAssertTrue(after.inXDP, "\(label): the next packet must be dropped by XDP itself") }
            if after.delivered == delivered && (delivered || after.inXDP) { decided += 1 }
            print("next packet after \(label): \(after.delivered ? "delivered" : "dropped")\(after.inXDP ? " in XDP" : "")")
        }
        print("live edits: \(decided)/\(steps.count) small edits decided the very next packet (drops in XDP itself)")
        XCTAssertEqual(fw.events, [])
    }

    /// While an `-I` makes every position move and the generation holding a 50,000-member
    /// whitelist is rewritten, traffic from whitelisted sources and from unknown ones flows:
    /// nothing whitelisted is lost and nothing unknown gets through (both layers; the kernel
    /// alone beside it checks the expectation). Then one member is added and one deleted on
    /// the fast path (the generation is not rewritten): each flips at its command.
    func testALargeInsertUnderTrafficMisjudgesNothing() throws {
        let members = 50_000
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref"), fw = try lab.addReceiver("fw")
        var sets = "create wl hash:ip family inet hashsize 65536 maxelem 1000000\n"
        let first = Self.a("198.19.0.1")
        for i in 0..<UInt32(members) { sets += "add wl \(Probe.dotted(first + i))\n" }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport \(TrafficStream.port) -m set --match-set wl src -j ACCEPT
            -A INPUT -p udp -m udp --dport \(TrafficStream.port) -j DROP
            COMMIT

            """
        let path = lab.root + "/wl.rules"
        try Data(rules.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(ref.run(["ipset", "restore"], stdin: sets).status, 0)
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: rules).status, 0)
        for (args, tool, input) in [(["attach", "rx0"], "ebpf-iptables", nil), (["restore"], "ebpf-ipset", sets),
                                    ([path], "ebpf-iptables-restore", nil)] as [([String], String, String?)] {
            let r = fw.ours(args, tool: tool, stdin: input)
            XCTAssertEqual(r.status, 0, "\(tool) \(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }
        // Besides the whitelist: a newcomer added and a leaver deleted, one member each (the fast path).
        let classes = [TrafficStream.Class(name: "whitelisted", first: first, count: UInt32(members)),
                       TrafficStream.Class(name: "unknown", first: Self.a("198.18.200.1"), count: 250),
                       TrafficStream.Class(name: "newcomer", first: Self.a("198.18.202.1")),
                       TrafficStream.Class(name: "leaver", first: Self.a("198.18.203.1"))]
        XCTAssertEqual(ref.run(["ipset", "add", "wl", "198.18.203.1"]).status, 0)
        XCTAssertEqual(fw.ours(["add", "wl", "198.18.203.1"], tool: "ebpf-ipset").status, 0)
        let stream = try TrafficStream(classes: classes, gen: lab.gen, interfaces: [ref.genSide, fw.genSide], receivers: [ref.ns, fw.ns],
                                       rate: 2000, maxSeconds: 120)
        var timelines = [ref, fw].map { _ in StreamTimeline(names: classes.map(\.name), initial: [true, false, false, true]) }
        usleep(300_000)
        let edits: [(String, String, [String], [Bool])] = [
            ("-I (every position moves)", "iptables", ["-I", "INPUT", "1", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"], [true, false, false, true]),
            ("-D (back again)", "iptables", ["-D", "INPUT", "1"], [true, false, false, true]),
            ("ebpf-ipset add (one member)", "ipset", ["add", "wl", "198.18.202.1"], [true, false, true, true]),
            ("ebpf-ipset del (one member)", "ipset", ["del", "wl", "198.18.203.1"], [true, false, true, false]),
        ]
        var rewrites: [String] = []
        for (label, kernelTool, args, after) in edits {
            var t0 = monotonicNow()
            XCTAssertEqual(ref.run([kernelTool] + args).status, 0)
            timelines[0].steps.append(.init(label: label, start: t0, end: monotonicNow(), after: after))
            let generation = try fw.xdp().liveGeneration()
            t0 = monotonicNow()
            let r = fw.ours(args, tool: kernelTool == "ipset" ? "ebpf-ipset" : "ebpf-iptables")
            timelines[1].steps.append(.init(label: label, start: t0, end: monotonicNow(), after: after))
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            if try fw.xdp().liveGeneration() != generation { rewrites.append(label) }
            usleep(300_000)
        }
        // A member edit touches the member's entries only; a rule edit rewrites the generation.
        XCTAssertEqual(rewrites, ["-I (every position moves)", "-D (back again)"])
        let record = try stream.stop()
        for (i, who) in ["kernel alone", "both layers"].enumerated() {
            let o = timelines[i].check(sent: record.sent, received: record.received[i])
            let during = o.reports.map { r in
                "\(r.label) \(String(format: "%.0f", r.milliseconds)) ms: kept delivered \(r.keptDelivered), kept dropped \(r.keptDropped)"
                    + r.changed.map { "; \($0.name) before \($0.before) after \($0.after)" }.joined()
            }
            print("large whitelist, \(who): \(record.sent.count) datagrams, \(o.certainDelivered) to deliver, \(o.certainDropped) to drop; "
                  + "\(o.lostCount) lost, \(o.leakedCount) let through; while the edits ran (arrived/sent): "
                  + during.joined(separator: "; "))
            XCTAssertEqual(record.socketDrops[i], 0, "\(who): the receiving socket lost datagrams")
            XCTAssertEqual(o.lost, [], "\(who): packets lost that the kernel accepts")
            XCTAssertEqual(o.leaked, [], "\(who): packets let through that the kernel drops")
            // The kernel's own -I takes a few milliseconds; ours rewrites the whitelist's generation.
            if i == 1 { for r in o.reports.prefix(2) { XCTAssertGreaterThan(r.keptDelivered.sent, 20, "\(who): too little traffic while \(r.label) ran") } }
            for r in o.reports { for c in r.changed { XCTAssertGreaterThan(c.after.sent, 50, "\(who): too little \(c.name) traffic after \(r.label)") } }
        }
        XCTAssertEqual(fw.events, [])
    }
}
