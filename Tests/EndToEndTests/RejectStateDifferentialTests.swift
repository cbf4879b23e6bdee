import Foundation
import TestSupport
import Verifier
import XCTest

/// goautodial-sysconfig.rules (../shared/corpus, read in place) through the kernel alone and
/// through both layers (DifferentialRun), with probes aimed at its PSD REJECTs, which XDP
/// answers by the original's conntrack state (Compiler/ReplyStateSplit.swift): NEW originals
/// (TCP SYNs and UDP to ports SERVICES does not accept) and INVALID ones (SYN|ACK, RST and
/// FIN|ACK without an entry, which CHECK_TCP lets through to PSD). Every scored probe must be
/// decided as the kernel alone decides it. The lab has no route back to the probes' sources,
/// so no reply leaves either namespace here (XDP passes a REJECT whose reply route fails up,
/// undrawn): the reply frames and their counters are compared in
/// LoaderTests/RejectStateSplitTests, where the routes exist.
final class RejectStateDifferentialTests: XCTestCase {
    func testGoautodialPSDRejectsDecideLikeTheKernel() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        for tool in ["nft", "conntrack", "python3"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
        guard let dir = Fixtures.corpus else { throw XCTSkip("../shared/corpus is absent") }
        let url = dir.appendingPathComponent("goautodial-sysconfig.rules")
        guard FileManager.default.fileExists(atPath: url.path) else { return XCTFail("goautodial-sysconfig.rules is missing") }
        var probes: [Probe] = []
        for i in 0..<20 {
            var syn = Probe(source: 0xC633_6500 | UInt32(10 + i), destination: FirewallLab.address, proto: 6)
            syn.destinationPort = UInt16(1000 + i)
            syn.tcpFlags = 0x02
            syn.purpose = "PSD: a NEW SYN to a closed port"
            probes.append(syn)
            var udp = Probe(source: 0xC633_6600 | UInt32(10 + i), destination: FirewallLab.address, proto: 17)
            udp.destinationPort = UInt16(2000 + i)
            udp.purpose = "PSD: a NEW datagram to a closed port"
            probes.append(udp)
            for (k, flags) in [UInt8(0x12), 0x04, 0x11].enumerated() {
                var bad = Probe(source: 0xC633_6700 | UInt32(10 + i * 3 + k), destination: FirewallLab.address, proto: 6)
                bad.destinationPort = UInt16(3000 + i)
                bad.tcpFlags = flags
                bad.purpose = "PSD: an INVALID segment (flags 0x\(String(flags, radix: 16)), no entry)"
                probes.append(bad)
            }
        }
        var run = DifferentialRun(subject: RulesetSubject(url: url, sets: nil), probesWanted: 60)
        run.extraProbes = probes
        let r = try run.run()
        XCTAssertTrue(r.kernelAccepts)
        for d in r.disagreements { XCTFail(d) }
        for p in r.problems { XCTFail(p) }
        XCTAssertEqual(r.agreed, r.scored)
        XCTAssertGreaterThanOrEqual(r.scored, probes.count * 3 / 4, "most probes scored (a draw on either side makes one unscorable)")
        print("REJECT by state, goautodial differential: \(r.probes) probes, \(r.agreed)/\(r.scored) agree, \(r.unscorable) unscorable; "
              + "kernel drops \(r.kernelDrops) (\(r.rejects) by REJECT), XDP dropped \(r.xdpDrops) itself; \(String(format: "%.1f", r.seconds)) s")
    }
}
