import Compiler
import Foundation
import IptParse
import Loader
import XCTest

/// What an addrtype or pkttype test costs per packet (BPF_PROG_TEST_RUN, kernel time per
/// run): one DROP rule `-p udp --dport 1 [test]` whose test holds, against the same rule
/// without a test. Printed for information; only the verdicts are asserted.
final class AddrtypeCostTests: XCTestCase {
    func testCostPerPacket() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        try dp.setFlags(.allDestinations)
        var pkt = TestPacket()
        (pkt.src, pkt.sport, pkt.dst, pkt.dport) = (0xC612_0001, 40000, 0xC612_0002, 1)
        let local = [LocalRoutes.Entry(destination: 0xC612_0002, length: 32, type: 2, ifindex: 1, unsure: false),
                     LocalRoutes.Entry(destination: 0x7F00_0000, length: 8, type: 2, ifindex: 1, unsure: false)]
        let variants: [(String, [ExtTest])] = [
            ("no extension test", []),
            ("mac --mac-source (the extension path alone)", [.mac([0x02, 0, 0, 0, 0, 2], negated: false)]),
            ("addrtype --dst-type LOCAL", [.addrtype(AddrTypeTest(destinationMask: 1 << 2), negated: false)]),
            ("addrtype --src-type UNICAST --dst-type LOCAL --limit-iface-in",
             [.addrtype(AddrTypeTest(sourceMask: 1 << 1, destinationMask: 1 << 2, limitIfaceIn: true), negated: false)]),
            ("pkttype --pkt-type unicast (device address read)", [.pkttype(0, negated: false)]),
        ]
        var generation: UInt32 = 0
        let repeats: UInt32 = 200_000
        for (name, ext) in variants {
            var t = CompiledTables()
            t.verdicts = [.drop]
            t.policy = .accept
            var r = CompiledTables.FallbackRule(position: 0)
            r.proto = .init(17)
            r.destinationPorts = .init(1...1)
            r.ext = ext
            t.fallback = [r]
            generation = 1 - generation
            try dp.write(t, generation: generation)
            try dp.activate(generation: generation)
            var frame = pkt.frame
            if case .pkttype = ext.first { for i in 0..<6 { frame[i] = 0 } } // loopback's address
            var best = UInt32.max
            for _ in 0..<3 {
                try dp.setLocalRoutes(local, generation: try LocalRoutes.generation())
                let run = try dp.testRun(packet: frame, repeat: repeats)
                XCTAssertEqual(run.action, XDPAction.drop, name)
                best = min(best, run.nanosecondsPerRun)
            }
            print("addrtype cost: \(name): \(best) ns/packet (best of 3 x \(repeats))")
        }
    }
}
