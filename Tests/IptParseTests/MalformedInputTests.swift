import IptParse
import TestSupport
import XCTest

/// Every malformed case gets its own, exact diagnostic: place, caret and wording.
final class MalformedInputTests: XCTestCase {
    static let knownSets: Set<String> = ["sip-peers", "sip-carriers"]

    static func firstDiagnostic(_ c: MalformedCase) -> String? {
        do {
            _ = try RestoreParser.parse(c.text, options: .init(family: .ipv4, file: "malformed.rules",
                                                               setExists: { knownSets.contains($0) }))
            return nil
        } catch {
            return error.diagnostics.first.map(\.description)
        }
    }

    func testEveryMalformedCaseHasItsExpectedDiagnostic() throws {
        let cases = MalformedCase.load()
        XCTAssertGreaterThanOrEqual(cases.count, 40, "the brief asks for at least 40 malformed lines")
        var rendered = ""
        for c in cases {
            let d = Self.firstDiagnostic(c)
            XCTAssertNotNil(d, "accepted although malformed: \(c.title)")
            rendered += "## \(c.title)\n\(d ?? "(accepted)")\n"
        }
        let golden = Fixtures.fixtures.appendingPathComponent("diagnostics/malformed.expected")
        if Fixtures.recording {
            try rendered.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = Fixtures.text(golden)
        let want = expected.components(separatedBy: "## ").dropFirst()
        let got = rendered.components(separatedBy: "## ").dropFirst()
        XCTAssertEqual(want.count, got.count, "number of cases changed: re-record with EBPF_IPTABLES_RECORD=1")
        for (w, g) in zip(want, got) { XCTAssertEqual(g, w) }
        print("malformed input: \(cases.count) cases, \(zip(want, got).filter { $0 == $1 }.count) exact")
    }

    func testAllDiagnosticsOfAFileAreCollected() {
        let text = "*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\n-A INPUT -s 1.2.3.4/40 -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n"
        XCTAssertThrowsError(try RestoreParser.parse(text, options: .init(file: "two.rules"))) { e in
            let d = (e as? IptParseError)?.diagnostics ?? []
            XCTAssertEqual(d.map(\.location.line), [2, 3])
            XCTAssertEqual(d.map(\.id), ["bad-port", "bad-prefix"])
        }
    }

    func testDiagnosticRendersLikeACompiler() {
        let d = Diagnostic(id: "unknown-match", "unknown match 'tcpp'",
                           at: SourceLocation(file: "rules.v4", line: 12, column: 18, length: 4),
                           line: "-A INPUT -p tcp -m tcpp --dport 22 -j ACCEPT")
        XCTAssertEqual(d.description, """
            rules.v4:12:18-21: error: unknown match 'tcpp'
            -A INPUT -p tcp -m tcpp --dport 22 -j ACCEPT
                             ^^^^
            """)
    }
}
