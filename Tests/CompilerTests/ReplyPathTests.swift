@testable import Compiler
import IptParse
import XCTest

/// The static proof that a REJECT's reply passes OUTPUT/POSTROUTING untouched, and where the
/// kernel counts it: rules that certainly miss the reply, rules that certainly match it, and
/// rules whose answer the reply's shape does not tell (those keep the REJECT in the kernel).
final class ReplyPathTests: XCTestCase {
    static let icmp = RejectReply.icmpUnreachable(code: 3)

    /// The proof for the first REJECT rule of filter INPUT in `text`, from interface eth0.
    func prove(_ text: String, interface: String = "eth0") throws -> ReplyPath {
        let rs = try RestoreParser.parse(text, options: .init(file: "case.rules"))
        let input = try XCTUnwrap(rs.table("filter")?.chain("INPUT"))
        let rule = try XCTUnwrap(input.rules.first { if case .reject = $0.target { true } else { false } })
        guard case .reject(let r)? = rule.target, let reply = RejectReply(with: r.with) else { throw XCTSkip("no reply") }
        return ReplyPath.prove(ReplyShape(reply: reply, rule: rule, interface: interface), in: rs)
    }

    func rule(_ table: String, _ chain: String, _ n: Int) -> ReplyCountPlace {
        .rule(RuleRef(table: table, chain: chain, index: n, line: nil))
    }

    /// Places without the source lines (RuleRef compares them).
    func places(_ p: ReplyPath) -> [ReplyCountPlace] {
        p.places.map {
            if case .rule(let r) = $0 { return .rule(RuleRef(table: r.table, chain: r.chain, index: r.index, line: nil)) }
            return $0
        }
    }

    let reject = "-A INPUT -j REJECT\n"
    let reset = "-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n"

    func testEmptyOutputCountsOnItsPolicy() throws {
        let p = try prove("*filter\n:OUTPUT ACCEPT [0:0]\n\(reject)COMMIT\n")
        XCTAssertNil(p.refusal)
        XCTAssertEqual(places(p), [.policy(table: "filter", chain: "OUTPUT")])
    }

    func testAcceptAllCountsOnTheRuleNotThePolicy() throws {
        let p = try prove("*filter\n\(reject)-A OUTPUT -j ACCEPT\nCOMMIT\n")
        XCTAssertNil(p.refusal)
        XCTAssertEqual(places(p), [rule("filter", "OUTPUT", 1)])
    }

    func testJumpToAnEmptyChainCountsTheJumpAndThePolicy() throws {
        let p = try prove("*filter\n:FW-OUTPUT - [0:0]\n\(reject)-A OUTPUT -j FW-OUTPUT\nCOMMIT\n")
        XCTAssertNil(p.refusal)
        XCTAssertEqual(places(p), [rule("filter", "OUTPUT", 1), .policy(table: "filter", chain: "OUTPUT")])
    }

    func testDropPolicyKeepsTheReplyInTheKernel() throws {
        let p = try prove("*filter\n:OUTPUT DROP [0:0]\n\(reject)COMMIT\n")
        XCTAssertNotNil(p.refusal)
    }

    func testProtocolDecidesForEachKind() throws {
        let out = "-A OUTPUT -p tcp -j DROP\n"
        XCTAssertNil(try prove("*filter\n\(reject)\(out)COMMIT\n").refusal, "an ICMP error misses -p tcp")
        XCTAssertEqual(try prove("*filter\n\(reset)\(out)COMMIT\n").refusal, "filter OUTPUT rule 1 matches the reply with -j DROP")
        let icmpDrop = "-A OUTPUT -p icmp -j DROP\n"
        XCTAssertNotNil(try prove("*filter\n\(reject)\(icmpDrop)COMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reset)\(icmpDrop)COMMIT\n").refusal, "a RST misses -p icmp")
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT ! -p icmp -j DROP\nCOMMIT\n").refusal)
    }

    func testOutInterfaceIsTheIngressInterface() throws {
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -o eth1 -j LOG\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT ! -o eth0 -j LOG\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -o lo -j DROP\nCOMMIT\n").refusal)
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -o eth+ -j LOG\nCOMMIT\n").refusal)
        let p = try prove("*filter\n\(reject)-A OUTPUT -o eth0 -j ACCEPT\nCOMMIT\n")
        XCTAssertEqual(places(p), [rule("filter", "OUTPUT", 1)])
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -o eth0 -j LOG\nCOMMIT\n", interface: "eth0").refusal)
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -o eth0 -j LOG\nCOMMIT\n", interface: "ens3").refusal)
    }

    func testMatchesTheShapeCannotTellAreUnknown() throws {
        let p = try prove("*filter\n\(reject)-A OUTPUT -m cgroup --cgroup 1 -j ACCEPT\nCOMMIT\n")
        XCTAssertEqual(p.refusal, "filter OUTPUT rule 1 may or may not match the reply")
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -m mark --mark 1 -j ACCEPT\nCOMMIT\n").refusal)
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -d 10.0.0.0/8 -j ACCEPT\nCOMMIT\n").refusal,
                        "the original's source is not known")
        // ... unless another test of the same rule certainly misses.
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -p udp -m cgroup --cgroup 1 -j DROP\nCOMMIT\n").refusal)
    }

    /// Verified in the kernel (docs/two-layers.md): no reply has a socket with a file.
    func testOwnerMisses() throws {
        for input in [reject, reset] {
            XCTAssertNil(try prove("*filter\n\(input)-A OUTPUT -o eth0 -m owner --uid-owner 0 -j ACCEPT\nCOMMIT\n").refusal)
            XCTAssertNil(try prove("*filter\n\(input)-A OUTPUT -m owner --gid-owner 0-100 -j DROP\nCOMMIT\n").refusal)
            XCTAssertNotNil(try prove("*filter\n\(input)-A OUTPUT -m owner ! --uid-owner 0 -j DROP\nCOMMIT\n").refusal)
            // One certain miss decides a conjunction, whatever the others answer.
            XCTAssertNil(try prove("*filter\n\(input)-A OUTPUT -m owner --gid-owner 0 --suppl-groups -j DROP\nCOMMIT\n").refusal)
        }
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -m owner --socket-exists -j DROP\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reset)-A OUTPUT -m owner --socket-exists -j DROP\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -m owner ! --socket-exists -j DROP\nCOMMIT\n").refusal)
    }

    func testAddressesAndPortsAreTheOriginalsSwapped() throws {
        let input = "-A INPUT -s 192.0.2.0/24 -d 198.18.0.1/32 -p tcp -m tcp --sport 1024:65535 --dport 22 -j REJECT --reject-with tcp-reset\n"
        func out(_ r: String) -> String { "*filter\n\(input)-A OUTPUT \(r)\nCOMMIT\n" }
        XCTAssertNil(try prove(out("-s 10.0.0.0/8 -j DROP")).refusal)
        XCTAssertNil(try prove(out("-d 10.0.0.0/8 -j DROP")).refusal)
        XCTAssertEqual(places(try prove(out("-s 198.18.0.0/15 -d 192.0.2.0/24 -j ACCEPT"))), [rule("filter", "OUTPUT", 1)])
        XCTAssertNotNil(try prove(out("-d 192.0.2.128/25 -j ACCEPT")).refusal, "some of the reply's destinations")
        XCTAssertNil(try prove(out("-p tcp -m tcp --sport 80 -j DROP")).refusal)
        XCTAssertNil(try prove(out("-p tcp -m tcp --dport 1:1023 -j DROP")).refusal)
        XCTAssertEqual(places(try prove(out("-p tcp -m tcp --sport 22 --dport 1024:65535 -j ACCEPT"))), [rule("filter", "OUTPUT", 1)])
        XCTAssertNotNil(try prove(out("-p tcp -m tcp --dport 2000 -j ACCEPT")).refusal)
    }

    func testTCPFlagsOfTheReset() throws {
        XCTAssertNil(try prove("*filter\n\(reset)-A OUTPUT -p tcp -m tcp --syn -j DROP\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reset)-A OUTPUT -p tcp -m tcp --tcp-flags RST NONE -j DROP\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reset)-A OUTPUT -p tcp -m tcp --tcp-option 2 -j DROP\nCOMMIT\n").refusal)
        let p = try prove("*filter\n:OUTPUT DROP [0:0]\n\(reset)-A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j ACCEPT\nCOMMIT\n")
        XCTAssertEqual(places(p), [rule("filter", "OUTPUT", 1)])
        // ACK: set when the original had none (nf_send_reset), unknown otherwise.
        let ackDrop = "-A OUTPUT -p tcp -m tcp --tcp-flags ACK ACK -j DROP\n"
        XCTAssertNotNil(try prove("*filter\n\(reset)\(ackDrop)COMMIT\n").refusal)
        let syn = "-A INPUT -p tcp -m tcp --syn -j REJECT --reject-with tcp-reset\n"
        XCTAssertEqual(try prove("*filter\n\(syn)\(ackDrop)COMMIT\n").refusal, "filter OUTPUT rule 1 matches the reply with -j DROP")
        let ack = "-A INPUT -p tcp -m tcp --tcp-flags ACK ACK -j REJECT --reject-with tcp-reset\n"
        XCTAssertNil(try prove("*filter\n\(ack)\(ackDrop)COMMIT\n").refusal)
    }

    func testICMPTypeAndCode() throws {
        XCTAssertEqual(places(try prove("*filter\n:OUTPUT DROP [0:0]\n\(reject)-A OUTPUT -p icmp -m icmp --icmp-type 3/3 -j ACCEPT\nCOMMIT\n")),
                       [rule("filter", "OUTPUT", 1)])
        XCTAssertEqual(places(try prove("*filter\n:OUTPUT DROP [0:0]\n\(reject)-A OUTPUT -p icmp -m icmp --icmp-type 3 -j ACCEPT\nCOMMIT\n")),
                       [rule("filter", "OUTPUT", 1)])
        let prohibited = "-A INPUT -j REJECT --reject-with icmp-host-prohibited\n"
        XCTAssertNil(try prove("*filter\n\(prohibited)-A OUTPUT -p icmp -m icmp --icmp-type 3/3 -j DROP\nCOMMIT\n").refusal)
        XCTAssertNil(try prove("*filter\n\(reject)-A OUTPUT -p icmp -m icmp --icmp-type 0 -j DROP\nCOMMIT\n").refusal)
        XCTAssertNotNil(try prove("*filter\n\(reject)-A OUTPUT -p icmp -m icmp ! --icmp-type 0 -j DROP\nCOMMIT\n").refusal)
    }

    func testStateIsRelatedOnlyWhenTheOriginalWasTracked() throws {
        let out = ":OUTPUT DROP [0:0]\n-A OUTPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n"
        XCTAssertNotNil(try prove("*filter\n\(out)\(reject)COMMIT\n").refusal, "an INVALID original's reply is not RELATED")
        let tracked = "-A INPUT -m conntrack --ctstate NEW -j REJECT\n"
        XCTAssertEqual(places(try prove("*filter\n\(out)\(tracked)COMMIT\n")), [rule("filter", "OUTPUT", 1)])
        let est = "-A OUTPUT -m conntrack --ctstate ESTABLISHED -j DROP\n"
        XCTAssertNil(try prove("*filter\n\(tracked)\(est)COMMIT\n").refusal)
        XCTAssertNotNil(try prove("*filter\n\(tracked)-A OUTPUT -m conntrack --ctstate SNAT -j DROP\nCOMMIT\n").refusal)
        let established = "-A INPUT -m state --state ESTABLISHED -j REJECT\n"
        XCTAssertNotNil(try prove("*filter\n\(out)\(established)COMMIT\n").refusal, "not checked against the kernel: unknown")
    }

    func testUserChainsReturnGotoAndDepth() throws {
        // RETURN from a user chain goes on in the caller; a goto'd chain's end returns past it.
        let ret = "*filter\n:X - [0:0]\n\(reject)-A OUTPUT -j X\n-A OUTPUT -p icmp -j ACCEPT\n-A X -p icmp -j RETURN\n-A X -j DROP\nCOMMIT\n"
        XCTAssertEqual(places(try prove(ret)), [rule("filter", "OUTPUT", 1), rule("filter", "X", 1), rule("filter", "OUTPUT", 2)])
        let gotoEnd = "*filter\n:X - [0:0]\n\(reject)-A OUTPUT -g X\n-A OUTPUT -j DROP\n-A X -p tcp -j DROP\nCOMMIT\n"
        XCTAssertEqual(places(try prove(gotoEnd)), [rule("filter", "OUTPUT", 1), .policy(table: "filter", chain: "OUTPUT")])
        let builtinReturn = "*filter\n\(reject)-A OUTPUT -j RETURN\n-A OUTPUT -j DROP\nCOMMIT\n"
        XCTAssertEqual(places(try prove(builtinReturn)), [rule("filter", "OUTPUT", 1), .policy(table: "filter", chain: "OUTPUT")])
        let counting = "*filter\n\(reject)-A OUTPUT -m comment --comment \"hi\"\nCOMMIT\n"
        XCTAssertEqual(places(try prove(counting)), [rule("filter", "OUTPUT", 1), .policy(table: "filter", chain: "OUTPUT")])
    }

    /// Which tables' chains the reply passes (verified against the kernel, docs/two-layers.md).
    func testTablesOnTheWay() throws {
        let tables = """
            *raw
            :OUTPUT ACCEPT [0:0]
            COMMIT
            *mangle
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            COMMIT
            *nat
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A OUTPUT -j LOG
            -A POSTROUTING -s 10.10.10.0/24 -j LOG
            -A POSTROUTING -s 10.10.10.0/24 -o eth0 -j MASQUERADE
            COMMIT
            *security
            :OUTPUT ACCEPT [0:0]
            COMMIT

            """
        let icmp = try prove(tables + "*filter\n\(reject)COMMIT\n")
        XCTAssertNil(icmp.refusal, "an ICMP error meets no nat chain")
        let policies: [ReplyCountPlace] = [
            .policy(table: "raw", chain: "OUTPUT"), .policy(table: "mangle", chain: "OUTPUT"), .policy(table: "filter", chain: "OUTPUT"),
            .policy(table: "security", chain: "OUTPUT"), .policy(table: "mangle", chain: "POSTROUTING"),
        ]
        XCTAssertEqual(places(icmp), policies)
        // A RST passes nat POSTROUTING (not nat OUTPUT) when the original was NEW; without a
        // state test on the REJECT rule, it may or may not.
        XCTAssertEqual(try prove(tables + "*filter\n\(reset)COMMIT\n").refusal?.hasPrefix("whether the reset passes nat POSTROUTING"), true)
        // Its source is unknown there...
        let new = "-m conntrack --ctstate NEW"
        XCTAssertEqual(try prove(tables + "*filter\n-A INPUT -p tcp \(new) -j REJECT --reject-with tcp-reset\nCOMMIT\n").refusal,
                       "nat POSTROUTING rule 1 may or may not match the reply")
        // ... unless the REJECT rule says it: the original's destination.
        let known = try prove(tables + "*filter\n-A INPUT -d 198.18.0.1/32 -p tcp \(new) -j REJECT --reject-with tcp-reset\nCOMMIT\n")
        XCTAssertNil(known.refusal)
        XCTAssertEqual(places(known), policies + [.policy(table: "nat", chain: "POSTROUTING")])
    }

    func testMissingChainAndLoopsAreRefused() throws {
        let rs = try RestoreParser.parse("*filter\n:X - [0:0]\n\(reject)-A OUTPUT -j X\nCOMMIT\n", options: .init(file: "case.rules"))
        var broken = rs
        // A ruleset whose jump names no chain (iptables refuses it; the proof must not crash).
        if let t = broken.tables.firstIndex(where: { $0.name == "filter" }) {
            broken.tables[t].chains.removeAll { $0.name == "X" }
        }
        let shape = ReplyShape(reply: Self.icmp, outInterface: "eth0")
        XCTAssertEqual(ReplyPath.prove(shape, in: broken).refusal, "filter X does not exist")
    }

    /// The compiler: a REJECT whose reply is proven untouched is a reject position with its
    /// reply's places; one that is not stays the kernel's and the report says why.
    func testCompilerUsesTheProof() throws {
        let text = "*filter\n:FW-OUTPUT - [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset\n-A INPUT -j REJECT\n"
            + "-A OUTPUT -j FW-OUTPUT\n-A FW-OUTPUT -p icmp -j LOG\nCOMMIT\n"
        let rs = try RestoreParser.parse(text, options: .init(file: "case.rules"))
        let r = Compiler.compile(rs, interface: "eth0")
        let byIndex = Dictionary(uniqueKeysWithValues: r.report.rules.filter { $0.ref.chain == "INPUT" }.map { ($0.ref.index, $0.status) })
        guard case .xdp(.rejectReply(.tcpReset, _))? = byIndex[1] else { return XCTFail("\(String(describing: byIndex[1]))") }
        XCTAssertEqual(byIndex[2], .kernel(.rejectPath("filter FW-OUTPUT rule 1 matches the reply with -j LOG")))
        let pos = try XCTUnwrap(r.origins.firstIndex { $0.rule.index == 1 && $0.rule.chain == "INPUT" })
        XCTAssertEqual(r.tables.verdicts[pos], .reject)
        XCTAssertEqual(places(ReplyPath(places: r.origins[pos].replyPlaces)),
                       [rule("filter", "OUTPUT", 1), .policy(table: "filter", chain: "OUTPUT")])
        XCTAssertEqual(r.tables.rejectReplies[UInt32(pos)], .tcpReset)
        // --xdp-only: never (the kernel's INPUT is empty).
        let alone = Compiler.compile(rs, interface: "eth0", options: CompileOptions(xdpOnly: true))
        XCTAssertFalse(alone.tables.verdicts.contains(.reject))
    }
}
