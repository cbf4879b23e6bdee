import IptParse
import XCTest

/// Counter columns of `iptables -L -v` (K/M/G/T units, -x) and `-S -v`, for counts the
/// conformance test cannot produce without traffic. The expected lines were printed by
/// iptables 1.8.9 (nf_tables) for rules added with `-c PACKETS BYTES`.
final class ListPrinterTests: XCTestCase {
    static let counts: [(UInt64, UInt64)] = [
        (99999, 100000), (100499, 999_999_999), (9_999_499, 12_345_678_901),
        (99_999_999_999, 9_999_999_999_999), (123_456_789_012_345, 5),
    ]

    func table() -> Table {
        var t = Table(name: "filter")
        t.chains[0].rules = Self.counts.map { _ in Rule(target: .accept) }
        return t
    }

    var counters: ListPrinter.CounterSource {
        ListPrinter.CounterSource(rule: { _, n in Counters(packets: Self.counts[n - 1].0, bytes: Self.counts[n - 1].1) },
                                  policy: { _ in Counters(packets: 0, bytes: 0) })
    }

    func testUnitsAndExactCounters() throws {
        let short = try ListPrinter.list(table(), chain: "INPUT", ruleNumber: nil, options: .init(numeric: true, verbose: true),
                                         counters: counters, resolver: NumericResolver())
        let tail = "ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0           \n"
        XCTAssertEqual(short, """
            Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination         
            99999  100K \(tail) 100K 1000M \(tail)9999K   12G \(tail) 100G   10T \(tail) 123T     5 \(tail)
            """)
        let exact = try ListPrinter.list(table(), chain: "INPUT", ruleNumber: nil,
                                         options: .init(numeric: true, verbose: true, exact: true),
                                         counters: counters, resolver: NumericResolver())
        XCTAssertEqual(exact, """
            Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
                pkts      bytes target     prot opt in     out     source               destination         
               99999   100000 \(tail)  100499 999999999 \(tail) 9999499 12345678901 \(tail)\
            99999999999 9999999999999 \(tail)123456789012345        5 \(tail)
            """)
    }

    func testListRulesCarriesCountersBeforeTheTarget() {
        let s = ListRulesPrinter.rules(table(), family: .ipv4, chain: "INPUT", ruleNumber: nil, verbose: true, counters: counters)
        XCTAssertEqual(s, """
            -P INPUT ACCEPT -c 0 0
            -A INPUT -c 99999 100000 -j ACCEPT
            -A INPUT -c 100499 999999999 -j ACCEPT
            -A INPUT -c 9999499 12345678901 -j ACCEPT
            -A INPUT -c 99999999999 9999999999999 -j ACCEPT
            -A INPUT -c 123456789012345 5 -j ACCEPT

            """)
    }

    func testUnknownExtensionsAreRefusedNotGuessed() {
        var t = Table(name: "filter")
        t.chains[0].rules = [Rule(matches: [.opaque(ExtensionCall(name: "hashlimit", options: []))], target: .accept)]
        XCTAssertThrowsError(try ListPrinter.list(t, chain: nil, ruleNumber: nil, options: .init(), resolver: NumericResolver()))
    }
}
