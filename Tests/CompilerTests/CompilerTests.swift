import Compiler
import IptParse
import TestSupport
import XCTest

final class CompilerTests: XCTestCase {
    typealias P = CompiledTables.Prefix

    func ruleset(_ body: String) throws -> Ruleset {
        try RestoreParser.parse("*filter\n" + body + "\nCOMMIT\n", options: .init(file: "t.rules"))
    }

    func ip(_ s: String) -> UInt32 {
        s.split(separator: ".").reduce(0) { $0 << 8 | UInt32($1)! }
    }

    func sets(_ text: String) throws -> IpsetScript { try IpsetParser.parse(text, file: "t.ipset") }

    func testSIPEdgeFixtureCompilesToKeyedTables() throws {
        let rs = try RestoreParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules")), options: .init())
        let sets = try IpsetParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")), file: "sip-edge.ipset")
        let refused = Compiler.compile(rs, sets: sets, interface: "eth0")
        XCTAssertFalse(refused.installable, "REJECT needs --reject-as-drop")
        XCTAssertEqual(refused.report.rules.filter { $0.status.name == "unsupported" }.map(\.ref.index), [13])

        let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: true))
        XCTAssertTrue(r.installable, r.report.rules.map { "\($0.ref.chain) \($0.ref.index): \($0.status.detail)" }.joined(separator: "\n"))
        let t = r.tables
        XCTAssertEqual(t.policy, .drop)
        XCTAssertTrue(t.needsConntrack)
        // -i lo never matches on eth0; the final REJECT became a catch-all DROP.
        XCTAssertEqual(r.report.rules[0].status.name, "never-matches")
        XCTAssertEqual(t.catchAll.map { t.verdicts[Int($0)] }, .drop)
        // Whitelist members on udp/5060 through the SIP chain.
        let peer = CompiledTables.SourceProtoPort(source: P(address: ip("198.51.100.10"), length: 32),
                                                  protoPort: .init(proto: 17, port: 5060))
        XCTAssertEqual(t.sourceProtoPort[peer].map { t.verdicts[Int($0)] }, .accept)
        // The carriers' nomatch exception is stored so that it beats its enclosing prefix.
        let hole = CompiledTables.SourceProtoPort(source: P(address: ip("203.0.113.64"), length: 27), protoPort: .init(proto: 17, port: 5060))
        let net = CompiledTables.SourceProtoPort(source: P(address: ip("203.0.113.0"), length: 25), protoPort: .init(proto: 17, port: 5060))
        XCTAssertNotNil(t.sourceProtoPort[net])
        XCTAssertEqual(t.sourceProtoPort[hole], UInt32.max)
        // The RTP range is too wide to expand into keys: one fallback entry.
        XCTAssertEqual(t.fallback.filter { $0.destinationPorts?.value == 10000...20000 }.count, 1)
        // SIP's carrier rule cannot match under the tcp/5060-5061 jump, but it does under udp/5060.
        XCTAssertEqual(r.report.rules.first { $0.ref.chain == "SIP" && $0.ref.index == 2 }?.status.name, "compiled")
        // MGMT on tcp/22: the admin host is accepted, everything else dropped by MGMT's last rule.
        let admin = CompiledTables.SourceProtoPort(source: P(address: ip("203.0.113.10"), length: 32), protoPort: .init(proto: 6, port: 22))
        XCTAssertEqual(t.sourceProtoPort[admin].map { t.verdicts[Int($0)] }, .accept)
        XCTAssertEqual(t.protoPort[.init(proto: 6, port: 22)].map { t.verdicts[Int($0)] }, .drop)
        XCTAssertLessThan(t.sourceProtoPort[admin]!, t.protoPort[.init(proto: 6, port: 22)]!)
    }

    func testSourcePrefixesKeepFirstMatchAcrossNesting() throws {
        let rs = try ruleset("""
            -A INPUT -s 10.1.0.0/16 -j DROP
            -A INPUT -s 10.0.0.0/8 -j ACCEPT
            -A INPUT -s 10.1.2.0/24 -j ACCEPT
            -A INPUT ! -s 192.0.2.0/24 -j DROP
            """)
        let t = Compiler.compile(rs, interface: "eth0").tables
        XCTAssertEqual(t.source[P(address: ip("10.1.0.0"), length: 16)], 0)
        XCTAssertEqual(t.source[P(address: ip("10.0.0.0"), length: 8)], 1)
        XCTAssertEqual(t.source[P(address: ip("10.1.2.0"), length: 24)], 0, "10.1.2.0/24 is inside the earlier DROP")
        XCTAssertEqual(t.source[P(address: 0, length: 0)], 3, "the negated prefix matches everything else")
        XCTAssertEqual(t.source[P(address: ip("192.0.2.0"), length: 24)], UInt32.max)
    }

    func testSetsWithNomatchAndNegation() throws {
        let s = try sets("""
            create wl hash:net family inet
            add wl 198.51.100.0/24
            add wl 198.51.100.128/25 nomatch
            create bl hash:ip family inet
            add bl 203.0.113.9
            """)
        let rs = try ruleset("""
            -A INPUT -m set --match-set bl src -j DROP
            -A INPUT -m set --match-set wl src -j ACCEPT
            -A INPUT -m set ! --match-set wl src -p udp --dport 5060 -j DROP
            """)
        let t = Compiler.compile(rs, sets: s, interface: "eth0").tables
        XCTAssertEqual(t.source[P(address: ip("203.0.113.9"), length: 32)], 0)
        XCTAssertEqual(t.source[P(address: ip("198.51.100.0"), length: 24)], 1)
        XCTAssertEqual(t.source[P(address: ip("198.51.100.128"), length: 25)], UInt32.max)
        let g = CompiledTables.ProtoPort(proto: 17, port: 5060)
        XCTAssertEqual(t.sourceProtoPort[.init(source: P(address: 0, length: 0), protoPort: g)], 2)
        XCTAssertEqual(t.sourceProtoPort[.init(source: P(address: ip("198.51.100.0"), length: 24), protoPort: g)], UInt32.max)
        XCTAssertEqual(t.sourceProtoPort[.init(source: P(address: ip("198.51.100.128"), length: 25), protoPort: g)], 2)
    }

    func testChainsAreInlinedWithReturnAndGoto() throws {
        let rs = try ruleset("""
            :A - [0:0]
            :B - [0:0]
            -A INPUT -p udp -j A
            -A INPUT -g B
            -A A -s 198.51.100.1 -j RETURN
            -A A -p udp --dport 53 -j ACCEPT
            -A B -p tcp -j DROP
            """)
        let r = Compiler.compile(rs, interface: "eth0")
        XCTAssertTrue(r.installable)
        // A's ACCEPT only for packets that did not RETURN: a negated source, which the
        // LPM table holds as "everything" with a hole for 198.51.100.1.
        let dns = CompiledTables.ProtoPort(proto: 17, port: 53)
        XCTAssertEqual(r.tables.sourceProtoPort[.init(source: P(address: 0, length: 0), protoPort: dns)], 0)
        XCTAssertEqual(r.tables.sourceProtoPort[.init(source: P(address: ip("198.51.100.1"), length: 32), protoPort: dns)], UInt32.max)
        XCTAssertTrue(r.tables.fallback.isEmpty)
        // goto B from INPUT: falling off B's end applies the policy, as a catch-all.
        XCTAssertEqual(r.tables.catchAll, 2)
        XCTAssertEqual(r.tables.protoPort[.init(proto: 6, port: nil)], 1)
    }

    /// An unsupported RETURN or jump is left out, so the rules whose reach it decides are
    /// marked: the report (and migrate --verify) must not call them exact.
    func testRulesReachedThroughAnUnsupportedRuleAreMarked() throws {
        let rs = try ruleset("""
            :INPUT DROP [0:0]
            :CHK - [0:0]
            :LOGDROP - [0:0]
            -A INPUT -j CHK
            -A INPUT -p udp --dport 5060 -j ACCEPT
            -A INPUT -m limit --limit 3/min -j LOGDROP
            -A CHK -m addrtype --dst-type BROADCAST -j RETURN
            -A CHK -p udp --dport 53 -j ACCEPT
            -A CHK -p tcp -m tcp --dport 22 -m addrtype --dst-type LOCAL -j RETURN
            -A CHK -p udp --dport 123 -j ACCEPT
            -A CHK -p tcp --dport 80 -j ACCEPT
            -A LOGDROP -j DROP
            """)
        let r = Compiler.compile(rs, interface: "eth0")
        let status = Dictionary(uniqueKeysWithValues: r.report.rules.map { ("\($0.ref.chain) \($0.ref.index)", $0.status.name) })
        XCTAssertEqual(status["CHK 1"], "unsupported")
        // Every later rule of CHK may be skipped by iptables for broadcast packets.
        XCTAssertEqual(status["CHK 2"], "depends-on-unsupported")
        XCTAssertEqual(status["CHK 3"], "unsupported")
        XCTAssertEqual(status["CHK 4"], "depends-on-unsupported")
        // After CHK returns, INPUT runs as it would anyway: nothing to mark.
        XCTAssertEqual(status["INPUT 2"], "compiled")
        // A chain entered only through an unsupported jump is reached in iptables, not unreachable.
        XCTAssertEqual(status["LOGDROP 1"], "depends-on-unsupported")
        XCTAssertTrue(r.report.rules.first { $0.ref.chain == "CHK" && $0.ref.index == 2 }!.status.detail.contains("CHK rule 1"))

        // A RETURN whose known tests exclude a rule's packets does not taint it.
        let disjoint = try ruleset("""
            :INPUT DROP [0:0]
            :CHK - [0:0]
            -A INPUT -j CHK
            -A CHK -p tcp -m tcp --dport 22 -m addrtype --dst-type LOCAL -j RETURN
            -A CHK -p udp --dport 123 -j ACCEPT
            -A CHK -p tcp --dport 80 -j ACCEPT
            -A CHK -p tcp --dport 22 -j ACCEPT
            """)
        let d = Compiler.compile(disjoint, interface: "eth0").report.rules.filter { $0.ref.chain == "CHK" }.map(\.status.name)
        XCTAssertEqual(d, ["unsupported", "compiled", "compiled", "depends-on-unsupported"])
    }

    func testWhatCannotBeHonouredIsRefusedWithReasons() throws {
        let rs = try ruleset("""
            :A - [0:0]
            -A INPUT -j A
            -A INPUT -j LOG
            -A INPUT -m limit --limit 5/sec -j ACCEPT
            -A INPUT -j REJECT
            -A A -s 198.51.100.1 -p tcp -j RETURN
            -A A -j ACCEPT
            """)
        let r = Compiler.compile(rs, interface: "eth0")
        XCTAssertFalse(r.installable)
        let unsupported = r.report.rules.filter { $0.status.name == "unsupported" }.map { "\($0.ref.chain) \($0.ref.index)" }
        XCTAssertEqual(unsupported, ["INPUT 2", "INPUT 3", "INPUT 4", "A 1"])
    }

    func testOtherTablesBlockUnlessInputOnly() throws {
        let rs = try RestoreParser.parse("""
            *nat
            -A POSTROUTING -o eth0 -j MASQUERADE
            COMMIT
            *filter
            -A INPUT -p tcp --dport 22 -j ACCEPT
            -A FORWARD -j DROP
            COMMIT
            """, options: .init())
        XCTAssertFalse(Compiler.compile(rs, interface: "eth0").installable)
        let r = Compiler.compile(rs, interface: "eth0", options: CompileOptions(inputOnly: true))
        XCTAssertTrue(r.installable)
        XCTAssertEqual(r.report.count("not-applicable"), 2)
    }

    func testShadowedAndContradictoryRulesAreListed() throws {
        let rs = try ruleset("""
            :S - [0:0]
            -A INPUT -s 10.0.0.0/8 -j ACCEPT
            -A INPUT -s 10.1.0.0/16 -p tcp -j DROP
            -A INPUT -p tcp -j S
            -A S -p udp -j DROP
            """)
        let r = Compiler.compile(rs, interface: "eth0")
        XCTAssertEqual(r.report.rules[1].status, .shadowed(by: RuleRef(table: "filter", chain: "INPUT", index: 1, line: 3)))
        XCTAssertEqual(r.report.rules[3].status.name, "never-matches")
    }

    func testRulesetsOfTheCorpusCompileOrSayWhy() throws {
        guard let corpus = Fixtures.corpus else { throw XCTSkip("../shared/corpus is absent") }
        var installable = 0, total = 0
        for url in Fixtures.files(in: corpus, suffix: ".rules") where !url.lastPathComponent.hasSuffix(".v6.rules") {
            guard let rs = try? RestoreParser.parse(Fixtures.text(url), options: .init()) else { continue }
            total += 1
            let r = Compiler.compile(rs, interface: "eth0", options: CompileOptions(rejectAsDrop: true, inputOnly: true))
            for rule in r.report.rules {
                if case .unsupported(let why, _) = rule.status { XCTAssertFalse(why.isEmpty) }
            }
            if r.installable { installable += 1 }
        }
        print("compiler: \(installable)/\(total) corpus rulesets install with --reject-as-drop --input-only")
        XCTAssertGreaterThan(total, 0)
    }
}

extension CompilerTests {
    /// Nesting beyond what the compiler inlines is refused, never silently cut short.
    func testTooDeepNestingIsRefused() throws {
        var body = (0...70).map { ":C\($0) - [0:0]" }.joined(separator: "\n") + "\n-A INPUT -j C0\n"
        body += (0..<70).map { "-A C\($0) -j C\($0 + 1)" }.joined(separator: "\n") + "\n-A C70 -j ACCEPT"
        let r = Compiler.compile(try ruleset(body), interface: "eth0")
        XCTAssertFalse(r.installable)
        XCTAssertTrue(r.report.rules.contains { $0.status.detail.contains("nested deeper") })
        let shallow = Compiler.compile(try ruleset(":C0 - [0:0]\n-A INPUT -j C0\n-A C0 -j ACCEPT"), interface: "eth0")
        XCTAssertTrue(shallow.installable)
        XCTAssertEqual(shallow.tables.catchAll, 0)
    }
}
