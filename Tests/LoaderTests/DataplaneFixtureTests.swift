import Compiler
import Foundation
import Loader
import TestSupport
import XCTest

/// fixtures/dataplane/*.dp through BPF_PROG_TEST_RUN: every probe's XDP action, the stats
/// field it lands in, and the counter it moves. Each fixture runs twice, on a freshly loaded
/// data plane each time: as written (counters count drops only) and with `xdpOnly` tables
/// (counters also count what an ACCEPT position decided, outside transitions).
final class DataplaneFixtureTests: XCTestCase {
    static var fixtureFiles: [URL] {
        Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("dataplane"), suffix: ".dp")
    }

    func testFixturesParse() throws {
        XCTAssertFalse(Self.fixtureFiles.isEmpty, "no fixtures/dataplane/*.dp")
        for url in Self.fixtureFiles {
            let f = try DataplaneFixture.parse(Fixtures.text(url))
            XCTAssertFalse(f.probes.isEmpty, url.lastPathComponent)
        }
    }

    func testFixtures() throws {
        try Privileged.skipUnlessPrivileged()
        for url in Self.fixtureFiles {
            let fixture = try DataplaneFixture.parse(Fixtures.text(url))
            for xdpOnly in fixture.xdpOnlyRuns {
                try run(fixture, name: url.lastPathComponent + (xdpOnly ? " (xdp-only)" : ""), xdpOnly: xdpOnly)
            }
        }
    }

    private func run(_ fixture: DataplaneFixture, name: String, xdpOnly: Bool) throws {
        let dp = try Dataplane.load()
        var tables = [fixture.tables, fixture.idle ?? CompiledTables()]
        for i in tables.indices { tables[i].xdpOnly = xdpOnly }
        try dp.write(tables[0], generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        if fixture.idle != nil { try dp.write(tables[1], generation: 1) }
        var live: UInt32 = 0
        var inTransition = false
        // The copy of table 255 the fixture describes (none until it says): never the
        // machine's own, which write() took.
        try dp.setLocalRoutes([], generation: nil)
        var localCurrent: [LocalRoutes.Entry]?

        for step in fixture.steps {
            switch step {
            case .control(let c):
                switch c {
                case .transition:
                    try dp.beginTransition()
                    inTransition = true
                case .guardSources(let prefixes): try dp.setGuard(prefixes)
                case .passAll: try dp.setPassAll(true)
                case .normal:
                    try dp.cancelTransition()
                    try dp.clearGuard()
                    try dp.setPassAll(false)
                    inTransition = false
                case .activateIdle:
                    live = 1 - live
                    try dp.activate(generation: live)
                    inTransition = false
                    XCTAssertFalse(try dp.flags.contains(.transition), "\(name): activate ends the transition")
                case .localRoutes(let entries, let g):
                    localCurrent = g == .current ? entries : nil
                    switch g {
                    case .current: try dp.setLocalRoutes(entries, generation: try LocalRoutes.generation())
                    case .stale:
                        let (genid, seq) = try LocalRoutes.generation()
                        try dp.setLocalRoutes(entries, generation: (genid &- 1, seq))
                    case .none: try dp.setLocalRoutes(entries, generation: nil)
                    }
                }
            case .probe(let probe):
                let t = tables[Int(live)]
                let where_ = "\(name):\(probe.line): \(probe.text)"
                let beforeLive = try dp.counters(generation: live)
                let beforeIdle = try dp.counters(generation: 1 - live)
                // Marked current right before the packet: a route changed elsewhere on the
                // machine since the `set localgen current` line must not make it stale.
                if let entries = localCurrent { try dp.setLocalRoutes(entries, generation: try LocalRoutes.generation()) }
                let beforeStats = try dp.stats()
                let r = try dp.testRun(packet: probe.packet.frame)
                let afterLive = try dp.counters(generation: live)
                let afterStats = try dp.stats()
                XCTAssertEqual(r.action, probe.expectPass ? XDPAction.pass : XDPAction.drop, where_)

                let movedStats = DataplaneFixture.Stat.allCases.filter { $0.value(afterStats) != $0.value(beforeStats) }
                let expectedStats = probe.stat == .ipv6 ? [] : [probe.stat]
                XCTAssertEqual(movedStats, expectedStats, "stats moved: \(where_)")
                XCTAssertEqual(afterStats.total - beforeStats.total, UInt64(expectedStats.count), "stats total: \(where_)")

                var expected: [Int] = []
                if let pos = probe.position {
                    let index = pos < 0 ? t.verdicts.count : pos
                    guard index <= t.verdicts.count else {
                        XCTFail("position beyond the tables: \(where_)")
                        continue
                    }
                    let verdict = pos < 0 ? t.policy : t.verdicts[pos]
                    let counted = probe.stat == .dropped || probe.stat == .rejectLimited || probe.stat == .rejected
                        || (xdpOnly && !inTransition && probe.stat == .passed && verdict == .accept)
                    if counted { expected = (probe.continued + [index]).sorted() }
                }
                let moved = (0..<afterLive.count).filter { afterLive[$0].packets != beforeLive[$0].packets }
                XCTAssertEqual(moved, expected, "counter moved: \(where_)")
                for i in moved {
                    XCTAssertEqual(afterLive[i].packets - beforeLive[i].packets, 1, where_)
                    XCTAssertEqual(afterLive[i].bytes - beforeLive[i].bytes, UInt64(probe.packet.ipPacket.count), "bytes: \(where_)")
                }
                XCTAssertEqual(try dp.counters(generation: 1 - live), beforeIdle, "idle generation's counters: \(where_)")
            }
        }
    }
}
