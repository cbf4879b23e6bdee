import Foundation
import IptParse
@testable import Runtime
import XCTest

/// Where XDP's retired counts go across an edit: each case is what iptables 1.8.9 (nf_tables)
/// did with the same edit in a namespace (rules given distinct counts with -c, then
/// `iptables -S -v`): the counts follow the rules, not their texts or places.
final class CounterCarryTests: XCTestCase {
    static let base = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :sip - [0:0]
        -A INPUT -s 198.18.1.0/24 -j DROP
        -A INPUT -s 198.18.1.0/24 -j DROP
        -A INPUT -p udp -m udp --dport 5060 -j sip
        -A sip -j DROP
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -o fw0 -j MASQUERADE
        COMMIT

        """

    func ruleset(_ text: String = base) throws -> Ruleset {
        try XCTUnwrap(KernelView.rules(text, family: .ipv4).ruleset)
    }

    /// Counts 1, 2, 3 on INPUT's rules, 4 on sip's, 5 on INPUT's policy, 6 on nat's rule.
    func counts(_ r: Ruleset) -> [RuleIdentity: Int] {
        let ids = RuleIdentity.all(in: r)
        var out: [RuleIdentity: Int] = [:]
        for (i, id) in (ids["filter\tINPUT"] ?? []).enumerated() { out[id] = i + 1 }
        if let s = ids["filter\tsip"]?.first { out[s] = 4 }
        out[.policy(chain: "INPUT")] = 5
        if let n = ids["nat\tPOSTROUTING"]?.first { out[n] = 6 }
        return out
    }

    /// After `argv`: the counts per chain (in rule order, nil where none), and INPUT's policy.
    func after(_ argv: [String]) throws -> (input: [Int?], sip: [Int?], chain2: [Int?], policy: Int?) {
        let before = try ruleset()
        let line = IptablesCommandLine(argv, family: .ipv4, ruleset: before)
        let c = try XCTUnwrap(line.command, "\(argv)")
        let a = try XCTUnwrap(line.predict(before), "\(argv)")
        let moved = CounterCarry.edit(c, before: before, after: a).apply(counts(before)) { $0 += $1 }
        let ids = RuleIdentity.all(in: a)
        return ((ids["filter\tINPUT"] ?? []).map { moved[$0] }, (ids["filter\tsip"] ?? []).map { moved[$0] },
                (ids["filter\tvoip"] ?? []).map { moved[$0] }, moved[.policy(chain: "INPUT")])
    }

    func testInsertOfAnEqualRuleStartsAtZeroAndTheOthersKeepTheirs() throws {
        let r = try after(["-I", "INPUT", "1", "-s", "198.18.1.0/24", "-j", "DROP"])
        XCTAssertEqual(r.input, [nil, 1, 2, 3])
        XCTAssertEqual(r.policy, 5)
    }

    func testDeleteBySpecTakesTheFirstOfEqualRules() throws {
        XCTAssertEqual(try after(["-D", "INPUT", "-s", "198.18.1.0/24", "-j", "DROP"]).input, [2, 3])
    }

    func testDeleteBySpecInTheWordsTypedFindsTheKernelsRule() throws {
        XCTAssertEqual(try after(["-D", "INPUT", "-p", "udp", "--dport", "5060", "-j", "sip"]).input, [1, 2])
    }

    func testDeleteByNumberTakesThatOne() throws {
        XCTAssertEqual(try after(["-D", "INPUT", "2"]).input, [1, 3])
    }

    func testReplaceStartsTheReplacedRuleAgainEvenWithTheSameText() throws {
        XCTAssertEqual(try after(["-R", "INPUT", "1", "-s", "198.18.1.0/24", "-j", "DROP"]).input, [nil, 2, 3])
    }

    func testRenameKeepsTheChainsAndTheJumpsCounts() throws {
        let r = try after(["-E", "sip", "voip"])
        XCTAssertEqual(r.input, [1, 2, 3])
        XCTAssertEqual(r.chain2, [4])
    }

    func testPolicyStartsAgainEvenTheSame() throws {
        let r = try after(["-P", "INPUT", "DROP"])
        XCTAssertEqual(r.policy, nil)
        XCTAssertEqual(r.input, [1, 2, 3])
    }

    func testFlushOfAnotherChainLeavesINPUTAlone() throws {
        let r = try after(["-F", "sip"])
        XCTAssertEqual(r.input, [1, 2, 3])
        XCTAssertEqual(r.sip, [])
        XCTAssertEqual(r.policy, 5)
    }

    func testFullRestoreStartsItsTablesAgainAndLeavesTheOthers() throws {
        let before = try ruleset()
        let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 198.18.1.0/24 -j DROP\n-A INPUT -s 198.18.1.0/24 -j DROP\nCOMMIT\n"
        var a = before
        a.replaceTable(try XCTUnwrap(try RestoreParser.parse(text, options: .init(file: "t")).table("filter")))
        let moved = CounterCarry.restore(text: text, noflush: false, before: before, after: a).apply(counts(before)) { $0 += $1 }
        let ids = RuleIdentity.all(in: a)
        XCTAssertEqual((ids["filter\tINPUT"] ?? []).map { moved[$0] }, [nil, nil])
        XCTAssertNil(moved[.policy(chain: "INPUT")])
        XCTAssertEqual(moved[try XCTUnwrap(ids["nat\tPOSTROUTING"]?.first)], 6, "a table the file does not name keeps its counts")
    }

    func testNoflushRestoreFollowsRulesAndStartsDeclaredChainsAgain() throws {
        let before = try ruleset()
        let text = "*filter\n:INPUT DROP [0:0]\n:sip - [0:0]\n-A INPUT -s 198.18.9.0/24 -j DROP\nCOMMIT\n"
        let a = try RestoreParser.parse(text, options: .init(file: "t", noflush: true, base: before))
        let moved = CounterCarry.restore(text: text, noflush: true, before: before, after: a).apply(counts(before)) { $0 += $1 }
        let ids = RuleIdentity.all(in: a)
        XCTAssertEqual((ids["filter\tINPUT"] ?? []).map { moved[$0] }, [1, 2, 3, nil], "INPUT's rules are kept, the new one starts at 0")
        XCTAssertEqual((ids["filter\tsip"] ?? []).count, 0, "a declared user chain is flushed")
        XCTAssertNil(moved[.policy(chain: "INPUT")], "a declared built-in chain's policy counts are set again")
    }
}
