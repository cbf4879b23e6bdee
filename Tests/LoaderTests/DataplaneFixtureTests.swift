import Compiler
import Foundation
import Loader
import TestSupport
import XCTest

/// fixtures/dataplane/*.dp through BPF_PROG_TEST_RUN: every probe's XDP action and the
/// counter it moves.
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
        let dp = try Dataplane.load()
        try dp.setFlags(.allDestinations)
        var generation: UInt32 = 0
        for url in Self.fixtureFiles {
            let name = url.lastPathComponent
            let fixture = try DataplaneFixture.parse(Fixtures.text(url))
            // Alternate generations, as restores do.
            generation = 1 - generation
            try dp.write(fixture.tables, generation: generation)
            try dp.activate(generation: generation)
            XCTAssertEqual(try dp.liveGeneration(), generation)
            let policyIndex = fixture.tables.verdicts.count
            for probe in fixture.probes {
                let before = try dp.counters(generation: generation)
                let r = try dp.testRun(packet: probe.packet.frame)
                let after = try dp.counters(generation: generation)
                let where_ = "\(name):\(probe.line): \(probe.text)"
                XCTAssertEqual(r.action, probe.expectPass ? XDPAction.pass : XDPAction.drop, where_)
                let moved = (0..<after.count).filter { after[$0].packets != before[$0].packets }
                let expected: [Int] = probe.counter.map { [$0 < 0 ? policyIndex : $0] } ?? []
                XCTAssertEqual(moved, expected, "counter moved: \(where_)")
                for i in moved {
                    XCTAssertEqual(after[i].packets - before[i].packets, 1, where_)
                    XCTAssertEqual(after[i].bytes - before[i].bytes, UInt64(probe.packet.ipPacket.count), "bytes: \(where_)")
                }
            }
        }
    }
}
