@testable import IptParse
import TestSupport
import XCTest

/// The byte-level fast paths the parser takes for speed must read exactly what the
/// slower Character-level code reads: strtoul over ASCII bytes, and the tokenizer's
/// words made straight from the line's bytes.
final class ParserFastPathTests: XCTestCase {
    func testAsciiStrtoulReadsWhatTheCharacterWalkReads() {
        let pieces = ["", " ", "\t", "\r", "\n", "\r\n", "\u{0B}", "+", "-", "0", "00", "0x", "0X", "x", "7", "8", "9",
                      "12", "a", "F", "f", "g", ":", ",", "/", "18446744073709551615", "18446744073709551616", "0x1f", "077"]
        var rng = SplitMix(seed: 0x5eed)
        var checked = 0
        for _ in 0..<20_000 {
            var s = ""
            for _ in 0..<Int(rng.next() % 5) { s += pieces[Int(rng.next() % UInt64(pieces.count))] }
            for base in [0, 10, 16] {
                let fast = CNumbers.asciiStrtoulPrefix(Substring(s), base: base)
                let slow = CNumbers.characterStrtoulPrefix(Substring(s), base: base)
                XCTAssertEqual(fast?.value, slow?.value, "\(s.debugDescription) base \(base)")
                XCTAssertEqual(fast?.overflow, slow?.overflow, "\(s.debugDescription) base \(base)")
                XCTAssertEqual(fast.map { String($0.rest) }, slow.map { String($0.rest) }, "\(s.debugDescription) base \(base)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 60_000)
        // Non-ASCII words keep the Character walk: a combining mark makes `5\u{301}` no digit at all.
        XCTAssertNil(CNumbers.strtoulPrefix("5\u{301}"))
        XCTAssertEqual(CNumbers.strtoulPrefix(" 0x1fé")?.value, 31)
    }

    func testTokenizerWordsAndColumns() throws {
        func words(_ line: String) throws -> [String] {
            try RestoreTokenizer.words(line).get().map { "\($0.text)@\($0.column)+\($0.length)" }
        }
        XCTAssertEqual(try words("-A INPUT  -j\tACCEPT"), ["-A@1+2", "INPUT@4+5", "-j@11+2", "ACCEPT@14+6"])
        // A quote joins what precedes it into the word and ends the word where it closes.
        XCTAssertEqual(try words("x ab\"c d\"e"), ["x@1+1", "abc d@3+7", "e@10+1"])
        XCTAssertEqual(try words("\"a \\\"b\\\\\" z"), ["a \"b\\@1+9", "z@11+1"])
        XCTAssertEqual(try words("--comment \"ünï\" é"), ["--comment@1+9", "ünï@11+5", "é@17+1"])
        XCTAssertEqual(try words("\"\""), ["@1+2"])
        XCTAssertEqual(try words("a\r b"), ["a\r@1+2", "b@4+1"])
        guard case .failure(let f) = RestoreTokenizer.words("-m comment --comment \"open") else { return XCTFail("unterminated quote accepted") }
        XCTAssertEqual(f.column, 22)
    }
}
