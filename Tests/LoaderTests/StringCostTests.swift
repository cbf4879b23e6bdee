import Compiler
import Foundation
import Loader
import XCTest

/// The XDP program alone (BPF_PROG_TEST_RUN, no stack) on a 1,400-byte SIP payload judged by
/// a `-m string` DROP rule: the scanner's name at the end (dropped) or nowhere (the policy).
/// Verdicts are asserted; times are printed for information (scripts/bench-string measures
/// the same flood through a TAP device beside iptables).
final class StringCostTests: XCTestCase {
    func testStringRuleCost() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        try dp.setFlags(.allDestinations)
        let head = Array("OPTIONS sip:100@198.18.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5070\r\n".utf8)
        func payload(_ agent: String) -> [UInt8] {
            let tail = Array("User-Agent: \(agent)\r\n".utf8)
            return head + [UInt8](repeating: 0x2e, count: 1400 - head.count - tail.count) + tail
        }
        var match = TestPacket()
        (match.src, match.sport, match.dst, match.dport) = (0xC633_6407, 40000, 0xC612_0001, 5060)
        match.payload = payload("friendly-scanner")
        var miss = match
        miss.payload = payload("Asterisk PBX 18.")
        var generation: UInt32 = 1 // generation 0 is live after load
        var bare = CompiledTables()
        bare.policy = .drop
        try dp.write(bare, generation: generation)
        try dp.activate(generation: generation)
        let floor = try dp.testRun(packet: match.frame, repeat: 20_000)
        XCTAssertEqual(floor.action, XDPAction.drop)
        print("string cost: policy DROP, no rules: \(floor.nanosecondsPerRun) ns/packet")
        for (bm, icase) in [(true, false), (false, false), (true, true), (false, true)] {
            var t = CompiledTables()
            t.verdicts = [.drop]
            t.policy = .accept
            var r = CompiledTables.FallbackRule(position: 0)
            r.proto = .init(17)
            r.destinationPorts = .init(5060...5060)
            r.ext = [.string(StringSearch(pattern: Array("friendly-scanner".utf8), from: 0, to: 65535, boyerMoore: bm, ignoreCase: icase), negated: false)]
            t.fallback = [r]
            generation = 1 - generation
            try dp.write(t, generation: generation)
            try dp.activate(generation: generation)
            let m = try dp.testRun(packet: match.frame, repeat: 20_000)
            let n = try dp.testRun(packet: miss.frame, repeat: 20_000)
            XCTAssertEqual(m.action, XDPAction.drop)
            XCTAssertEqual(n.action, XDPAction.pass)
            print("string cost: --algo \(bm ? "bm" : "kmp")\(icase ? " --icase" : ""): match at the end \(m.nanosecondsPerRun) ns/packet, no match \(n.nanosecondsPerRun) ns/packet")
        }
    }
}
