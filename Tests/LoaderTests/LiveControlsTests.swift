import Compiler
import Foundation
import Loader
import XCTest

/// The Loader's controls for changing both layers: transitions, the guard, pass-all, and
/// zeroing counters, through BPF_PROG_TEST_RUN.
final class LiveControlsTests: XCTestCase {
    private static func tables(_ policy: CompiledTables.Verdict) -> CompiledTables {
        var t = CompiledTables()
        t.verdicts = [.drop]
        t.protoPort[.init(proto: 6, port: 22)] = 0
        t.policy = policy
        return t
    }

    private static let ssh: [UInt8] = {
        var p = TestPacket()
        (p.proto, p.src, p.sport, p.dst, p.dport) = (6, 0xCB00_7101, 4000, 0xC612_0001, 22)
        return p.frame
    }()

    private static let other: [UInt8] = {
        var p = TestPacket()
        (p.proto, p.src, p.sport, p.dst, p.dport) = (6, 0xCB00_7101, 4000, 0xC612_0001, 80)
        return p.frame
    }()

    func testTransitionLifecycle() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        XCTAssertThrowsError(try dp.beginTransition()) {
            XCTAssertEqual("\($0)", "begin transition: nothing is live yet (activate a generation first)")
        }
        try dp.write(Self.tables(.accept), generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        XCTAssertThrowsError(try dp.beginTransition()) {
            XCTAssertEqual("\($0)", "begin transition: generation 1 has never been written")
        }
        try dp.write(Self.tables(.drop), generation: 1)
        XCTAssertEqual(try dp.testRun(packet: Self.other).action, XDPAction.pass, "gen 0: policy accept")
        try dp.beginTransition()
        XCTAssertEqual(try dp.flags, [.allDestinations, .transition])
        XCTAssertEqual(try dp.testRun(packet: Self.other).action, XDPAction.pass, "only gen 1 drops it")
        XCTAssertEqual(try dp.testRun(packet: Self.ssh).action, XDPAction.drop, "both drop it")
        // Both generations judge packets now: neither may be rewritten.
        for g: UInt32 in [0, 1] {
            XCTAssertThrowsError(try dp.write(Self.tables(.drop), generation: g)) {
                XCTAssertEqual("\($0)", "write generation \(g): a transition is under way (both generations judge packets); activate or cancel it first")
            }
        }
        try dp.cancelTransition()
        XCTAssertEqual(try dp.flags, [.allDestinations])
        XCTAssertEqual(try dp.liveGeneration(), 0)
        XCTAssertEqual(try dp.testRun(packet: Self.other).action, XDPAction.pass, "cancelled: gen 0 alone")

        try dp.beginTransition()
        try dp.activate(generation: 1)
        XCTAssertEqual(try dp.flags, [.allDestinations], "activate ends the transition")
        XCTAssertEqual(try dp.liveGeneration(), 1)
        XCTAssertEqual(try dp.testRun(packet: Self.other).action, XDPAction.drop, "gen 1 alone")
        XCTAssertEqual(try dp.stats().splitPassed, 1)
        XCTAssertEqual(try dp.counters(generation: 1).map(\.packets), [0, 1])
        XCTAssertEqual(try dp.counters(generation: 0).map(\.packets), [1, 0], "the transition's drop counted at the live generation's position")
    }

    func testGuardAndPassAll() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        try dp.write(Self.tables(.drop), generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        let a = CompiledTables.Prefix(address: 0xCB00_7100, length: 24)
        let b = CompiledTables.Prefix(address: 0xC633_6400, length: 24)
        try dp.setGuard([a, b])
        XCTAssertEqual(try dp.flags, [.allDestinations, .guardSources])
        XCTAssertEqual(try dp.guardPrefixes(), [b, a])
        XCTAssertEqual(try dp.testRun(packet: Self.ssh).action, XDPAction.pass, "source in the guard")
        try dp.setGuard([b])
        XCTAssertEqual(try dp.guardPrefixes(), [b], "a new guard replaces the old one")
        XCTAssertEqual(try dp.testRun(packet: Self.ssh).action, XDPAction.drop)
        try dp.clearGuard()
        XCTAssertEqual(try dp.flags, [.allDestinations])
        XCTAssertEqual(try dp.guardPrefixes(), [])
        let many = (0..<1025).map { CompiledTables.Prefix(address: 0x0A00_0000 | UInt32($0) << 8, length: 24) }
        XCTAssertThrowsError(try dp.setGuard(many)) {
            XCTAssertEqual("\($0)", "set guard: 1025 prefixes, at most 1024")
        }
        XCTAssertEqual(try dp.flags, [.allDestinations], "a refused guard sets no flag")

        try dp.setPassAll(true)
        XCTAssertEqual(try dp.flags, [.allDestinations, .passAll])
        XCTAssertEqual(try dp.testRun(packet: Self.ssh).action, XDPAction.pass)
        try dp.setPassAll(false)
        XCTAssertEqual(try dp.testRun(packet: Self.ssh).action, XDPAction.drop)
        let s = try dp.stats()
        XCTAssertEqual([s.guardPassed, s.untouched, s.dropped, s.total], [1, 1, 2, 4])
    }

    func testZeroCounters() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        try dp.write(Self.tables(.drop), generation: 1)
        try dp.activate(generation: 1)
        try dp.setFlags(.allDestinations)
        for frame in [Self.ssh, Self.ssh, Self.other] {
            XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.drop)
        }
        XCTAssertEqual(try dp.counters(generation: 1).map(\.packets), [2, 1])
        try dp.zeroCounters(generation: 1, positions: [1])
        XCTAssertEqual(try dp.counters(generation: 1).map(\.packets), [2, 0], "the policy's counter alone")
        _ = try dp.testRun(packet: Self.other)
        try dp.zeroCounters(generation: 1, positions: nil)
        XCTAssertEqual(try dp.counters(generation: 1), [RuleCounter(packets: 0, bytes: 0), RuleCounter(packets: 0, bytes: 0)])
        XCTAssertThrowsError(try dp.zeroCounters(generation: 1, positions: [70_000])) {
            XCTAssertEqual("\($0)", "zero counters of generation 1: position 70000 is beyond the counters (65536)")
        }
    }
}
