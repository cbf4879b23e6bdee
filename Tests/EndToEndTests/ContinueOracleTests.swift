import Foundation
import Loader
import TestSupport
import XCTest

/// CONTINUE positions (ContinuePositions.swift) against the kernel as the oracle: the same
/// paced train goes, at the same moments, into a namespace running only the kernel's
/// iptables (`ref`) and into one with ebpf-iptables in front (`two`). The ruleset counts
/// every packet (no target), marks it (MARK), jumps on a limit into a chain whose limited
/// RETURN comes back to a DROP and whose other packets it drops: every packet ends in a DROP
/// XDP decides, so `ebpf-iptables-save -c` of `two` (kernel counters plus XDP's) must show
/// what `iptables-save -c` of `ref` shows: the counting and MARK rules and the totals
/// exactly, the limited jump and RETURN within the limit tests' tolerance (2 % + burst), and
/// in each namespace the jump counted as often as the chain's rules it led to.
final class ContinueOracleTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping CONTINUE oracle tests: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "python3", "iptables-restore"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
    }

    static let source: UInt32 = 0xC612_0901 // 198.18.9.1

    func testCountersAndTheLimitOnAJumpMatchTheKernel() throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        for r in [ref, two] { try r.instrument(countingSources: [Self.source]) }
        let a = two.ours(["attach", lab.interface])
        guard a.status == 0 else { throw LabError("attach: \(a.stderr)") }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :LIM - [0:0]
            -A INPUT -p udp -m udp --dport 5010
            -A INPUT -p udp -m udp --dport 5010 -j MARK --set-xmark 0x1/0xffffffff
            -A INPUT -p udp -m udp --dport 5010 -m limit --limit 100/sec --limit-burst 10 -j LIM
            -A INPUT -p udp -m udp --dport 5010 -j DROP
            -A LIM -m limit --limit 50/sec --limit-burst 5 -j RETURN
            -A LIM -j DROP
            COMMIT

            """
        let k = ref.run(["iptables-restore"], stdin: rules)
        guard k.status == 0 else { throw LabError("iptables-restore: \(k.stderr)") }
        let path = lab.root + "/continue.rules"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        let o = two.ours([path], tool: "ebpf-iptables-restore")
        guard o.status == 0 else { throw LabError("ebpf-iptables-restore: \(o.stderr)") }
        let m = two.ours(["migrate", "--format", "json", path])
        // Every rule is XDP's (the counting rule, MARK, the jump and the RETURN continue).
        let report = try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any]
        let layers = (report?["rules"] as? [[String: Any]] ?? []).filter { $0["scope"] as? String == "input" }.map { $0["layer"] as? String ?? "" }
        XCTAssertEqual(layers, Array(repeating: "xdp", count: 6), m.stdout)

        let before = try two.xdp().stats()
        var probe = Probe(source: Self.source, destination: FirewallLab.address, proto: 17)
        probe.destinationPort = 5010
        probe.sourcePort = 40000
        probe.payload = 16
        let frame = probe.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: 1)
        let n = 1500
        let sent = try PacedTrain(rate: 300, count: n, frames: [frame])
            .send(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        // Let the last frames reach both stacks.
        var last = (ref.snapshot().seen, two.snapshot().seen)
        for _ in 0..<20 {
            usleep(100_000)
            let now = (ref.snapshot().seen, two.snapshot().seen)
            if now == last { break }
            last = now
        }
        let dropped = try two.xdp().stats().dropped - before.dropped
        let kernel = ref.snapshot().rules
        let both = NetfilterSnapshot.iptablesCounters(two.ours(["-c"], tool: "ebpf-iptables-save").stdout)
        func count(_ c: [RuleName: Count], _ chain: String, _ i: Int) -> UInt64 {
            c[RuleName(table: "filter", chain: chain, index: i)]?.packets ?? 0
        }
        let names = [("INPUT", 1), ("INPUT", 2), ("INPUT", 3), ("INPUT", 4), ("LIM", 1), ("LIM", 2)]
        let line = "\(n) pkts at 300/s (\(String(format: "%.2f", sent.seconds)) s, \(sent.late) late), XDP dropped \(dropped); "
            + names.map { "\($0.0)#\($0.1) kernel \(count(kernel, $0.0, $0.1)) both \(count(both, $0.0, $0.1))" }.joined(separator: ", ")
        print(line)
        try (line + "\n").write(toFile: "/tmp/continue-oracle.txt", atomically: true, encoding: .utf8)

        let total = UInt64(n)
        for c in [kernel, both] {
            // Every packet is counted on the counting rule and MARK, and ends in one DROP.
            XCTAssertEqual(count(c, "INPUT", 1), total, line)
            XCTAssertEqual(count(c, "INPUT", 2), total, line)
            XCTAssertEqual(count(c, "INPUT", 4) + count(c, "LIM", 2), total, line)
            // The jump is counted once per packet it took; each of those meets LIM's RETURN or DROP.
            XCTAssertEqual(count(c, "INPUT", 3), count(c, "LIM", 1) + count(c, "LIM", 2), line)
            // The RETURN's packets come back to INPUT's DROP with the ones the jump's limit refused.
            XCTAssertEqual(count(c, "INPUT", 4), total - count(c, "INPUT", 3) + count(c, "LIM", 1), line)
        }
        // Bytes: the IP packet's, on every rule.
        let bytes = both[RuleName(table: "filter", chain: "INPUT", index: 1)]?.bytes ?? 0
        XCTAssertEqual(bytes, total * UInt64(probe.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: 1).count - 14), line)
        for (chain, i, burst) in [("INPUT", 3, 10.0), ("LIM", 1, 5.0)] {
            let r = Double(count(kernel, chain, i)), b = Double(count(both, chain, i))
            XCTAssertGreaterThan(r, 0, line)
            XCTAssertLessThanOrEqual(abs(r - b), 0.02 * r + burst, "\(chain)#\(i): \(line)")
        }
        // XDP decided the flood itself.
        XCTAssertGreaterThanOrEqual(dropped, total - 10, line)
    }
}
