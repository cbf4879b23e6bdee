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
        let kernel = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(xdpOnly: true))
        XCTAssertFalse(kernel.installable, "REJECT needs --reject-as-drop for XDP alone")
        XCTAssertEqual(kernel.xdpOnlyBlockers, [.kernelRule(RuleRef(table: "filter", chain: "INPUT", index: 13, line: 23), .reject)])
        XCTAssertTrue(Compiler.compile(rs, sets: sets, interface: "eth0").installable, "without --xdp-only the kernel decides REJECT")

        let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: true, xdpOnly: true))
        XCTAssertTrue(r.installable, r.report.rules.map { "\($0.ref.chain) \($0.ref.index): \($0.status.detail)" }.joined(separator: "\n"))
        XCTAssertTrue(r.tables.xdpOnly)
        let t = r.tables
        XCTAssertEqual(t.policy, .drop)
        XCTAssertTrue(t.needsConntrack)
        // -i lo never matches on eth0; the final REJECT became a catch-all DROP.
        XCTAssertEqual(r.report.rules[0].status, .neverMatches(.interface("lo")))
        XCTAssertEqual(r.report.rules[12].status, .xdp(.rejectAsDrop(.keyed(.catchAll, entries: 1))))
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
        XCTAssertEqual(r.report.rules.first { $0.ref.chain == "SIP" && $0.ref.index == 2 }?.status.layer, .xdp)
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

    /// hash:ip with a netmask matches the packet's address masked: each member is a prefix.
    func testNetmaskSetMembersStandForTheirBlock() throws {
        let s = try sets("create blocks hash:ip family inet netmask 24\nadd blocks 192.0.2.0\n")
        let rs = try ruleset("-A INPUT -m set --match-set blocks src -j DROP")
        let t = Compiler.compile(rs, sets: s, interface: "eth0").tables
        XCTAssertEqual(t.decide(PacketFacts(source: ip("192.0.2.77"), destination: 1, proto: 47)).verdict, .drop)
        XCTAssertEqual(t.decide(PacketFacts(source: ip("192.0.3.77"), destination: 1, proto: 47)).verdict, .accept)
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
        XCTAssertEqual(r.report.rules[3].status, .neverMatches(.contradiction))
    }
}

extension CompilerTests {
    /// Nesting beyond what the compiler inlines is a KERNEL position, never silently cut short.
    func testTooDeepNestingGoesToTheKernel() throws {
        var body = (0...70).map { ":C\($0) - [0:0]" }.joined(separator: "\n") + "\n-A INPUT -j C0\n"
        body += (0..<70).map { "-A C\($0) -j C\($0 + 1)" }.joined(separator: "\n") + "\n-A C70 -j DROP"
        let r = Compiler.compile(try ruleset(body), interface: "eth0", options: CompileOptions(xdpOnly: true))
        XCTAssertFalse(r.installable)
        let deep = RuleRef(table: "filter", chain: "C62", index: 1, line: 136)
        XCTAssertEqual(r.report.rules.first { $0.ref == deep }?.status, .kernel(.nestedTooDeep(limit: 64)))
        XCTAssertEqual(r.report.rules.first { $0.ref.chain == "C70" }?.status, .kernel(.reachedThrough(deep)))
        XCTAssertEqual(r.tables.decide(PacketFacts(source: 1, destination: 2, proto: 6)).verdict, .kernel)
        let shallow = Compiler.compile(try ruleset(":C0 - [0:0]\n-A INPUT -j C0\n-A C0 -j ACCEPT"), interface: "eth0")
        XCTAssertTrue(shallow.installable)
        XCTAssertEqual(shallow.tables.catchAll, 0)
    }
}
