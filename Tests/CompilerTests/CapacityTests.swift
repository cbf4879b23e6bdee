import Compiler
import IptParse
import TestSupport
import XCTest

/// A ruleset larger than the program holds still compiles: the first rule that does not
/// fit becomes a KERNEL catch-all, and everything after it is the kernel's.
final class CapacityTests: XCTestCase {
    func tcp(sport: UInt16) -> PacketFacts {
        PacketFacts(source: 0x0A00_0001, destination: 0xC612_0001, proto: 6, ports: .init(source: sport, destination: 80), tcpFlags: 0x10)
    }

    func testFallbackOverflowIsCutToTheKernel() throws {
        // Each rule needs a fallback entry (a source port is not a keyed test).
        let body = (1...600).map { "-A INPUT -p tcp -m tcp --sport \($0) -j DROP" }.joined(separator: "\n")
        let rs = try RestoreParser.parse("*filter\n\(body)\n-A INPUT -p udp -j DROP\nCOMMIT\n", options: .init(file: "big.rules"))
        let r = Compiler.compile(rs, interface: "eth0")
        let limit = Int(Compiler.maxFallback)
        XCTAssertTrue(r.installable)
        XCTAssertEqual(r.tables.fallback.count, limit)
        XCTAssertEqual(r.tables.verdicts.count, limit + 1)
        XCTAssertEqual(r.tables.verdicts.last, .kernel)
        XCTAssertEqual(r.tables.catchAll, UInt32(limit))
        let cut = r.report.rules[limit]
        XCTAssertEqual(cut.status, .kernel(.capacity(.fallback(limit: limit))))
        for rule in r.report.rules[(limit + 1)...] {
            XCTAssertEqual(rule.status, .kernel(.afterCapacityCut(cut.ref)))
        }
        XCTAssertEqual(r.xdpOnlyBlockers, [.kernelRule(cut.ref, .capacity(.fallback(limit: limit)))])
        XCTAssertFalse(Compiler.compile(rs, interface: "eth0", options: CompileOptions(xdpOnly: true)).installable)
        XCTAssertTrue(r.report.notes.contains { $0.contains("fallback list is full") })

        XCTAssertEqual(r.tables.decide(tcp(sport: 5)), .init(position: 4, verdict: .drop))
        XCTAssertEqual(r.tables.decide(tcp(sport: 512)), .init(position: 511, verdict: .drop))
        XCTAssertEqual(r.tables.decide(tcp(sport: 513)), .init(position: UInt32(limit), verdict: .kernel))
        // Even packets of the (keyed) rule after the cut go to the kernel.
        let udp = PacketFacts(source: 0x0A00_0001, destination: 0xC612_0001, proto: 17, ports: .init(source: 1, destination: 53))
        XCTAssertEqual(r.tables.decide(udp).verdict, .kernel)
    }

    func testPositionsBeyondTheProgramAreCutToTheKernel() throws {
        let limit = Int(Compiler.maxRules)
        var filter = Table(name: "filter")
        let rules = (0..<(limit + 10)).map { i -> Rule in
            let a = UInt32(0x0A00_0000) + UInt32(i)
            let prefix = IPPrefix(family: .ipv4, address: [UInt8(a >> 24), UInt8(a >> 16 & 255), UInt8(a >> 8 & 255), UInt8(a & 255)], prefixLength: 32)
            return Rule(source: Negatable(prefix), target: .drop)
        }
        filter.chains[0].rules = rules
        let r = Compiler.compile(Ruleset(family: .ipv4, tables: [filter]), interface: "eth0")
        XCTAssertTrue(r.installable)
        XCTAssertEqual(r.tables.verdicts.count, limit)
        XCTAssertEqual(r.origins.count, limit)
        XCTAssertEqual(r.tables.verdicts.last, .kernel)
        XCTAssertEqual(r.tables.catchAll, UInt32(limit - 1))
        XCTAssertEqual(r.report.rules[limit - 1].status, .kernel(.capacity(.positions(limit: limit))))
        XCTAssertEqual(r.report.rules[limit].status, .kernel(.afterCapacityCut(r.report.rules[limit - 1].ref)))
        func from(_ i: Int) -> PacketFacts { PacketFacts(source: 0x0A00_0000 + UInt32(i), destination: 0xC612_0001, proto: 47) }
        XCTAssertEqual(r.tables.decide(from(7)), .init(position: 7, verdict: .drop))
        XCTAssertEqual(r.tables.decide(from(limit - 2)), .init(position: UInt32(limit - 2), verdict: .drop))
        XCTAssertEqual(r.tables.decide(from(limit + 5)).verdict, .kernel)
    }
}
