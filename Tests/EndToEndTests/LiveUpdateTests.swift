import Foundation
import Loader
import TestSupport
import XCTest

/// Live edits with traffic over a veth: each `ebpf-ipset add/del` and `ebpf-iptables -A/-D/-I`
/// decides the very next packet, and while packets flow no packet is misjudged during a
/// large `-I` (every rule position moves, a 50,000-member whitelist is rewritten).
/// Whether a packet survived XDP is answered by count-only iptables rules behind it.
final class LiveUpdateTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping live-update test: \(why)")
            throw XCTSkip(why)
        }
    }

    static let members = 50_000
    /// 198.19.0.0/16 holds the whitelist; 198.18.200.0/24 never is in it; 198.18.201.0/24 is edited live.
    static func member(_ i: Int) -> UInt32 { 0xC613_0000 | UInt32(i + 1) }

    func testEditsDecideTheNextPacketAndALargeInsertMisjudgesNothing() throws {
        let gen = try NetworkNamespace(prefix: "ebpt-lgen"), fw = try NetworkNamespace(prefix: "ebpt-lfw")
        Run.run(["ip", "link", "add", "lg0", "netns", gen.name, "type", "veth", "peer", "name", "rx0", "netns", fw.name])
        gen.run(["ip", "link", "set", "lg0", "up"])
        fw.run(["ip", "addr", "add", "198.18.0.2/24", "dev", "rx0"])
        fw.run(["ip", "link", "set", "rx0", "up"])
        fw.run(["ip", "link", "set", "lo", "up"])
        for k in ["all", "default", "rx0"] { fw.run(["sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"]) }
        // The kernel's own iptables only counts what XDP let through.
        for rule in [["-s", "198.19.0.0/16", "-p", "udp", "--dport", "5060"], ["-s", "198.18.200.0/24"], ["-s", "198.18.201.0/24"]] {
            XCTAssertEqual(fw.run(["iptables", "-A", "INPUT"] + rule).status, 0)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-live-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir + "/bpffs", withIntermediateDirectories: true)
        XCTAssertEqual(Run.run(["mount", "-t", "bpf", "bpf", dir + "/bpffs"]).status, 0)
        let env = ["EBPF_IPTABLES_BPFFS": dir + "/bpffs/pins", "EBPF_IPTABLES_STATE": dir + "/state"]
        func ours(_ args: [String], stdin: String? = nil) -> RunResult {
            fw.run(["env"] + env.map { "\($0.key)=\($0.value)" } + [Run.binary] + args, stdin: stdin)
        }
        defer {
            _ = ours(["detach", "rx0"])
            Run.run(["umount", dir + "/bpffs"])
            try? FileManager.default.removeItem(atPath: dir)
        }

        var sets = "create wl hash:ip family inet hashsize 65536 maxelem 1000000\n"
        for i in 0..<Self.members { sets += "add wl \(Probe.dotted(Self.member(i)))\n" }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5060 -m set --match-set wl src -j ACCEPT
            -A INPUT -p udp -m udp --dport 5060 -j DROP
            COMMIT

            """
        for (args, input) in [(["attach", "rx0"], nil), (["ipset", "restore"], sets), (["restore"], rules)] as [([String], String?)] {
            let r = ours(args, stdin: input)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }

        let mac = fw.run(["cat", "/sys/class/net/rx0/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: ":").compactMap { UInt8($0, radix: 16) }
        let sender = try FrameSender(namespace: gen.name, interface: "lg0")
        var ipID: UInt16 = 0
        func frame(_ src: UInt32, _ dport: UInt16) -> [UInt8] {
            var p = Probe(source: src, destination: 0xC612_0002, proto: 17)
            p.destinationPort = dport
            ipID &+= 1
            return p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: mac, ipID: ipID)
        }
        /// Packets that reached the kernel's INPUT from each source range (count-only rules 1..3).
        func kernel() -> [UInt64] { KernelCounters.read(namespace: fw.name).rules["INPUT"] ?? [0, 0, 0] }
        func judged() throws -> UInt64 {
            let dp = try Dataplane.open(pinnedAt: dir + "/bpffs/pins")
            return try dp.counters(generation: dp.liveGeneration()).reduce(0) { $0 + $1.packets }
        }
        /// Sends one packet and says whether it got past XDP.
        func passes(_ src: UInt32, _ dport: UInt16) throws -> Bool {
            let before = kernel(), judgedBefore = try judged()
            try sender.send(frame(src, dport))
            let deadline = Date().addingTimeInterval(1)
            while try judged() == judgedBefore, Date() < deadline { usleep(1000) }
            // The stack runs right after XDP in the same poll; allow it a moment either way.
            var after = kernel()
            let settle = Date().addingTimeInterval(0.3)
            while after == before, Date() < settle { usleep(2000); after = kernel() }
            return after != before
        }

        let y: UInt32 = 0xC612_C905, z: UInt32 = 0xC612_C906 // 198.18.201.5 and .6
        let steps: [(String, [String], UInt32, UInt16, Bool)] = [
            ("unknown peer on 5060", [], y, 5060, false),
            ("after ebpf-ipset add", ["ipset", "add", "wl", "198.18.201.5"], y, 5060, true),
            ("after ebpf-ipset del", ["ipset", "del", "wl", "198.18.201.5"], y, 5060, false),
            ("policy for other ports", [], z, 7000, true),
            ("after -A INPUT -s z -j DROP", ["-A", "INPUT", "-s", "198.18.201.6", "-j", "DROP"], z, 7000, false),
            ("after -D of that rule", ["-D", "INPUT", "-s", "198.18.201.6/32", "-j", "DROP"], z, 7000, true),
            ("after -I INPUT 1 accepting y", ["-I", "INPUT", "1", "-s", "198.18.201.5", "-p", "udp", "--dport", "5060", "-j", "ACCEPT"], y, 5060, true),
        ]
        for (what, edit, src, port, pass) in steps {
            if !edit.isEmpty {
                let r = ours(edit)
                XCTAssertEqual(r.status, 0, "\(edit.joined(separator: " ")): \(r.stderr)")
            }
            XCTAssertEqual(try passes(src, port), pass, what)
        }

        // Traffic during a large -I: members must all pass, non-members all be dropped.
        let traffic = Traffic(sender: sender, mac: mac)
        let before = kernel()
        let thread = Thread { traffic.run() }
        thread.start()
        usleep(200_000)
        traffic.insertRunning.value = true
        let r = ours(["-I", "INPUT", "1", "-p", "tcp", "--dport", "9", "-j", "DROP"])
        traffic.insertRunning.value = false
        XCTAssertEqual(r.status, 0, r.stderr)
        usleep(200_000)
        traffic.stop.value = true
        while !thread.isFinished { usleep(10_000) }
        let sent = traffic.sent
        usleep(300_000)
        let after = kernel()
        let passedMembers = after[0] - before[0], passedOthers = after[1] - before[1]
        print("live update: \(sent.members) whitelisted and \(sent.others) unknown packets sent, \(sent.duringInsert) while the -I ran; "
              + "\(passedMembers) whitelisted passed, \(passedOthers) unknown passed")
        XCTAssertGreaterThan(sent.duringInsert, 100, "traffic must flow while the -I runs")
        XCTAssertEqual(passedMembers, UInt64(sent.members), "every whitelisted packet passes, before, during and after the -I")
        XCTAssertEqual(passedOthers, 0, "no unknown packet passes")
    }
}

/// The sender thread of the -I test: alternates whitelisted and unknown sources, bounded in
/// count and time, and counts what it sent (and how much of it while the -I ran).
final class Traffic: @unchecked Sendable {
    let sender: FrameSender
    let mac: [UInt8]
    let stop = ManagedAtomicFlag(), insertRunning = ManagedAtomicFlag()
    var sent = (members: 0, others: 0, duringInsert: 0)

    init(sender: FrameSender, mac: [UInt8]) {
        self.sender = sender
        self.mac = mac
    }

    func run() {
        var i = 0
        let deadline = Date().addingTimeInterval(60)
        while !stop.value, i < 60_000, Date() < deadline {
            let member = i % 2 == 0
            var p = Probe(source: member ? LiveUpdateTests.member((i * 7919) % LiveUpdateTests.members) : 0xC612_C800 | UInt32(i % 250 + 1),
                          destination: 0xC612_0002, proto: 17)
            p.destinationPort = 5060
            p.sourcePort = UInt16(20000 + i % 30000)
            guard (try? sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: mac, ipID: UInt16(truncatingIfNeeded: i)))) != nil else { break }
            if member { sent.members += 1 } else { sent.others += 1 }
            if insertRunning.value { sent.duringInsert += 1 }
            i += 1
        }
    }
}

/// A flag shared by the sending thread and the test.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = false
    var value: Bool {
        get { lock.lock(); defer { lock.unlock() }; return v }
        set { lock.lock(); v = newValue; lock.unlock() }
    }
}
