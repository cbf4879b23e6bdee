import IptParse
import XCTest

/// A large file with many errors: the parser stops collecting at its cap (50) and must not
/// then claim that a table it did not read to the end is never closed with COMMIT (the
/// COMMIT is further down, in the part it skipped). The first error keeps its place.
final class RestoreErrorCapTests: XCTestCase {
    /// `*filter`, `bad` lines of an unknown match, 200 good rules, COMMIT; then `*nat`, COMMIT.
    static func file(bad: Int) -> String {
        var lines = ["*filter", ":INPUT ACCEPT [0:0]"]
        for i in 0..<bad { lines.append("-A INPUT -s 198.18.\(i / 250).\(i % 250 + 1) -m tcpp -j DROP") }
        for i in 0..<200 { lines.append("-A INPUT -s 198.19.\(i / 250).\(i % 250 + 1) -j DROP") }
        lines += ["COMMIT", "*nat", ":PREROUTING ACCEPT [0:0]", "COMMIT", ""]
        return lines.joined(separator: "\n")
    }

    func diagnostics(_ text: String, cap: Int = 50) -> [Diagnostic] {
        do {
            _ = try RestoreParser.parse(text, options: .init(file: "big.rules", maxDiagnostics: cap))
            return []
        } catch {
            return error.diagnostics
        }
    }

    func testTheCapAddsNoFalseMissingCommit() {
        let found = diagnostics(Self.file(bad: 120))
        XCTAssertEqual(found.count, 50, "stops at the cap")
        XCTAssertFalse(found.contains { $0.id == "missing-commit" }, found.filter { $0.id == "missing-commit" }.map(\.description).joined())
        XCTAssertTrue(found.allSatisfy { $0.id == "unknown-match" }, Set(found.map(\.id)).sorted().joined(separator: ","))
        // The first error: line 3 (after `*filter` and the chain line), the word `tcpp`.
        let first = found.first
        XCTAssertEqual(first?.location, SourceLocation(file: "big.rules", line: 3, column: 27, length: 4))
        XCTAssertEqual(first?.description, """
            big.rules:3:27-30: error: unknown match 'tcpp'
            -A INPUT -s 198.18.0.1 -m tcpp -j DROP
                                      ^^^^
            """)
        XCTAssertEqual(found.last?.location.line, 52, "fifty consecutive lines, one error each")
    }

    /// Below the cap the end of the file is reached, and a COMMIT that really is missing is
    /// still reported, at the table's line.
    func testAMissingCommitIsStillReportedBelowTheCap() {
        let text = Self.file(bad: 3).replacingOccurrences(of: "COMMIT\n*nat", with: "*nat")
        let found = diagnostics(text)
        XCTAssertEqual(found.map(\.id), ["unknown-match", "unknown-match", "unknown-match", "missing-commit"])
        XCTAssertEqual(found.last?.location.line, 206, "reported at the '*nat' line that comes before the filter table's COMMIT")
        let unclosed = diagnostics("*filter\n-A INPUT -m tcpp -j DROP\n-A INPUT -j DROP\n")
        XCTAssertEqual(unclosed.map(\.id), ["unknown-match", "missing-commit"])
        XCTAssertEqual(unclosed.last?.location.line, 1)
    }

    /// The cap reached on the file's last line: the whole file was read, so a table that is
    /// never closed is still said to be (one diagnostic beyond the cap, and a true one).
    func testACapReachedOnTheLastLineStillSeesTheEnd() {
        let found = diagnostics("*filter\n-A INPUT -m tcpp -j DROP\n-A INPUT -m udpp -j DROP\n", cap: 2)
        XCTAssertEqual(found.map(\.id), ["unknown-match", "unknown-match", "missing-commit"])
        let early = diagnostics("*filter\n-A INPUT -m tcpp -j DROP\n-A INPUT -m udpp -j DROP\n-A INPUT -j DROP\n", cap: 2)
        XCTAssertEqual(early.map(\.id), ["unknown-match", "unknown-match"], "capped with a line left unread")
    }
}
