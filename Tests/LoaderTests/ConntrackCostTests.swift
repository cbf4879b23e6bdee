import Compiler
import Foundation
import IptParse
import Loader
import XCTest

/// What a conntrack ext test costs per packet (BPF_PROG_TEST_RUN, kernel time per run): a
/// DROP rule `-p udp --dport 1 [test]` whose test holds for a new flow (no entry: the lookup
/// misses), against the same rule without a test and with the fixed state test. Two rules
/// with conntrack options show the snapshot taken once per packet. Printed for information;
/// only the verdicts are asserted.
final class ConntrackCostTests: XCTestCase {
    func testCostPerPacket() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        try dp.setFlags(.allDestinations)
        var pkt = TestPacket()
        (pkt.src, pkt.sport, pkt.dst, pkt.dport) = (0xC612_0001, 40000, 0xC612_0002, 1)
        func options(_ o: [ExtensionOption]) throws -> ExtTest {
            .conntrack(try ConntrackTest.lower(ConntrackMatch(other: o), newConnectionNATUnknown: false))
        }
        let origin = try options([ExtensionOption("ctorigsrc", args: ["198.18.0.1"]), ExtensionOption("ctdir", args: ["ORIGINAL"])])
        let failing = try options([ExtensionOption("ctorigsrc", args: ["198.18.0.9"])])
        let mac = ExtTest.mac([0x02, 0, 0, 0, 0, 0x99], negated: false) // fails: the frame's source differs
        let variants: [(String, [ExtTest], ConntrackStates?, Bool)] = [
            ("no test", [], nil, false),
            ("fixed --ctstate NEW (eipt_ct_state)", [], .new, false),
            ("ext state NEW after a stateful test (snapshot)", [.conntrack(ConntrackTest(states: Negatable(.new)))], nil, false),
            ("ext --ctorigsrc --ctdir ORIGINAL (snapshot)", [origin], nil, false),
            ("two rules with conntrack options (one snapshot)", [origin], nil, true),
            ("two rules, the first a failing mac test (the round without a lookup)", [origin, mac], nil, true),
        ]
        var generation: UInt32 = 0
        let repeats: UInt32 = 200_000
        for (name, ext, state, twoRules) in variants {
            var t = CompiledTables()
            t.verdicts = twoRules ? [.drop, .drop] : [.drop]
            t.policy = .accept
            var r = CompiledTables.FallbackRule(position: twoRules ? 1 : 0)
            r.proto = .init(17)
            r.destinationPorts = .init(1...1)
            r.ext = ext
            if let state { r.conntrack = .init(state) }
            if twoRules {
                var first = r
                first.position = 0
                first.ext = [ext.count > 1 ? ext[1] : failing]
                r.ext = [ext[0]]
                t.fallback = [first, r]
            } else {
                t.fallback = [r]
            }
            generation = 1 - generation
            try dp.write(t, generation: generation)
            try dp.activate(generation: generation)
            var best = UInt32.max
            for _ in 0..<3 {
                let run = try dp.testRun(packet: pkt.frame, repeat: repeats)
                XCTAssertEqual(run.action, XDPAction.drop, name)
                best = min(best, run.nanosecondsPerRun)
            }
            print("conntrack cost: \(name): \(best) ns/packet (best of 3 x \(repeats))")
        }
    }
}
