import Foundation
import Loader
import TestSupport
import Verifier
import XCTest

/// -m recent with the real kernel as oracle: the same packet sequences into a namespace
/// running the ruleset in iptables alone (`ref`) and into one running it with ebpf-iptables
/// in front (`two`). Per packet, the same verdict (delivered past INPUT or not); at the end,
/// XDP's list (`ebpf-iptables recent NAME`) holds what the reference's
/// /proc/net/xt_recent/NAME holds: the same addresses, TTLs, ring index and number of
/// stamps, the stamps within a few jiffies (the two namespaces see each frame a moment apart).
final class RecentOracleTests: XCTestCase {
    struct Entry: Equatable {
        var address: String
        var ttl: String
        var index: String
        var stamps: [UInt64]
    }

    /// `src=A ttl: T last_seen: J oldest_pkt: I S, S, ...` lines, by address.
    static func parse(_ text: String) -> [String: Entry] {
        var out: [String: Entry] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("src=") {
            let w = line.split(separator: " ")
            guard w.count >= 8 else { continue }
            let addr = String(w[0].dropFirst(4))
            let stamps = w[7...].compactMap { UInt64($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }
            out[addr] = Entry(address: addr, ttl: String(w[2]), index: String(w[6]), stamps: stamps)
        }
        return out
    }

    static let sipRules = """
    *filter
    :INPUT ACCEPT [0:0]
    -A INPUT -p udp -m udp --dport 5060 -m recent --set --name SIP --mask 255.255.255.255 --rsource
    -A INPUT -p udp -m udp --dport 5060 -m recent --update --seconds 60 --hitcount 4 --name SIP --mask 255.255.255.255 --rsource -j DROP
    -A INPUT -p udp -m udp --dport 5060 -j ACCEPT
    COMMIT

    """

    func testSIPScannerSameVerdictsAndLists() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: Self.sipRules).status, 0)
        let at = two.ours(["attach", lab.interface])
        XCTAssertEqual(at.status, 0, at.stderr)
        let rs = two.ours([], tool: "ebpf-iptables-restore", stdin: Self.sipRules)
        XCTAssertEqual(rs.status, 0, rs.stderr)
        let migrate = two.ours(["status", "-v"])
        XCTAssertTrue(migrate.stdout.contains("xdp"), migrate.stdout)

        // Three scanners and one caller, interleaved; TTLs differ per source.
        let a: UInt32 = 0xC633_0101, b: UInt32 = 0xC633_0102, c: UInt32 = 0xC633_0103, d: UInt32 = 0xC633_0104
        let ttl: [UInt32: UInt8] = [a: 61, b: 62, c: 63, d: 64]
        let sequence: [UInt32] = [a, a, b, a, a, c, a, b, a, c, c, a, d, c, c, b, a, d, a, c]
        try ref.instrument(countingSources: [a, b, c, d])
        try two.instrument(countingSources: [a, b, c, d])
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        var refVerdicts: [Bool] = [], twoVerdicts: [Bool] = []
        var sport: UInt16 = 20000
        for (i, src) in sequence.enumerated() {
            var p = Probe(source: src, destination: FirewallLab.address, proto: 17)
            p.sourcePort = sport
            p.destinationPort = 5060
            p.ttl = ttl[src] ?? 64
            sport += 1
            let v = try sender.deliveredByBoth(p.frame(sourceMAC: [0x02, 0, 0, 0, 0, 0x77], destinationMAC: FirewallLab.mac, ipID: UInt16(i + 1)), ref: ref, two: two)
            refVerdicts.append(v.ref)
            twoVerdicts.append(v.two)
        }
        XCTAssertEqual(refVerdicts, twoVerdicts, "verdicts per packet (true: delivered)")
        // a's and c's 4th packet on (6 + 3) are dropped: the list decided, and XDP did it.
        XCTAssertEqual(refVerdicts.filter { !$0 }.count, 9, "\(refVerdicts)")
        XCTAssertEqual(try two.xdp().stats().dropped, 9, "every drop was XDP's")
        // Counters: the act-only --set rule is a CONTINUE position, counted by XDP for the
        // packets it drops further on; both layers show what the kernel alone shows.
        let kernelCounts = ref.snapshot().rules
        let bothCounts = NetfilterSnapshot.iptablesCounters(two.ours(["-c"], tool: "ebpf-iptables-save").stdout)
        for i in 1...3 {
            let name = RuleName(table: "filter", chain: "INPUT", index: i)
            XCTAssertEqual(bothCounts[name], kernelCounts[name], "INPUT#\(i): both layers \(bothCounts[name].map(\.description) ?? "-"), kernel alone \(kernelCounts[name].map(\.description) ?? "-")")
        }
        XCTAssertEqual(kernelCounts[RuleName(table: "filter", chain: "INPUT", index: 1)]?.packets, UInt64(sequence.count))

        let refList = Self.parse(ref.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)
        let out = two.ours(["recent", "SIP"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let xdpList = Self.parse(out.stdout)
        XCTAssertEqual(refList.count, 4)
        XCTAssertEqual(Set(refList.keys), Set(xdpList.keys))
        print("reference /proc/net/xt_recent/SIP:\n" + ref.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)
        print("ebpf-iptables recent SIP:\n" + out.stdout)
        print("two-layer kernel copy:\n" + two.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)
        for (addr, e) in refList {
            guard let x = xdpList[addr] else { continue }
            XCTAssertEqual(x.ttl, e.ttl, addr)
            XCTAssertEqual(x.index, e.index, addr)
            XCTAssertEqual(x.stamps.count, e.stamps.count, addr)
            for (s1, s2) in zip(x.stamps, e.stamps) {
                XCTAssertLessThanOrEqual(s1 > s2 ? s1 - s2 : s2 - s1, 25, "\(addr): stamps \(x.stamps) vs \(e.stamps) (0.1 s at HZ 250)")
            }
        }
        // The two-layer namespace's own kernel list saw only what XDP passed: a subset.
        let kernelCopy = Self.parse(two.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)
        for (addr, k) in kernelCopy {
            XCTAssertLessThanOrEqual(k.stamps.count, xdpList[addr]?.stamps.count ?? 0, "kernel copy of \(addr) within XDP's")
        }

        // Writes as /proc takes them, to both copies: remove a, and a's next packet passes.
        XCTAssertEqual(two.ours(["recent", "SIP", "remove", "198.51.1.1"]).status, 0)
        XCTAssertEqual(ref.run(["sh", "-c", "echo -198.51.1.1 > /proc/net/xt_recent/SIP"]).status, 0)
        XCTAssertNil(Self.parse(two.ours(["recent", "SIP"]).stdout)["198.51.1.1"])
        XCTAssertNil(Self.parse(two.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)["198.51.1.1"])
        XCTAssertEqual(two.ours(["recent", "SIP", "add", "198.51.1.9"]).status, 0)
        let added = Self.parse(two.ours(["recent", "SIP"]).stdout)["198.51.1.9"]
        XCTAssertEqual(added?.ttl, "0")
        XCTAssertEqual(added?.stamps.count, 1)
        XCTAssertNotNil(Self.parse(two.run(["cat", "/proc/net/xt_recent/SIP"]).stdout)["198.51.1.9"], "the kernel's copy took the write too")
        XCTAssertEqual(two.ours(["recent", "SIP", "clear"]).status, 0)
        XCTAssertEqual(two.ours(["recent", "SIP"]).stdout, "")
        XCTAssertEqual(two.run(["cat", "/proc/net/xt_recent/SIP"]).stdout, "")
    }

    /// The window: `--rcheck --seconds 1 --hitcount 3 -j DROP` after an act-only --set, with
    /// pauses longer than the window between bursts: stamps age out as the kernel ages them
    /// (jiffies, CONFIG_HZ, time_after), in both namespaces alike.
    func testWindowAgesOutLikeTheKernel() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -p udp -m udp --dport 5060 -m recent --set --name W --mask 255.255.255.255 --rsource
        -A INPUT -p udp -m udp --dport 5060 -m recent --rcheck --seconds 1 --hitcount 3 --name W --mask 255.255.255.255 --rsource -j DROP
        -A INPUT -p udp -m udp --dport 5060 -j ACCEPT
        COMMIT

        """
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: rules).status, 0)
        XCTAssertEqual(two.ours(["attach", lab.interface]).status, 0)
        let rs = two.ours([], tool: "ebpf-iptables-restore", stdin: rules)
        XCTAssertEqual(rs.status, 0, rs.stderr)
        try ref.instrument()
        try two.instrument()
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        let src: UInt32 = 0xC633_0201
        // (pause before, in ms): a burst of 4, a pause past the window, 2, pause, 4.
        let pauses: [UInt32] = [0, 0, 0, 0, 1300, 0, 0, 1300, 0, 0, 0, 0]
        var refVerdicts: [Bool] = [], twoVerdicts: [Bool] = []
        for (i, pause) in pauses.enumerated() {
            usleep(pause * 1000)
            var p = Probe(source: src, destination: FirewallLab.address, proto: 17)
            p.sourcePort = UInt16(21000 + i)
            p.destinationPort = 5060
            let v = try sender.deliveredByBoth(p.frame(sourceMAC: [0x02, 0, 0, 0, 0, 0x77], destinationMAC: FirewallLab.mac, ipID: UInt16(i + 1)), ref: ref, two: two)
            refVerdicts.append(v.ref)
            twoVerdicts.append(v.two)
        }
        XCTAssertEqual(refVerdicts, twoVerdicts, "verdicts per packet (true: delivered)")
        XCTAssertEqual(refVerdicts, [true, true, false, false, true, true, false, true, true, false, false, false], "the window as the kernel keeps it")
        let refList = Self.parse(ref.run(["cat", "/proc/net/xt_recent/W"]).stdout)
        let xdpList = Self.parse(two.ours(["recent", "W"]).stdout)
        XCTAssertEqual(refList["198.51.2.1"]?.stamps.count, xdpList["198.51.2.1"]?.stamps.count)
        XCTAssertEqual(refList["198.51.2.1"]?.index, xdpList["198.51.2.1"]?.index)
    }

    /// --reap, left out by XDP where every test of the list has a window no longer than the
    /// reap's: two sources, the first one's entry gone stale (the least recently updated
    /// entry, which the kernel alone reaps when the second one's burst is checked) and then
    /// back: the same verdicts, and XDP dropped the bursts itself.
    func testReapLeftOutChangesNoVerdict() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -p udp -m udp --dport 5060 -m recent --set --name R --mask 255.255.255.255 --rsource
        -A INPUT -p udp -m udp --dport 5060 -m recent --rcheck --seconds 1 --reap --hitcount 3 --name R --mask 255.255.255.255 --rsource -j DROP
        -A INPUT -p udp -m udp --dport 5060 -j ACCEPT
        COMMIT

        """
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: rules).status, 0)
        XCTAssertEqual(two.ours(["attach", lab.interface]).status, 0)
        let rs = two.ours([], tool: "ebpf-iptables-restore", stdin: rules)
        XCTAssertEqual(rs.status, 0, rs.stderr)
        try ref.instrument()
        try two.instrument()
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        let a: UInt32 = 0xC633_0301, b: UInt32 = 0xC633_0302
        // (source, pause before in ms): A's burst, a pause past the window, B's burst (the
        // kernel alone reaps A's stale entry there), then A again.
        let plan: [(UInt32, UInt32)] = [(a, 0), (a, 0), (a, 0), (a, 0), (b, 1300), (b, 0), (b, 0), (b, 0), (a, 0), (a, 0), (a, 0), (a, 0)]
        var refVerdicts: [Bool] = [], twoVerdicts: [Bool] = []
        let dropsBefore = try two.xdp().stats().dropped
        for (i, (src, pause)) in plan.enumerated() {
            usleep(pause * 1000)
            var p = Probe(source: src, destination: FirewallLab.address, proto: 17)
            p.sourcePort = UInt16(22000 + i)
            p.destinationPort = 5060
            let v = try sender.deliveredByBoth(p.frame(sourceMAC: [0x02, 0, 0, 0, 0, 0x78], destinationMAC: FirewallLab.mac, ipID: UInt16(i + 1)), ref: ref, two: two)
            refVerdicts.append(v.ref)
            twoVerdicts.append(v.two)
        }
        XCTAssertEqual(refVerdicts, twoVerdicts, "verdicts per packet (true: delivered)")
        XCTAssertEqual(refVerdicts, [true, true, false, false, true, true, false, false, true, true, false, false], "the window as the kernel keeps it")
        XCTAssertEqual(try two.xdp().stats().dropped - dropsBefore, 6, "XDP dropped every packet the list refused itself")
        // The kernel alone reaped A's stale entry when B's burst was checked; XDP's copy keeps
        // it (docs/recent.md): only B's entry is compared.
        let refList = Self.parse(ref.run(["cat", "/proc/net/xt_recent/R"]).stdout)
        let xdpList = Self.parse(two.ours(["recent", "R"]).stdout)
        XCTAssertEqual(refList["198.51.3.2"]?.stamps.count, xdpList["198.51.3.2"]?.stamps.count)
    }
}
