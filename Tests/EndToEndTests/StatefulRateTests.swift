import Foundation
import Loader
import TestSupport
import XCTest

/// limit, statistic (and hashlimit) in XDP against the kernel as the oracle: the same paced
/// packet trains go, at the same moments, into a namespace running only the kernel's
/// iptables (`ref`) and into one with ebpf-iptables in front (`two`). The packets that get
/// through INPUT are counted after it (nftables counters per source, see
/// `Receiver.instrument`). Rates: pass counts within 2 % + burst of each other; statistic
/// random within a binomial 99.9 % interval; nth exact.
final class StatefulRateTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping stateful rate tests: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "python3", "iptables-restore"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
    }

    static let source: UInt32 = 0xC612_0501 // 198.18.5.1

    struct Pair {
        let lab: FirewallLab
        let ref: Receiver
        let two: Receiver
    }

    func pair(sources: [UInt32]) throws -> Pair {
        let lab = try FirewallLab()
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        for r in [ref, two] { try r.instrument(countingSources: sources) }
        let a = two.ours(["attach", lab.interface])
        guard a.status == 0 else { throw LabError("attach: \(a.stderr)") }
        return Pair(lab: lab, ref: ref, two: two)
    }

    /// Restores `rules` on both sides (fresh buckets and counters in both, as a restore
    /// gives in the kernel).
    func restore(_ p: Pair, _ rules: String) throws {
        let k = p.ref.run(["iptables-restore"], stdin: rules)
        guard k.status == 0 else { throw LabError("iptables-restore: \(k.stderr)") }
        let path = p.lab.root + "/rules-\(UUID().uuidString.prefix(8))"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        let o = p.two.ours([path], tool: "ebpf-iptables-restore")
        guard o.status == 0 else { throw LabError("ebpf-iptables-restore: \(o.stderr)") }
    }

    func frame(source: UInt32, port: UInt16, sourcePort: UInt16 = 40000, payload: Int = 16) -> [UInt8] {
        var probe = Probe(source: source, destination: FirewallLab.address, proto: 17)
        probe.destinationPort = port
        probe.sourcePort = sourcePort
        probe.payload = payload
        return probe.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: 1)
    }

    /// Packets from `source` that got through INPUT, per side.
    func delivered(_ p: Pair, _ source: UInt32) -> (ref: UInt64, two: UInt64) {
        let name = Receiver.counterName(source)
        return (p.ref.snapshot().nft[name]?.packets ?? 0, p.two.snapshot().nft[name]?.packets ?? 0)
    }

    /// Waits until the receivers' counters stop moving (the last frames are in the stack).
    func settle(_ p: Pair, _ sources: [UInt32]) -> [(ref: UInt64, two: UInt64)] {
        var last = sources.map { delivered(p, $0) }
        for _ in 0..<20 {
            usleep(100_000)
            let now = sources.map { delivered(p, $0) }
            if now.elementsEqual(last, by: { $0 == $1 }) { return now }
            last = now
        }
        return last
    }

    struct Train {
        var rate: Double
        var count: Int
    }

    /// -m limit --limit 100/sec --limit-burst 20 -j ACCEPT, then DROP: trains below, at,
    /// around and far above the limit.
    func testLimitPassesTheKernelsRate() throws {
        let p = try pair(sources: [Self.source])
        defer { p.lab.close() }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5000 -m limit --limit 100/sec --limit-burst 20 -j ACCEPT
            -A INPUT -p udp -m udp --dport 5000 -j DROP
            COMMIT

            """
        let burst = 20.0
        var report: [String] = []
        for t in [Train(rate: 50, count: 300), Train(rate: 100, count: 500), Train(rate: 150, count: 600),
                  Train(rate: 400, count: 1200), Train(rate: 3000, count: 3000)] {
            try restore(p, rules)
            let before = try p.two.xdp().stats()
            let base = delivered(p, Self.source)
            let train = PacedTrain(rate: t.rate, count: t.count, frames: [frame(source: Self.source, port: 5000)])
            let sent = try train.send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
            let end = settle(p, [Self.source])[0]
            let got = (ref: end.ref - base.ref, two: end.two - base.two)
            let after = try p.two.xdp().stats()
            let line = "limit 100/s burst 20, \(t.count) pkts at \(Int(t.rate))/s (\(String(format: "%.2f", sent.seconds)) s, \(sent.late) late): kernel passed \(got.ref), XDP+kernel passed \(got.two), XDP dropped \(after.dropped - before.dropped)"
            report.append(line)
            let tolerance = 0.02 * Double(got.ref) + burst
            XCTAssertLessThanOrEqual(abs(Double(got.ref) - Double(got.two)), tolerance, line)
            if t.rate > 150 { XCTAssertGreaterThan(after.dropped - before.dropped, 0, "XDP decided nothing: \(line)") }
        }
        print(report.joined(separator: "\n"))
        try report.joined(separator: "\n").appending("\n").write(toFile: "/tmp/stateful-rates-limit.txt", atomically: true, encoding: .utf8)
    }

    /// ufw's shape: `-m limit -j LOG` before a DROP. The kernel behind XDP logs (its LOG
    /// rule's counter) as many packets as the kernel alone, and XDP drops the rest itself.
    func testLimitLogSendsUpOnlyTheLimitsPackets() throws {
        let p = try pair(sources: [Self.source])
        defer { p.lab.close() }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5003 -m limit --limit 50/sec --limit-burst 10 -j LOG --log-prefix "t "
            -A INPUT -p udp -m udp --dport 5003 -j DROP
            COMMIT

            """
        try restore(p, rules)
        let before = try p.two.xdp().stats()
        let n = 2000
        let sent = try PacedTrain(rate: 1000, count: n, frames: [frame(source: Self.source, port: 5003)])
            .send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
        _ = settle(p, [Self.source])
        let log = RuleName(table: "filter", chain: "INPUT", index: 1)
        let drop = RuleName(table: "filter", chain: "INPUT", index: 2)
        let ref = p.ref.snapshot().rules, two = p.two.snapshot().rules
        let dropped = try p.two.xdp().stats().dropped - before.dropped
        let line = "limit 50/s burst 10 + LOG, \(n) pkts at 1000/s (\(String(format: "%.2f", sent.seconds)) s): kernel logged \((ref[log]?.packets ?? 0)), dropped \((ref[drop]?.packets ?? 0)); behind XDP the kernel logged \((two[log]?.packets ?? 0)), dropped \((two[drop]?.packets ?? 0)); XDP dropped \(dropped)"
        print(line)
        try (line + "\n").write(toFile: "/tmp/stateful-rates-log.txt", atomically: true, encoding: .utf8)
        let refLogged = Double(ref[log]?.packets ?? 0), twoLogged = Double(two[log]?.packets ?? 0)
        XCTAssertGreaterThan(refLogged, 0, line)
        XCTAssertLessThanOrEqual(abs(refLogged - twoLogged), 0.02 * refLogged + 10, line)
        // XDP dropped the flood itself: the kernel saw about what it logged.
        XCTAssertGreaterThanOrEqual(Double(dropped), Double(n) - twoLogged - 10 - 0.02 * Double(n), line)
    }

    /// statistic where the kernel decides: random before an ACCEPT (the policy) goes up
    /// undrawn (the kernel would draw again for what XDP passes up: PendingDraws.swift), nth
    /// stays in the kernel (its counter): random within the binomial 99.9 % interval on both
    /// sides, nth exact, and XDP drops none of them.
    func testStatisticMatchesTheKernel() throws {
        let a: UInt32 = 0xC612_0601, b: UInt32 = 0xC612_0602
        let p = try pair(sources: [a, b])
        defer { p.lab.close() }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5001 -m statistic --mode random --probability 0.3 -j DROP
            -A INPUT -p udp -m udp --dport 5002 -m statistic --mode nth --every 3 --packet 1 -j DROP
            COMMIT

            """
        try restore(p, rules)
        let before = try p.two.xdp().stats()
        let n = 3000
        _ = try PacedTrain(rate: 3000, count: n, frames: [frame(source: a, port: 5001), frame(source: b, port: 5002)])
            .send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
        let got = settle(p, [a, b])
        let dropped = try p.two.xdp().stats().dropped - before.dropped
        let each = Double(n / 2)
        let prob = Double(0x8000_0000 * 0.3).rounded() / Double(0x8000_0000)
        let half = 3.29 * (each * prob * (1 - prob)).squareRoot()
        let line = "statistic random 0.3 over \(n / 2): kernel dropped \(Int(each) - Int(got[0].ref)), XDP+kernel dropped \(Int(each) - Int(got[0].two)) (99.9 % interval \(Int((each * prob - half).rounded(.up)))...\(Int(each * prob + half))); nth every 3 over \(n / 2): kernel passed \(got[1].ref), XDP+kernel passed \(got[1].two); XDP dropped \(dropped)"
        print(line)
        try (line + "\n").write(toFile: "/tmp/stateful-rates-statistic.txt", atomically: true, encoding: .utf8)
        for (side, passed) in [("kernel", got[0].ref), ("XDP", got[0].two)] {
            XCTAssertLessThanOrEqual(abs(each - Double(passed) - each * prob), half, "\(side): \(line)")
        }
        XCTAssertEqual(got[1].ref, UInt64(n / 2 - n / 2 / 3), line)
        XCTAssertEqual(got[1].two, got[1].ref, line)
        XCTAssertEqual(dropped, 0, "XDP left statistic to the kernel: \(line)")
    }

    /// hashlimit --hashlimit-above 50/sec, burst 10, per source: four sources in one train,
    /// below and above the per-source limit; every source's pass count within 2 % + burst.
    func testHashlimitPerSourceMatchesTheKernel() throws {
        let sources: [UInt32] = (1...4).map { 0xC612_0700 | $0 }
        let p = try pair(sources: sources)
        defer { p.lab.close() }
        var report: [String] = []
        for (i, t) in [Train(rate: 120, count: 480), Train(rate: 800, count: 2400)].enumerated() {
            // A fresh name per train: the kernel's table (and XDP's) outlives a restore.
            let rules = """
                *filter
                :INPUT ACCEPT [0:0]
                :FORWARD ACCEPT [0:0]
                :OUTPUT ACCEPT [0:0]
                -A INPUT -p udp -m udp --dport 5060 -m hashlimit --hashlimit-above 50/sec --hashlimit-burst 10 --hashlimit-mode srcip --hashlimit-name sip\(i) -j DROP
                COMMIT

                """
            try restore(p, rules)
            let before = try p.two.xdp().stats()
            let base = sources.map { delivered(p, $0) }
            let sent = try PacedTrain(rate: t.rate, count: t.count, frames: sources.map { frame(source: $0, port: 5060) })
                .send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
            let end = settle(p, sources)
            let dropped = try p.two.xdp().stats().dropped - before.dropped
            for (k, s) in sources.enumerated() {
                let ref = end[k].ref - base[k].ref, two = end[k].two - base[k].two
                let line = "hashlimit above 50/s burst 10 srcip, \(t.count / sources.count) pkts from \(Probe.dotted(s)) at \(Int(t.rate) / sources.count)/s (\(String(format: "%.2f", sent.seconds)) s): kernel passed \(ref), XDP+kernel passed \(two)"
                report.append(line)
                XCTAssertLessThanOrEqual(abs(Double(ref) - Double(two)), 0.02 * Double(ref) + 10, line)
            }
            report.append("  XDP dropped \(dropped)")
            if t.rate > 400 { XCTAssertGreaterThan(dropped, 0, "XDP decided nothing") }
        }
        print(report.joined(separator: "\n"))
        try report.joined(separator: "\n").appending("\n").write(toFile: "/tmp/stateful-rates-hashlimit.txt", atomically: true, encoding: .utf8)
    }
}
