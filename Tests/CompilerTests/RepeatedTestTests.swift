@testable import Compiler
import IptParse
import XCTest

/// Two tests of one kind in one conjunction (a RETURN's or the NOTRACK fold's tests joined
/// with a rule's own): merged where one implies the other (AtomNormalization), else the
/// second as an ext row (FallbackLowering.repeatedAsExt): iprange for addresses, kind 15
/// for protocols.
final class RepeatedTestTests: XCTestCase {
    func prefix(_ s: String) -> CompiledTables.Prefix {
        let p = s.split(separator: "/")
        let a = p[0].split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32($1)! }
        return CompiledTables.Prefix(address: a, length: UInt8(p[1])!)
    }

    func testImpliedTestsMerge() {
        // -s 198.51.100.0/24 makes ! -s 203.0.113.0/24 redundant.
        XCTAssertEqual(AtomNormalization.normalize([.source(prefix("198.51.100.0/24"), negated: false),
                                                    .source(prefix("203.0.113.0/24"), negated: true)]),
                       [.source(prefix("198.51.100.0/24"), negated: false)])
        // -p udp makes ! -p tcp redundant.
        XCTAssertEqual(AtomNormalization.normalize([.proto(6, negated: true), .proto(17, negated: false)]), [.proto(17, negated: false)])
        // A negated prefix inside another negated one: the larger says both.
        XCTAssertEqual(AtomNormalization.normalize([.destination(prefix("10.1.0.0/16"), negated: true),
                                                    .destination(prefix("10.0.0.0/8"), negated: true)]),
                       [.destination(prefix("10.0.0.0/8"), negated: true)])
        // No packet: -p tcp with ! -p tcp, or a prefix inside the negated one.
        XCTAssertNil(AtomNormalization.normalize([.proto(6, negated: false), .proto(6, negated: true)]))
        XCTAssertNil(AtomNormalization.normalize([.source(prefix("10.1.0.0/16"), negated: false),
                                                  .source(prefix("10.0.0.0/8"), negated: true)]))
    }

    func testWhatStaysTwoBecomesExtRows() throws {
        // Neither implies the other: both stay, the second as an ext row.
        let twoNegated: [Atom] = [.source(prefix("198.51.100.0/24"), negated: true), .source(prefix("203.0.113.0/24"), negated: true)]
        XCTAssertEqual(AtomNormalization.normalize(twoNegated), twoNegated)
        let e = try FallbackLowering.lower(twoNegated, position: 3)
        XCTAssertEqual(e.count, 1)
        XCTAssertEqual(e[0].source, Negatable(prefix("198.51.100.0/24"), negated: true))
        XCTAssertEqual(e[0].ext, [.ipRange(destination: false, lower: 0xCB00_7100, upper: 0xCB00_71FF, negated: true)])

        // A hole in a prefix: -d 10.0.0.0/8 ! -d 10.1.0.0/16.
        let hole: [Atom] = [.destination(prefix("10.0.0.0/8"), negated: false), .destination(prefix("10.1.0.0/16"), negated: true)]
        XCTAssertEqual(AtomNormalization.normalize(hole), hole)
        XCTAssertEqual(try FallbackLowering.lower(hole, position: 0)[0].ext,
                       [.ipRange(destination: true, lower: 0x0A01_0000, upper: 0x0A01_FFFF, negated: true)])

        // ! -p tcp ! -p udp; the protocol row goes before the rule's own ext tests.
        let protos: [Atom] = [.proto(6, negated: true), .ext(.pkttype(1, negated: false)), .proto(17, negated: true)]
        let p = try FallbackLowering.lower(protos, position: 0)
        XCTAssertEqual(p[0].proto, Negatable(6, negated: true))
        XCTAssertEqual(p[0].ext, [.proto(17, negated: true), .pkttype(1, negated: false)])
    }

    /// The mirror answers the rows as the entry's own fields would.
    func testMirrorOfRows() throws {
        let atoms: [Atom] = [.proto(6, negated: true), .proto(17, negated: true),
                             .source(prefix("198.51.100.0/24"), negated: true), .source(prefix("203.0.113.0/24"), negated: true)]
        var t = CompiledTables()
        t.verdicts = [.drop]
        t.policy = .accept
        t.fallback = try FallbackLowering.lower(atoms, position: 0)
        func facts(_ src: String, _ proto: UInt8) -> PacketFacts {
            PacketFacts(source: prefix(src + "/32").address, destination: prefix("198.18.0.1/32").address, proto: proto)
        }
        XCTAssertEqual(t.decide(facts("192.0.2.1", 1)).verdict, .drop)
        XCTAssertEqual(t.decide(facts("192.0.2.1", 17)).verdict, .accept)
        XCTAssertEqual(t.decide(facts("192.0.2.1", 6)).verdict, .accept)
        XCTAssertEqual(t.decide(facts("203.0.113.9", 1)).verdict, .accept)
        XCTAssertEqual(t.decide(facts("198.51.100.9", 1)).verdict, .accept)
    }

    /// fixtures/rulesets/return-notrack.rules: every rule INPUT reaches is decided in XDP.
    func testReturnNotrackAllInXDP() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/rulesets/return-notrack.rules")
        let rs = try RestoreParser.parse(String(contentsOf: url, encoding: .utf8), options: .init(file: "return-notrack.rules"))
        let r = Compiler.compile(rs, sets: nil, interface: "eth0")
        for rule in r.report.rules where rule.ref.table == "filter" && rule.ref.chain != "OUTPUT" && rule.ref.chain != "FORWARD" {
            if case .kernel(let why) = rule.status { XCTFail("\(rule.ref.chain)#\(rule.ref.index): \(why)") }
        }
    }
}
