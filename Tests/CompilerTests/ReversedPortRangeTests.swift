import Compiler
import IptParse
import TestSupport
import XCTest

/// `-p udp --dport 60000:29`: iptables 1.8.9 stores a udp range written high:low as it is
/// (libxt_udp reads ports through xtopt, which does not order them), and the kernel tests
/// `lo <= port <= hi` (xt_udp's port_match; nft_range under iptables-nft), so the rule
/// matches no packet, and with `!` every udp packet (first fragments and whole datagrams).
/// XDP decides such rules the same way, in XDP, not by sending them to the kernel.
final class ReversedPortRangeTests: XCTestCase {
    func ruleset(_ body: String) throws -> Ruleset {
        try RestoreParser.parse("*filter\n" + body + "\nCOMMIT\n", options: .init(file: "t.rules"))
    }

    func udp(_ sport: UInt16, _ dport: UInt16, from source: UInt32 = 0x0A01_0203) -> PacketFacts {
        PacketFacts(source: source, destination: 0xC612_0001, proto: 17, ports: .init(source: sport, destination: dport))
    }

    func testAReversedRangeMatchesNoPortAndItsNegationEveryPort() throws {
        let rs = try ruleset("""
            -A INPUT -p udp -m udp --dport 60000:29 -j DROP
            -A INPUT -s 198.18.7.0/24 -p udp -m udp ! --sport 1000:900 -j DROP
            -A INPUT -p udp -m udp --dport 53 -j ACCEPT
            -A INPUT -p udp -j DROP
            """)
        let r = Compiler.compile(rs, interface: "eth0")
        XCTAssertTrue(r.installable)
        for rule in r.report.rules {
            if case .kernel = rule.status { XCTFail("\(rule.ref): left to the kernel: \(rule.status)") }
        }
        XCTAssertEqual(r.report.rules[0].status, .neverMatches(.contradiction), "60000:29 holds no port")
        let inside: UInt32 = 0xC612_0705 // 198.18.7.5
        for port: UInt16 in [0, 29, 30, 100, 59999, 60000, 65535] {
            // Not the reversed range: the rules after it answer.
            XCTAssertEqual(r.tables.decide(udp(40000, port)).position, port == 53 ? 2 : 3, "dport \(port)")
            // Every source port of a udp packet from the /24 is outside 1000:900.
            XCTAssertEqual(r.tables.decide(udp(port, 53, from: inside)), .init(position: 1, verdict: .drop), "sport \(port)")
        }
        XCTAssertEqual(r.tables.decide(udp(40000, 53)), .init(position: 2, verdict: .accept))
        let tcp = PacketFacts(source: inside, destination: 0xC612_0001, proto: 6, ports: .init(source: 950, destination: 53), tcpFlags: 0x02)
        XCTAssertEqual(r.tables.decide(tcp).verdict, .accept, "the negated udp test is no test of tcp packets")
    }

    /// The fixture of a campus firewall with such rules: read, compiled whole, nothing
    /// refused (iptables-restore 1.8.9 takes it; EndToEndTests run it against the kernel).
    func testTheCampusFixtureCompiles() throws {
        let url = Fixtures.fixtures.appendingPathComponent("values/reversed-udp-range.rules")
        let rs = try RestoreParser.parse(Fixtures.text(url), options: .init(file: url.lastPathComponent))
        XCTAssertEqual(SavePrinter.save(rs).components(separatedBy: "--dport 60000:29").count, 2)
        let r = Compiler.compile(rs, interface: "eth0")
        XCTAssertTrue(r.installable)
        let reversed = r.report.rules.filter {
            ($0.ref.chain == "INPUT" && [3, 4].contains($0.ref.index)) || ($0.ref.chain == "campus" && [1, 3].contains($0.ref.index))
        }
        XCTAssertEqual(reversed.count, 4)
        for rule in reversed {
            if case .kernel = rule.status { XCTFail("\(rule.ref): left to the kernel: \(rule.status)") }
            // The negated one (campus #1) is a test of every udp port; the others hold none.
            if rule.ref.chain == "campus" && rule.ref.index == 1 { continue }
            XCTAssertEqual(rule.status, .neverMatches(.contradiction), "\(rule.ref)")
        }
    }
}
