import Foundation
import Loader
import TestSupport
import XCTest

/// statistic --mode random decided in XDP by pending draws (Compiler/PendingDraws.swift,
/// bpf/draws.h), against the kernel as the oracle: the same trains through the kernel alone
/// and through XDP in front of it.
extension StatefulRateTests {
    /// The 99.9 % binomial interval's half width for `n` draws of chance `p` (3.29 sigma).
    static func halfWidth(_ n: Double, _ p: Double) -> Double { 3.29 * (n * p * (1 - p)).squareRoot() }

    /// libxt_statistic's probability as the kernel holds it: lround(2^31 * p) / 2^31.
    static func held(_ p: Double) -> Double { (Double(0x8000_0000) * p).rounded() / Double(0x8000_0000) }

    /// Every outcome is a DROP (the random rule's, or the one after it): XDP draws and drops
    /// every packet itself, charging the random rule's counter at the kernel's rate (P = 0.05
    /// and 0.5), as the kernel alone charges its rule.
    func testStatisticRandomDrawnInXDP() throws {
        let a: UInt32 = 0xC612_0611, b: UInt32 = 0xC612_0612
        let p = try pair(sources: [a, b])
        defer { p.lab.close() }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5011 -m statistic --mode random --probability 0.05 -j DROP
            -A INPUT -p udp -m udp --dport 5011 -j DROP
            -A INPUT -p udp -m udp --dport 5012 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp -m udp --dport 5012 -j DROP
            COMMIT

            """
        try restore(p, rules)
        let before = try p.two.xdp().stats()
        let xdpBefore = try p.two.xdp().counters()
        let n = 10_000
        _ = try PacedTrain(rate: 5000, count: 2 * n, frames: [frame(source: a, port: 5011), frame(source: b, port: 5012)])
            .send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
        _ = settle(p, [a, b])
        let dropped = try p.two.xdp().stats().dropped - before.dropped
        let xdp = try p.two.xdp().counters()
        let ref = p.ref.snapshot().rules, twoKernel = p.two.snapshot().rules
        var lines: [String] = []
        for (k, prob) in [(0, 0.05), (2, 0.5)] {
            let random = RuleName(table: "filter", chain: "INPUT", index: k + 1)
            let kernelHits = Double(ref[random]?.packets ?? 0)
            let xdpHits = Double(xdp[k].packets - xdpBefore[k].packets)
            let seen = Double(xdp[k].packets - xdpBefore[k].packets + xdp[k + 1].packets - xdpBefore[k + 1].packets)
            let pr = Self.held(prob), half = Self.halfWidth(Double(n), pr)
            let line = "statistic random \(prob), \(n) pkts, all outcomes DROP: kernel's rule matched \(Int(kernelHits)), XDP's draw matched \(Int(xdpHits)) of \(Int(seen)) it judged (99.9 % interval \(Int((Double(n) * pr - half).rounded(.up)))...\(Int(Double(n) * pr + half))); the kernel behind XDP matched \(twoKernel[random]?.packets ?? 0)"
            lines.append(line)
            XCTAssertEqual(seen, Double(n), "XDP judged every packet: \(line)")
            XCTAssertLessThanOrEqual(abs(kernelHits - Double(n) * pr), half, "kernel: \(line)")
            XCTAssertLessThanOrEqual(abs(xdpHits - Double(n) * pr), half, "XDP: \(line)")
            XCTAssertEqual(twoKernel[random]?.packets ?? 0, 0, "nothing went up: \(line)")
        }
        lines.append("XDP dropped \(dropped) of \(2 * n)")
        print(lines.joined(separator: "\n"))
        try lines.joined(separator: "\n").appending("\n").write(toFile: "/tmp/stateful-rates-draws.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(dropped, UInt64(2 * n), lines.joined(separator: "\n"))
    }

    /// A KERNEL position after the draw (a mark test): XDP passes every packet up undrawn
    /// and the kernel draws once. The random rule drops P = 0.5 of the packets on both sides,
    /// not 1 - (1 - P)^2 = 0.75 as two draws would.
    func testStatisticRandomBeforeAKernelRuleDrawsOnce() throws {
        let a: UInt32 = 0xC612_0621
        let p = try pair(sources: [a])
        defer { p.lab.close() }
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 5013 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp -m udp --dport 5013 -m mark --mark 0 -j ACCEPT
            -A INPUT -p udp -m udp --dport 5013 -j DROP
            COMMIT

            """
        try restore(p, rules)
        let before = try p.two.xdp().stats()
        let n = 6000
        _ = try PacedTrain(rate: 4000, count: n, frames: [frame(source: a, port: 5013)])
            .send(namespace: p.lab.gen.name, interfaces: [p.ref.genSide, p.two.genSide])
        let got = settle(p, [a])[0]
        let dropped = try p.two.xdp().stats().dropped - before.dropped
        let pr = Self.held(0.5), half = Self.halfWidth(Double(n), pr)
        let line = "statistic random 0.5 before a KERNEL rule, \(n) pkts: the kernel alone passed \(got.ref), XDP+kernel passed \(got.two) (99.9 % interval \(Int((Double(n) * (1 - pr) - half).rounded(.up)))...\(Int(Double(n) * (1 - pr) + half)); two draws would pass about \(n / 4)); XDP dropped \(dropped)"
        print(line)
        try (line + "\n").write(toFile: "/tmp/stateful-rates-draws-kernel.txt", atomically: true, encoding: .utf8)
        for (side, passed) in [("kernel", got.ref), ("XDP", got.two)] {
            XCTAssertLessThanOrEqual(abs(Double(passed) - Double(n) * (1 - pr)), half, "\(side): \(line)")
        }
        XCTAssertEqual(dropped, 0, "XDP drew nothing: \(line)")
    }
}
