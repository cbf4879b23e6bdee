import Foundation
@testable import IptParse
@testable import Runtime
import TestSupport
import XCTest

/// The rateest match once the kernel takes it (an estimator exists): our `-S` and
/// `-L -n -v -x` forms against iptables 1.8.9's, recorded in a namespace after two RATEEST
/// rules made RE1 and RE2 (fixtures/conformance/iptables/71-rate-estimators.txt runs the same
/// through the kernel).
final class RateEstimatorTests: XCTestCase {
    static let recorded: [(String, String, String)] = [
        ("--rateest RE1 --rateest-lt --rateest-bps 8bit", "--rateest RE1 --rateest-lt --rateest-bps 8bit", "rateest match RE1 bps 1 lt"),
        ("--rateest RE1 --rateest-eq --rateest-pps 5", "--rateest RE1 --rateest-eq --rateest-pps 5", "rateest match RE1 pps eq 5"),
        ("--rateest RE1 ! --rateest-gt --rateest-bps 5kbit", "--rateest RE1 ! --rateest-gt --rateest-bps 5000bit", "rateest match RE1 bps 625 ! gt"),
        ("--rateest RE1 --rateest-gt --rateest-bps 3mbit", "--rateest RE1 --rateest-gt --rateest-bps 3000Kbit", "rateest match RE1 bps 375000 gt"),
        ("--rateest-delta --rateest RE1 --rateest-bps1 8bit --rateest-lt --rateest-bps2 16bit",
         "--rateest-delta --rateest RE1 --rateest-bps1 8bit --rateest-lt --rateest-bps2 16bit", "rateest match RE1 delta bps 1 2 lt"),
        ("--rateest1 RE1 --rateest-lt --rateest-bps --rateest2 RE2", "--rateest1 RE1 --rateest-lt --rateest-bps --rateest2 RE2",
         "rateest match RE1 bps lt RE2 bps"),
        ("--rateest-delta --rateest1 RE1 --rateest-pps1 0 --rateest-lt --rateest-pps2 42 --rateest2 RE2",
         "--rateest-delta --rateest1 RE1 --rateest-pps1 0 --rateest-lt --rateest-pps2 42 --rateest2 RE2", "rateest match RE1 delta pps 0 lt RE2 pps 42"),
        ("--rateest RE1 --rateest-lt --rateest-bps 1000", "--rateest RE1 --rateest-lt --rateest-bps 1000bit", "rateest match RE1 bps 125 lt"),
    ]

    func testRateestRulesPrintAsIptablesPrintsThem() throws {
        for (given, saved, listed) in Self.recorded {
            let argv = ["-A", "INPUT", "-m", "rateest"] + given.split(separator: " ").map(String.init) + ["-j", "ACCEPT"]
            let (source, words) = WordSource.argv(argv)
            guard case .command(let cmd) = try CommandParser.parse(words, source: source, context: CommandContext(family: .ipv4)) else {
                return XCTFail("skipped: \(given)")
            }
            var table = Table(name: "filter")
            try table.apply(cmd)
            let s = ListRulesPrinter.rules(table, family: .ipv4, chain: "INPUT", ruleNumber: nil, verbose: false)
                .split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined()
            XCTAssertEqual(s, "-A INPUT -m rateest \(saved) -j ACCEPT", given)
            let l = try ListPrinter.list(table, chain: "INPUT", ruleNumber: nil, options: .init(numeric: true, verbose: true, exact: true),
                                         resolver: NumericResolver())
            XCTAssertTrue(l.contains("0.0.0.0/0            " + listed + "\n") || l.hasSuffix("0.0.0.0/0            " + listed), "\(given): \(l)")
        }
    }

    /// RATEEST's interval and averaging constant are kept as powers of two and printed back
    /// as times (libxt_RATEEST).
    func testRateestTargetKeepsPowersOfTwo() throws {
        XCTAssertEqual(RateEstimator.target([ExtensionOption("rateest-name", args: ["RE2"]), ExtensionOption("rateest-interval", args: ["1s"]),
                                             ExtensionOption("rateest-ewmalog", args: ["4s"])]).map { $0.args.first ?? "" },
                       ["RE2", "1.0s", "4.0s"])
        XCTAssertEqual(RateEstimator.encode(interval: 8_000_000), 3)
        XCTAssertNil(RateEstimator.encode(interval: 8_000_001))
        XCTAssertNil(RateEstimator.encode(ewma: 1_000_000, interval: 1_000_000))
    }
}
