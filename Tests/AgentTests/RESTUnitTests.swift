@testable import AgentHTTP
import Foundation
import IptParse
import XCTest

/// The parts of the REST API that need no daemon: the tokens file, the rule text's words
/// and diagnostics, the restore diagnostics' positions.
final class RESTUnitTests: XCTestCase {
    func testTokensFile() throws {
        let t = try BearerTokens(text: "# admins\n\n  alpha  \nbeta read-only\n\t# indented comment\n")
        XCTAssertEqual(t.access(for: "alpha"), .full)
        XCTAssertEqual(t.access(for: "beta"), .readOnly)
        XCTAssertNil(t.access(for: "alph"))
        XCTAssertNil(t.access(for: "alphaa"))
        XCTAssertNil(t.access(for: ""))
        XCTAssertNil(t.access(for: "# admins"))
        XCTAssertThrowsError(try BearerTokens(text: "alpha write\n")) { e in
            XCTAssertEqual((e as? BearerTokens.FormatError)?.line, 1)
        }
        XCTAssertThrowsError(try BearerTokens(text: "ok\na b c\n")) { e in
            XCTAssertEqual((e as? BearerTokens.FormatError)?.line, 2)
        }
        // A file with no token would lock everyone out: serve refuses to start with it.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("rest-tokens-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try "# nobody\n\n".write(toFile: empty, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BearerTokens.load(empty))
        XCTAssertThrowsError(try BearerTokens.load(empty + ".missing"))
        XCTAssertTrue(BearerTokens.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(BearerTokens.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(BearerTokens.constantTimeEqual(Array("abc".utf8), Array("abc\0".utf8)))
    }

    func testRuleWordsAndQuotes() throws {
        let w = try RuleText.words(#"-m comment --comment "two words" -j  DROP"#, field: "rule")
        XCTAssertEqual(w.map(\.text), ["-m", "comment", "--comment", "two words", "-j", "DROP"])
        XCTAssertEqual(w.map(\.column), [1, 4, 12, 22, 34, 38])
        XCTAssertThrowsError(try RuleText.words(#"-j DROP "open"#, field: "rule")) { e in
            XCTAssertEqual((e as? APIError)?.position?.column, 9)
            XCTAssertEqual((e as? APIError)?.position?.word, 3)
        }
        XCTAssertThrowsError(try RuleText.words("-j DROP\n-F", field: "rule"))
    }

    func testRuleDiagnosticsPointAtTheWord() throws {
        let argv = try RuleText.argv(verb: .append, table: "filter", chain: "INPUT", number: nil,
                                     rule: "-s 198.18.0.1 -p tcp --dport 22 -j DROP", family: .ipv4, userChains: [])
        XCTAssertEqual(argv, ["-t", "filter", "-A", "INPUT", "-s", "198.18.0.1", "-p", "tcp", "--dport", "22", "-j", "DROP"])
        XCTAssertThrowsError(try RuleText.argv(verb: .append, table: "filter", chain: "INPUT", number: nil,
                                               rule: "-p udp --dport 0x -j DROP", family: .ipv4, userChains: [])) { e in
            let a = e as? APIError
            XCTAssertEqual(a?.error, "bad-rule")
            XCTAssertEqual(a?.field, "rule")
            XCTAssertEqual(a?.position?.word, 4)
            XCTAssertEqual(a?.position?.column, 16)
        }
        // The CLI's message for the same words (IptParse on argv) is the API's message.
        let (source, words) = WordSource.argv(["-A", "INPUT", "-p", "udp", "--dport", "0x", "-j", "DROP"])
        var cliMessage = ""
        do { _ = try CommandParser.parse(words, source: source, context: CommandContext(family: .ipv4)) } catch { cliMessage = error.message }
        XCTAssertFalse(cliMessage.isEmpty)
        XCTAssertThrowsError(try RuleText.argv(verb: .append, table: "filter", chain: "INPUT", number: nil,
                                               rule: "-p udp --dport 0x -j DROP", family: .ipv4, userChains: [])) { e in
            XCTAssertEqual((e as? APIError)?.message, cliMessage)
        }
        // A user chain is a jump; an unknown name is a target iptables does not have.
        XCTAssertNoThrow(try RuleText.argv(verb: .append, table: "filter", chain: "INPUT", number: nil,
                                           rule: "-j sip", family: .ipv4, userChains: ["sip"]))
        XCTAssertThrowsError(try RuleText.argv(verb: .insert, table: "filter", chain: "INPUT", number: 1,
                                               rule: "-j ACCEPT -D INPUT 1", family: .ipv4, userChains: []))
    }

    func testRestoreDiagnosticLocation() {
        let located = RESTAPI.locatedDiagnostic("rules:4:27-31: error: bad port '70000'\n-A INPUT ...\n")
        XCTAssertEqual(located?.field, "rules")
        XCTAssertEqual(located?.position.line, 4)
        XCTAssertEqual(located?.position.column, 27)
        XCTAssertEqual(located?.position.length, 5)
        XCTAssertNil(RESTAPI.locatedDiagnostic("iptables-restore: line 3 failed\n"))
        XCTAssertEqual(RESTAPI.errorLine("ipset v7.17: Error in line 4: Syntax error"), 4)
    }

    func testNamesTheAPITakes() {
        XCTAssertTrue(RESTAPI.isName("INPUT", maxLength: 28, extra: ""))
        XCTAssertTrue(RESTAPI.isName("my-chain_2.x", maxLength: 28, extra: ""))
        XCTAssertFalse(RESTAPI.isName("-F", maxLength: 28, extra: ""))
        XCTAssertFalse(RESTAPI.isName("a b", maxLength: 28, extra: ""))
        XCTAssertFalse(RESTAPI.isName("ü", maxLength: 28, extra: ""))
        XCTAssertFalse(RESTAPI.isName(String(repeating: "a", count: 29), maxLength: 28, extra: ""))
        XCTAssertTrue(RESTAPI.isName("set:1", maxLength: 31, extra: ":"))
    }
}
