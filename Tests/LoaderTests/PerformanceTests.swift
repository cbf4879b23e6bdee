import Compiler
import Foundation
import Loader
import XCTest

/// Verdicts at scale: a 100,000-member whitelist and the longest fallback list still judge
/// correctly. Times are printed for information only and never asserted; the speed goals
/// are measured by scripts/bench-xdp (ebpf-iptables-bench).
final class PerformanceTests: XCTestCase {
    /// A whitelist as the compiler emits `-s SET -p udp --dport 5060 -j ACCEPT` + DROP policy:
    /// `members` /32 sources in src_proto_port.
    static func whitelist(_ members: Int) -> CompiledTables {
        var t = CompiledTables()
        t.verdicts = [.accept]
        t.policy = .drop
        for i in 0..<members {
            let source = CompiledTables.Prefix(address: 0x0A00_0000 | UInt32(i), length: 32)
            t.sourceProtoPort[.init(source: source, protoPort: .init(proto: 17, port: 5060))] = 0
        }
        return t
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func testWhitelistCost() throws {
        try Privileged.skipUnlessPrivileged()
        let repeats: UInt32 = 1_000_000
        let dp = try Dataplane.load()
        print("verifier: \(dp.verifierStats)")
        try dp.setFlags(.allDestinations)
        var hit = TestPacket()
        (hit.src, hit.sport, hit.dst, hit.dport) = (0x0A00_0005, 40000, 0xC612_0001, 5060)
        var miss = hit
        miss.src = 0xC633_6401
        var generation: UInt32 = 0
        for members in [10, 100_000] {
            let tables = Self.whitelist(members)
            generation = 1 - generation
            let start = Self.now()
            try dp.write(tables, generation: generation)
            try dp.activate(generation: generation)
            let seconds = Self.now() - start
            print(String(format: "write+activate %d-entry generation: %.3f s", members, seconds))
            let h = try dp.testRun(packet: hit.frame, repeat: repeats)
            let m = try dp.testRun(packet: miss.frame, repeat: repeats)
            XCTAssertEqual(h.action, XDPAction.pass)
            XCTAssertEqual(m.action, XDPAction.drop)
            print("src_proto_port \(members) entries: member \(h.nanosecondsPerRun) ns/packet, non-member \(m.nanosecondsPerRun) ns/packet (repeat \(repeats))")
        }
        // The longest fallback list, none of it matching: the bpf_loop's worst case.
        var fb = CompiledTables()
        fb.verdicts = [CompiledTables.Verdict](repeating: .accept, count: 512)
        fb.policy = .drop
        for i in 0..<512 {
            var r = CompiledTables.FallbackRule(position: UInt32(i))
            r.proto = .init(17)
            r.destinationPorts = .init(UInt16(10000 + i)...UInt16(10000 + i))
            fb.fallback.append(r)
        }
        try dp.write(fb, generation: 1 - generation)
        try dp.activate(generation: 1 - generation)
        let f = try dp.testRun(packet: miss.frame, repeat: repeats / 10)
        XCTAssertEqual(f.action, XDPAction.drop)
        print("512 fallback rules, none matching: \(f.nanosecondsPerRun) ns/packet")
        // Rewriting the idle 100k generation measures clearing + writing.
        let start = Self.now()
        try dp.write(Self.whitelist(100_000), generation: generation)
        print(String(format: "rewrite over an existing 100000-entry generation: %.3f s", Self.now() - start))
    }
}
