import Compiler
import IptParse
import TestSupport
import XCTest

/// limit and statistic lowered to XDP ext tests: where they may be (the match order, jumps,
/// KERNEL positions), the instance cap, and the numbers they carry.
final class StatefulLoweringTests: XCTestCase {
    func compile(_ text: String, xdpOnly: Bool = false) throws -> CompileResult {
        let rs = try RestoreParser.parse(text, options: .init(file: "case.rules"))
        return Compiler.compile(rs, sets: nil, interface: "eth0", options: CompileOptions(xdpOnly: xdpOnly))
    }

    func status(_ r: CompileResult, _ chain: String, _ index: Int) -> RuleStatus? {
        r.report.rules.first { $0.ref.table == "filter" && $0.ref.chain == chain && $0.ref.index == index }?.status
    }

    /// The stateful ext tests of the fallback entries of a rule's positions.
    func statefulTests(_ r: CompileResult, _ chain: String, _ index: Int) -> [ExtTest] {
        let positions = Set(r.origins.indices.filter { r.origins[$0].rule.chain == chain && r.origins[$0].rule.index == index }.map(UInt32.init))
        return r.tables.fallback.filter { positions.contains($0.position) }.flatMap(\.ext).filter(\.isStateful)
    }

    func testLimitAcceptIsDecidedInXDP() throws {
        let r = try compile("*filter\n-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 3/min --limit-burst 7 -j ACCEPT\n-A INPUT -p tcp -j DROP\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", 1), .xdp(.fallback(entries: 1)))
        let tests = statefulTests(r, "INPUT", 1)
        XCTAssertEqual(tests.count, 1)
        // xt_rateinfo: avg = 60 s / 3 in 1/10000 s.
        if case .limit(let avg, let burst, let instance)? = tests.first {
            XCTAssertEqual(avg, 200_000)
            XCTAssertEqual(burst, 7)
            XCTAssertEqual(instance.rule.index, 1)
        } else {
            XCTFail("no limit test: \(tests)")
        }
    }

    func testLogBehindALimitKeepsItsLimit() throws {
        let r = try compile("*filter\n-A INPUT -p udp -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"x \"\n-A INPUT -p udp -j DROP\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", 1), .kernel(.target("LOG")))
        XCTAssertEqual(statefulTests(r, "INPUT", 1).map(\.kind), ["limit"])
        let n = try compile("*filter\n-A INPUT -p udp -m limit --limit 3/min -j NFLOG --nflog-group 2\n-A INPUT -p udp -j DROP\nCOMMIT\n")
        XCTAssertEqual(statefulTests(n, "INPUT", 1).map(\.kind), ["limit"])
    }

    func testOtherKernelPositionsTouchNoState() throws {
        // A test that does not lower: the position may match, the limit is the kernel's.
        let r = try compile("*filter\n-A INPUT -p udp -m mark --mark 1 -m limit --limit 3/min -j LOG\n-A INPUT -m limit --limit 1/s -j REJECT\n-A INPUT -m limit --limit 1/s\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", 1), .kernel(.unsupportedTests([.match("mark")])))
        // Rule 2's REJECT is answered from XDP (nothing on the reply's way out): its limit is
        // XDP's, as a DROP's would be. Rule 3 (no target) is a CONTINUE position: its limit
        // is charged in XDP, as the kernel charges it, and the walk goes on.
        XCTAssertEqual(statefulTests(r, "INPUT", 1), [], "rule 1")
        XCTAssertEqual(statefulTests(r, "INPUT", 3).map(\.kind), ["limit"], "rule 3")
        XCTAssertEqual(status(r, "INPUT", 3), .xdp(.continues(.countsOnly, .fallback(entries: 1))))
    }

    func testALimitBeforeOtherTestsStaysInTheKernel() throws {
        let r = try compile("*filter\n-A INPUT -m limit --limit 3/min -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -m limit --limit 3/min -m conntrack --ctstate NEW -j DROP\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", 1), .kernel(.unsupportedTests([.statefulBeforeTests("limit", later: "tcp")])))
        XCTAssertEqual(statefulTests(r, "INPUT", 1), [], "rule 1")
        // A state test after the limit is an ext test after it (ConntrackTest): the order is
        // the kernel's, and the rule compiles.
        XCTAssertEqual(status(r, "INPUT", 2), .xdp(.conntrackLookup(fallbackEntries: 1)))
        XCTAssertEqual(statefulTests(r, "INPUT", 2).map(\.kind), ["limit"])
        XCTAssertEqual(r.tables.fallback.last?.ext.map(\.kind), ["limit", "conntrack"])
        XCTAssertNil(r.tables.fallback.last?.conntrack)
    }

    /// A limit on a jump is charged once, at the jump's own CONTINUE position (counted on
    /// the jump); the callee's positions carry the same instance and read its memo. A limit
    /// on a RETURN is charged at the RETURN; the positions after it keep the packets whose
    /// memoised answer was no (`memoNegation`).
    func testAStatefulJumpIsChargedAtTheJump() throws {
        let r = try compile("*filter\n:C - [0:0]\n-A INPUT -m limit --limit 3/min -j C\n-A INPUT -j DROP\n-A C -p udp -j DROP\n-A C -m limit --limit 1/s -j RETURN\n-A C -p tcp -j DROP\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", 1), .xdp(.continues(.charge("limit"), .fallback(entries: 1))))
        XCTAssertEqual(status(r, "C", 2), .xdp(.continues(.charge("limit"), .fallback(entries: 1))))
        XCTAssertEqual(status(r, "C", 3), .xdp(.fallback(entries: 1)))
        let jump = ExtInstance(rule: RuleRef(table: "filter", chain: "INPUT", index: 1, line: nil), match: 0)
        let ret = ExtInstance(rule: RuleRef(table: "filter", chain: "C", index: 2, line: nil), match: 0)
        // Positions: 0 the jump's charge, 1 C#1, 2 the RETURN's charge, 3 C#3, 4 INPUT#2.
        XCTAssertEqual(r.tables.verdicts, [.continue, .drop, .continue, .drop, .drop])
        XCTAssertEqual(statefulTests(r, "INPUT", 1).compactMap(\.instance), [jump])
        XCTAssertEqual(statefulTests(r, "C", 1).compactMap(\.instance), [jump])
        XCTAssertEqual(statefulTests(r, "C", 2).compactMap(\.instance), [jump, ret])
        let after = statefulTests(r, "C", 3)
        XCTAssertEqual(after.compactMap(\.instance), [jump, ret])
        if case .memoNegation(.limit)? = after.last {} else { XCTFail("C#3 keeps the RETURN's no: \(after)") }
        // The charge counts the jump: the callee's positions do not name it again.
        XCTAssertEqual(r.origins[1].via, [])
        XCTAssertEqual(r.origins[0].via, [])
    }

    func testInstancesBeyondTheCapStayInTheKernel() throws {
        let n = ExtTest.maxStatefulInstances
        let rules = (1...n + 1).map { "-A INPUT -p udp -m udp --dport \($0) -m limit --limit \($0)/s -j ACCEPT" }.joined(separator: "\n")
        let r = try compile("*filter\n" + rules + "\n-A INPUT -p udp -j DROP\nCOMMIT\n")
        XCTAssertEqual(status(r, "INPUT", n), .xdp(.fallback(entries: 1)))
        XCTAssertEqual(status(r, "INPUT", n + 1), .kernel(.unsupportedTests([.statefulInstances(limit: n)])))
        XCTAssertEqual(Set(r.tables.fallback.flatMap(\.ext).compactMap(\.instance)).count, n)
    }

    func testStatisticRandomInXDPNthInTheKernel() throws {
        // random: a pending draw (PendingDraws.swift), the same whether XDP decides alone or
        // not; nth: its counter is per rule, and the kernel's would see only what XDP passes up.
        for xdpOnly in [false, true] {
            let random = try compile("*filter\n-A INPUT -p udp -m statistic --mode random --probability 0.3 -j DROP\nCOMMIT\n", xdpOnly: xdpOnly)
            XCTAssertEqual(status(random, "INPUT", 1), .xdp(.fallback(entries: 1)))
            let nth = try compile("*filter\n-A INPUT -p udp -m statistic --mode nth --every 3 --packet 1 -j DROP\nCOMMIT\n", xdpOnly: xdpOnly)
            XCTAssertEqual(status(nth, "INPUT", 1), .kernel(.unsupportedTests([.statefulOptions("statistic", "--mode nth (one counter per rule, which the kernel would advance only for the packets XDP passes up)")])))
        }
    }

    /// ufw's logging rules: `-m limit --limit 3/min --limit-burst 10 -j LOG` compile to XDP
    /// with their limit (their positions send up only the limit's packets).
    func testUfwLimitLogRules() throws {
        guard let corpus = Fixtures.corpus else { throw XCTSkip("../shared/corpus is absent") }
        let url = corpus.appendingPathComponent("ufw-dump-resteex0.rules")
        let rs = try RestoreParser.parse(Fixtures.text(url), options: .init(file: url.lastPathComponent))
        let r = Compiler.compile(rs, sets: nil, interface: "eth0")
        var logsWithLimit = 0
        for rule in r.report.rules where rule.ref.table == "filter" && rule.text.contains("-m limit") && rule.text.contains("-j LOG") {
            guard case .kernel(.target("LOG")) = rule.status else { continue }
            XCTAssertEqual(statefulTests(r, rule.ref.chain, rule.ref.index).map(\.kind).first, "limit", rule.text)
            logsWithLimit += 1
        }
        print("ufw: \(logsWithLimit) limit+LOG rules keep their limit in XDP")
        XCTAssertGreaterThan(logsWithLimit, 0)
    }
}
