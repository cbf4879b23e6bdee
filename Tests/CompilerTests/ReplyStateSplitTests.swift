@testable import Compiler
import IptParse
import XCTest

/// A REJECT whose reply's way out depends on the original's conntrack state (verified in the
/// kernel: NEW and ESTABLISHED originals give a RELATED reply; INVALID and UNTRACKED ones an
/// INVALID reply that passes no nat chain): per class of originals, "passes untouched, counted
/// there" or not provable (those originals go up).
final class ReplyStateSplitTests: XCTestCase {
    func split(_ text: String, interface: String = "eth0") throws -> ReplyStateSplit? {
        let rs = try RestoreParser.parse(text, options: .init(file: "case.rules"))
        let input = try XCTUnwrap(rs.table("filter")?.chain("INPUT"))
        let rule = try XCTUnwrap(input.rules.first { if case .reject = $0.target { true } else { false } })
        guard case .reject(let r)? = rule.target, let reply = RejectReply(with: r.with) else { throw XCTSkip("no reply") }
        return ReplyStateSplit.prove(reply: reply, rule: rule, interface: interface, in: rs)
    }

    func rule(_ table: String, _ chain: String, _ n: Int) -> ReplyCountPlace {
        .rule(RuleRef(table: table, chain: chain, index: n, line: nil))
    }

    func groups(_ s: ReplyStateSplit?) -> [ConntrackStates: [ReplyCountPlace]] {
        var out: [ConntrackStates: [ReplyCountPlace]] = [:]
        for g in s?.groups ?? [] {
            out[g.states] = g.places.map {
                if case .rule(let r) = $0 { return .rule(RuleRef(table: r.table, chain: r.chain, index: r.index, line: nil)) }
                return $0
            }
        }
        return out
    }

    /// goautodial's OUTPUT: policy DROP, -o lo ACCEPT, NEW,RELATED,ESTABLISHED ACCEPT.
    let goautodial = ":OUTPUT DROP [0:0]\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -m state --state NEW,RELATED,ESTABLISHED -j ACCEPT\n"

    func testTrackedOriginalsPassAStateAcceptInvalidOnesGoUp() throws {
        for reject in ["-A INPUT -p tcp -j REJECT\n", "-A INPUT -j REJECT --reject-with icmp-host-unreachable\n",
                       "-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n"] {
            let s = try split("*filter\n\(goautodial)\(reject)COMMIT\n")
            // TCP (or any protocol): ESTABLISHED/RELATED originals may be out of window.
            XCTAssertEqual(groups(s), [.new: [rule("filter", "OUTPUT", 2)]], reject)
            XCTAssertEqual(s?.up, [.established, .related, .invalid, .untracked], reject)
        }
        let udp = try split("*filter\n\(goautodial)-A INPUT -p udp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(udp), [[.new, .established, .related]: [rule("filter", "OUTPUT", 2)]])
        XCTAssertEqual(udp?.up, [.invalid, .untracked])
        XCTAssertTrue(udp?.detail.contains("INVALID,UNTRACKED originals go up") == true, udp?.detail ?? "")
    }

    func testOnlyRelatedCountsForTrackedOriginals() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state RELATED -j ACCEPT\n"
        XCTAssertEqual(groups(try split("*filter\n\(out)-A INPUT -p udp -j REJECT\nCOMMIT\n")),
                       [[.new, .established, .related]: [rule("filter", "OUTPUT", 1)]])
        // NEW or ESTABLISHED alone never match the reply of a tracked original.
        let notRelated = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state NEW,ESTABLISHED -j ACCEPT\n"
        XCTAssertNil(try split("*filter\n\(notRelated)-A INPUT -p udp -j REJECT\nCOMMIT\n"))
    }

    func testInvalidAndUntrackedOriginalsGiveAnInvalidReply() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state INVALID -j ACCEPT\n"
        let s = try split("*filter\n\(out)-A INPUT -p tcp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(s), [[.invalid, .untracked]: [rule("filter", "OUTPUT", 1)]])
        XCTAssertEqual(s?.up, [.new, .established, .related])
        // The reply of an UNTRACKED original is not UNTRACKED (nf_ct_attach without an entry).
        let untracked = ":OUTPUT DROP [0:0]\n-A OUTPUT -m conntrack --ctstate UNTRACKED -j ACCEPT\n"
        XCTAssertNil(try split("*filter\n\(untracked)-A INPUT -p tcp -j REJECT\nCOMMIT\n"))
    }

    func testTwoClassesCountedInDifferentPlacesAreTwoGroups() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state RELATED -j ACCEPT\n-A OUTPUT -m state --state INVALID -j ACCEPT\n"
        let s = try split("*filter\n\(out)-A INPUT -p tcp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(s), [.new: [rule("filter", "OUTPUT", 1)], [.invalid, .untracked]: [rule("filter", "OUTPUT", 2)]])
    }

    func testNegatedStateTest() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state ! --state INVALID -j ACCEPT\n"
        let s = try split("*filter\n\(out)-A INPUT -p tcp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(s), [.new: [rule("filter", "OUTPUT", 1)]])
        XCTAssertEqual(s?.up, [.established, .related, .invalid, .untracked])
        // A negated DROP on the reply's way: INVALID replies miss it and fall to ACCEPT.
        let drop = ":OUTPUT ACCEPT [0:0]\n-A OUTPUT -m conntrack ! --ctstate INVALID -j DROP\n"
        let d = try split("*filter\n\(drop)-A INPUT -p tcp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(d), [[.invalid, .untracked]: [.policy(table: "filter", chain: "OUTPUT")]])
    }

    func testStateWithOtherMatchesIsNotProvable() throws {
        for other in ["-m state --state RELATED -m mark --mark 1 -j ACCEPT", "-m conntrack --ctstate RELATED --ctdir REPLY -j ACCEPT",
                      "-m state --state RELATED -m limit --limit 1/s -j ACCEPT"] {
            XCTAssertNil(try split("*filter\n:OUTPUT DROP [0:0]\n-A OUTPUT \(other)\n-A INPUT -p udp -j REJECT\nCOMMIT\n"), other)
        }
        // A rule that may match only a class that goes up anyway does not stop the others.
        let s = try split("*filter\n:OUTPUT DROP [0:0]\n-A OUTPUT -m state --state RELATED -j ACCEPT\n"
            + "-A OUTPUT -m state --state INVALID -m mark --mark 1 -j ACCEPT\n-A INPUT -p tcp -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(s), [.new: [rule("filter", "OUTPUT", 1)]])
    }

    func testTheRulesOwnStateTestNarrowsTheClasses() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state RELATED -j ACCEPT\n-A OUTPUT -m state --state INVALID -j ACCEPT\n"
        let s = try split("*filter\n\(out)-A INPUT -p tcp -m state --state NEW,INVALID -j REJECT\nCOMMIT\n")
        XCTAssertEqual(groups(s), [.new: [rule("filter", "OUTPUT", 1)], .invalid: [rule("filter", "OUTPUT", 2)]])
        XCTAssertEqual(s?.up, [])
    }

    /// nat POSTROUTING: the RST of a NEW original passes it (verified); one without an entry
    /// (INVALID or UNTRACKED original) passes no nat chain.
    func testResetAndNatPostrouting() throws {
        let text = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n*filter\n:OUTPUT DROP [0:0]\n"
            + "-A OUTPUT -m state --state INVALID -j ACCEPT\n-A OUTPUT -m state --state RELATED -j ACCEPT\n"
            + "-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n"
        let s = try split(text)
        XCTAssertEqual(groups(s), [[.invalid, .untracked]: [rule("filter", "OUTPUT", 1)]], "the NEW one meets MASQUERADE")
    }

    /// The compiler: reject positions for the proven classes, each with its state test, then a
    /// KERNEL position for the other states (no packet walks past the REJECT); the report
    /// counts the rule in XDP and says which originals go up.
    func testCompilerSplitsThePosition() throws {
        let text = "*filter\n:INPUT DROP [0:0]\n\(goautodial)-A INPUT -p tcp -m statistic --mode random --probability 0.05 -j REJECT\nCOMMIT\n"
        let rs = try RestoreParser.parse(text, options: .init(file: "case.rules"))
        let r = Compiler.compile(rs, interface: "eth0")
        let status = try XCTUnwrap(r.report.rules.first { $0.ref.chain == "INPUT" && $0.ref.index == 1 }?.status)
        guard case .xdp(.rejectReplyByState(.icmpUnreachable(code: 3), let up, _)) = status else { return XCTFail("\(status)") }
        XCTAssertTrue(up.hasPrefix("ESTABLISHED,RELATED,INVALID,UNTRACKED originals go up"), up)
        let positions = r.origins.indices.filter { r.origins[$0].rule.chain == "INPUT" && r.origins[$0].rule.index == 1 && !r.origins[$0].isPolicy }
        XCTAssertEqual(positions.map { r.tables.verdicts[$0] }, [.reject, .kernel])
        XCTAssertEqual(r.origins[positions[0]].replyPlaces.count, 1)
        // The mirror: a NEW SYN may be rejected from XDP (a pending draw); an INVALID segment
        // (FIN alone, no entry) goes up undrawn; so does one in an ESTABLISHED flow.
        func packet(_ flags: UInt8) -> PacketFacts {
            PacketFacts(source: 0xC612_0002, destination: 0xC612_0001, proto: 6, ports: .init(source: 4444, destination: 80),
                        tcpFlags: flags, icmp: nil, ttl: 64, totalLength: 40, nonFirstFragment: false)
        }
        let syn = r.tables.decide(packet(0x02))
        XCTAssertEqual(syn.draws.map(\.position), [UInt32(positions[0])])
        XCTAssertEqual(syn.verdict, .drop, "no draw says yes: INPUT's policy")
        let fin = r.tables.decide(packet(0x01))
        XCTAssertEqual(fin.verdict, .kernel)
        XCTAssertEqual(fin.position, UInt32(positions[1]))
        XCTAssertEqual(r.tables.decide(packet(0x10), conntrack: .established).verdict, .kernel)
    }
}
