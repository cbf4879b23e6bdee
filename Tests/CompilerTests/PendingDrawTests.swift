@testable import Compiler
import IptParse
import XCTest

/// `-m statistic --mode random` as pending draws (PendingDraws.swift): the rules lower to
/// XDP, nth stays in the kernel, and `decide` (the program's mirror) draws only when XDP
/// carries out every outcome.
final class PendingDrawTests: XCTestCase {
    func ip(_ s: String) -> UInt32 { s.split(separator: ".").reduce(0) { $0 << 8 | UInt32($1)! } }

    func compile(_ rules: String, policy: String = "ACCEPT") throws -> CompileResult {
        let text = "*filter\n:INPUT \(policy) [0:0]\n" + rules + "\nCOMMIT\n"
        let rs = try RestoreParser.parse(text, options: .init(file: "draws.rules"))
        return Compiler.compile(rs, sets: nil, interface: "eth0")
    }

    func udp(_ dport: UInt16, from src: String = "10.0.0.1") -> PacketFacts {
        PacketFacts(source: ip(src), destination: ip("198.18.0.1"), proto: 17, ports: .init(source: 1000, destination: dport))
    }

    func testRandomLowersNthStays() throws {
        let r = try compile("""
            -A INPUT -p udp --dport 53 -m statistic --mode random --probability 0.05 -j DROP
            -A INPUT -m statistic --mode nth --every 3 --packet 1 -j DROP
            -A INPUT -p udp -m statistic --mode random --probability 0.5 -m limit --limit 1/s -j DROP
            """, policy: "DROP")
        let status = Dictionary(uniqueKeysWithValues: r.report.rules.map { ($0.ref.index, $0.status) })
        guard case .xdp? = status[1] else { return XCTFail("random: \(String(describing: status[1]))") }
        guard case .kernel(.unsupportedTests(let nth))? = status[2], case .statefulOptions("statistic", let why)? = nth.first else {
            return XCTFail("nth: \(String(describing: status[2]))")
        }
        XCTAssertTrue(why.contains("--mode nth"), why)
        guard case .kernel(.unsupportedTests(let after))? = status[3] else { return XCTFail("limit after draw: \(String(describing: status[3]))") }
        XCTAssertEqual(after, [.statefulOptions("statistic", "a stateful test after a random draw")])
        // libxt_statistic: lround(2^31 * 0.05).
        let draws = r.tables.fallback.flatMap(\.ext).filter(\.isPendingDraw)
        XCTAssertEqual(draws.count, 1)
        if case .statistic(.random(let p), false, _)? = draws.first { XCTAssertEqual(p, 107_374_182) } else { XCTFail("\(draws)") }
    }

    func testDrawGoesLastAfterStatelessTests() {
        var atoms: [Atom] = [
            .proto(17, negated: false),
            .ext(.statistic(.random(probability: 5), negated: false,
                            instance: ExtInstance(rule: RuleRef(table: "filter", chain: "INPUT", index: 1, line: nil), match: 0))),
            .ext(.pkttype(0, negated: false)),
        ]
        XCTAssertNil(AtomLowering.placingDraw(&atoms))
        XCTAssertEqual(atoms.count, 3)
        XCTAssertTrue({ if case .ext(let e) = atoms[2] { e.isPendingDraw } else { false } }())
    }

    /// The first draw that says yes decides; XDP draws only when it carries every outcome
    /// out: a DROP found after the draws (policy DROP here), not an ACCEPT (the kernel would
    /// draw again) nor a KERNEL position.
    func testMirrorDrawsOnlyWhenXDPCarriesOut() throws {
        let r = try compile("""
            -A INPUT -p udp --dport 53 -m statistic --mode random --probability 0.25 -j DROP
            -A INPUT -p udp --dport 53 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp --dport 80 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp --dport 80 -j ACCEPT
            -A INPUT -p udp --dport 81 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp --dport 81 -m mark --mark 1 -j DROP
            """, policy: "DROP")
        let d53 = r.tables.decide(udp(53))
        XCTAssertEqual(d53.verdict, .drop)
        XCTAssertNil(d53.position, "the policy found")
        XCTAssertEqual(d53.draws.map(\.probability), [536_870_912, 1_073_741_824])
        XCTAssertEqual(d53.draws.map(\.chance), [0.25, 0.5])
        func origin(_ d: CompiledTables.Decision) -> Int? { d.position.map { r.origins[Int($0)].rule.index } }
        // 0x7FFFFFFF & v < p: the first says yes, or the first no and the second yes, or neither.
        XCTAssertEqual(origin(d53.drawn { 0 }), 1)
        var values: [UInt32] = [0x4000_0000, 0x1000_0000]
        XCTAssertEqual(origin(d53.drawn { values.removeFirst() }), 2)
        XCTAssertEqual(d53.drawn { 0x7FFF_FFFF }.position, nil)

        let d80 = r.tables.decide(udp(80))
        XCTAssertEqual(d80.verdict, .kernel, "an ACCEPT found: up undrawn")
        XCTAssertEqual(d80.draws, [])
        let d81 = r.tables.decide(udp(81))
        XCTAssertEqual(d81.verdict, .kernel, "a KERNEL position found: up undrawn")
        XCTAssertEqual(origin(d81), 6)
        // No draw met: as before.
        XCTAssertEqual(r.tables.decide(udp(99)).verdict, .drop)
        XCTAssertEqual(r.tables.decide(udp(99)).draws, [])
    }

    /// With --xdp-only tables the kernel's INPUT is empty: XDP carries out ACCEPT too.
    func testMirrorXdpOnlyCarriesOutAccept() throws {
        var r = try compile("""
            -A INPUT -p udp --dport 80 -m statistic --mode random --probability 0.5 -j DROP
            -A INPUT -p udp --dport 80 -j ACCEPT
            """, policy: "DROP")
        r.tables.xdpOnly = true
        let d = r.tables.decide(udp(80))
        XCTAssertEqual(d.verdict, .accept)
        XCTAssertEqual(d.draws.count, 1)
    }
}
