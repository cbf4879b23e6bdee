import IptParse
import TestSupport
import XCTest

/// Arbitrary bytes and mutated real rulesets never crash the parser: each input
/// either parses or throws IptParseError. And the canonical form is a fixed point.
final class RobustnessTests: XCTestCase {
    static func seeds() -> [String] {
        var texts = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules").map(Fixtures.text)
        if let c = Fixtures.corpus { texts += Fixtures.files(in: c, suffix: ".rules").map(Fixtures.text) }
        return texts
    }

    func parseNeverCrashes(_ text: String, family: Family) -> Bool {
        do {
            _ = try RestoreParser.parse(text, options: .init(family: family, file: "fuzz"))
            return true
        } catch {
            XCTAssertFalse(error.diagnostics.isEmpty, "an error must carry a diagnostic")
            return false
        }
    }

    func testArbitraryBytes() {
        var rng = SplitMix(seed: 0x5EED)
        let alphabet = Array("*:-!\" \t\r\n\\[]0123456789./,abcdefgimnopstxyzACDFIJNOPRSTXZ#=|".utf8)
        var accepted = 0
        for i in 0..<4000 {
            let n = rng.below(200)
            let bytes: [UInt8] = (0..<n).map { _ in
                i % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[rng.below(alphabet.count)]
            }
            if parseNeverCrashes(String(decoding: bytes, as: UTF8.self), family: i % 3 == 0 ? .ipv6 : .ipv4) { accepted += 1 }
        }
        print("fuzz: 4000 random inputs, \(accepted) parsed, \(4000 - accepted) rejected with diagnostics, no crash")
    }

    func testMutatedRulesets() {
        var rng = SplitMix(seed: 42)
        let seeds = Self.seeds()
        let pieces = ["!", "-m", "--dport", "-j", "\"", "[0:0]", "COMMIT", "*filter", ":X - [0:0]", "-p", "tcp",
                      "65535", "0/0", "::", ",", "-A", "-I", "1", "--match-set", "src,dst", "\\", "-g", "\r", "\n"]
        var runs = 0
        for seed in seeds {
            var words = seed.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<60 {
                var w = words
                for _ in 0..<(1 + rng.below(4)) {
                    guard !w.isEmpty else { break }
                    let i = rng.below(w.count)
                    switch rng.below(4) {
                    case 0: w.remove(at: i)
                    case 1: w.insert(pieces[rng.below(pieces.count)], at: i)
                    case 2: w[i] = pieces[rng.below(pieces.count)]
                    default: w.swapAt(i, rng.below(w.count))
                    }
                }
                _ = parseNeverCrashes(w.joined(separator: " "), family: rng.below(2) == 0 ? .ipv4 : .ipv6)
                runs += 1
            }
            words.removeAll()
        }
        print("fuzz: \(runs) mutations of \(seeds.count) rulesets, no crash")
        XCTAssertGreaterThan(runs, 0)
    }

    /// format(format(x)) == format(x), and the reparsed ruleset equals the first one.
    func testCanonicalFormIsAFixedPoint() throws {
        var checked = 0
        let dirs = [Fixtures.fixtures.appendingPathComponent("rulesets")] + (Fixtures.corpus.map { [$0] } ?? [])
        for dir in dirs {
            for url in Fixtures.files(in: dir, suffix: ".rules") {
                let family: Family = url.lastPathComponent.hasSuffix(".v6.rules") ? .ipv6 : .ipv4
                guard let first = try? RestoreParser.parse(Fixtures.text(url), options: .init(family: family)) else { continue }
                let printed = SavePrinter.save(first)
                let second = try RestoreParser.parse(printed, options: .init(family: family, file: url.lastPathComponent + " (canonical)"))
                XCTAssertEqual(SavePrinter.save(second), printed, url.lastPathComponent)
                // Same rules, chains and policies; table order and counters are the printer's to set.
                for t in first.tables {
                    let other = second.table(t.name)
                    XCTAssertTrue(other?.chains.map(\.name).sorted() == t.chains.map(\.name).sorted(), "\(url.lastPathComponent) \(t.name)")
                    for c in t.chains {
                        let o = other?.chain(c.name)
                        XCTAssertTrue(o?.rules == c.rules && o?.policy == c.policy, "\(url.lastPathComponent) \(t.name) \(c.name)")
                    }
                }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 3)
    }
}
