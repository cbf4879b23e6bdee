import Compiler
import IptParse
import TestSupport
import XCTest

/// ip6tables rulesets -> the IPv6 entries of the program (Compiler/IPv6).
final class Compiler6Tests: XCTestCase {
    private func compile(_ rules: String, sets: String? = nil) throws -> CompileResult6 {
        let ruleset = try RestoreParser.parse(rules, options: .init(family: .ipv6))
        let script = try sets.map { s throws(IptParseError) in try IpsetParser.parse(s, file: "sets") }
        return Compiler6.compile(ruleset, sets: script, interface: "veth0")
    }

    private func fixture(_ name: String) -> String {
        Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipv6/\(name)"))
    }

    func testSipEdgeFixture() throws {
        let r = try compile(fixture("sip-edge6.rules"), sets: fixture("sip-edge6.ipset"))
        let t = r.tables
        XCTAssertEqual(t.policy, .drop)
        XCTAssertFalse(t.passAll)
        // 19 INPUT rules, the MGMT jump replaced by MGMT's three rules in its context, then
        // the rest of INPUT and the policy for the packets MGMT lets fall through (counted
        // with the jump), then the rest of INPUT for every other packet.
        XCTAssertEqual(t.positions, 11 + 3 + 7 + 1 + 7)
        let icmp = [CompiledTables6.Verdict](repeating: .accept, count: 9)
        let rest: [CompiledTables6.Verdict] = [.accept, .drop, .accept, .accept, .drop, .kernel, .accept]
        XCTAssertEqual(r.origins.map(\.verdict), [.drop] + icmp + [.drop] + [.accept, .accept, .drop] + rest + [.drop] + rest)
        XCTAssertTrue(r.origins[21].isPolicy)
        XCTAssertEqual(r.origins[21].via.map(\.index), [12])
        XCTAssertEqual(r.origins[14].via.map(\.index), [12], "the copy counts the jump")
        XCTAssertEqual(r.origins[22].via, [], "the plain rest does not")
        // The jump's source prefix is on each of MGMT's entries.
        let mgmt = t.entries.filter { $0.position >= 11 && $0.position <= 13 }
        XCTAssertEqual(mgmt.count, 3)
        for e in mgmt {
            XCTAssertEqual(e.tests.source?.value.prefixLength, 48)
            XCTAssertEqual(r.origins[Int(e.position)].via.first?.chain, "INPUT")
        }
        // multiport: one position, two entries.
        let tls = r.origins.firstIndex { $0.rule?.index == 15 && $0.rule?.chain == "INPUT" }
        XCTAssertNotNil(tls)
        XCTAssertEqual(t.entries.filter { $0.position == UInt32(tls ?? 0) }.count, 2)
        // LOG is the kernel's; the rule after it still compiles.
        let log = r.origins.first { $0.rule?.index == 18 && $0.rule?.chain == "INPUT" }
        XCTAssertEqual(log?.verdict, .kernel)
        XCTAssertEqual(r.origins.last?.verdict, .accept)
        // Members: 4 of sip6-peers (one nomatch), 2 banned, 2 tls.
        XCTAssertEqual(t.setMembers.count, 8)
        XCTAssertEqual(t.setMembers.filter(\.nomatch).count, 1)
        XCTAssertEqual(t.setMembers.filter { $0.port != nil }.count, 2)
        XCTAssertEqual(Set(t.setMembers.map(\.prefixLength)), [48, 64, 128, 56])
    }

    func testWhatStaysWithTheKernel() throws {
        let r = try compile("""
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
            -A INPUT -s 2001:db8::/ffff:0:ffff:: -j DROP
            -A INPUT -p tcp -m length --length 0:100 -j DROP
            -A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
            -A INPUT -p tcp -m tcp --dport 26
            -A INPUT -i eth9 -p tcp -j DROP
            -A INPUT -i veth+ -p udp -j DROP
            COMMIT

            """)
        XCTAssertEqual(r.origins.map(\.verdict), [.accept, .kernel, .kernel, .kernel, .kernel, .drop])
        XCTAssertEqual(r.tables.entries[0].tests.conntrack?.value, [.related, .established])
        XCTAssertTrue(r.tables.needsConntrack)
        XCTAssertTrue(r.tables.firstFragmentsUp, "a state match loads conntrack: the kernel reassembles")
        XCTAssertTrue(r.origins[1].reason.contains("not a prefix"), r.origins[1].reason)
        XCTAssertEqual(r.tables.entries[1].tests, CompiledTables6.Tests(), "over-approximation: no tests left")
        XCTAssertEqual(r.tables.entries[2].tests.proto?.value, 6, "-m length left out, -p tcp kept")
        XCTAssertEqual(r.tables.policy, .accept)
    }

    func testBeforeInputAndNat() throws {
        let r = try compile("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 5060 -j MARK --set-xmark 0x1/0xffffffff
            -A INPUT -j ACCEPT
            COMMIT
            *filter
            :INPUT DROP [0:0]
            -A INPUT -p udp -j DROP
            COMMIT

            """)
        XCTAssertEqual(r.origins.map(\.verdict), [.kernel, .drop])
        XCTAssertEqual(r.origins[0].rule?.table, "mangle")
        XCTAssertEqual(r.tables.entries[0].tests.destinationPorts?.value, 5060...5060)
        let nat = try compile("""
            *nat
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080
            COMMIT
            *filter
            :INPUT DROP [0:0]
            COMMIT

            """)
        XCTAssertTrue(nat.tables.passAll)
    }

    func testJumpsReturnAndDynamicSets() throws {
        let r = try compile("""
            *filter
            :INPUT DROP [0:0]
            :A - [0:0]
            :B - [0:0]
            -A INPUT -p tcp -j A
            -A INPUT -m set --match-set dyn src -j ACCEPT
            -A A -s 2001:db8::/32 -j RETURN
            -A A -j B
            -A B -p tcp -m tcp --dport 80 -j DROP
            -A B -p udp -j DROP
            COMMIT

            """, sets: """
            create dyn hash:ip family inet6 timeout 60

            """)
        // RETURN: the kernel's; B inlined with -p tcp; B's -p udp cannot share an entry with
        // -p tcp; what B lets fall through goes up (a jump below INPUT); what A lets fall
        // through meets INPUT's rest (the set rule) and the policy, counted with the jump to A;
        // then INPUT's rest for every other packet.
        XCTAssertEqual(r.origins.map(\.verdict), [.kernel, .drop, .kernel, .kernel, .kernel, .drop, .kernel])
        XCTAssertEqual(r.origins[1].via.map(\.chain), ["INPUT", "A"])
        XCTAssertEqual(r.tables.entries[1].tests.proto?.value, 6)
        XCTAssertTrue(r.origins[3].reason.contains("fall through"), r.origins[3].reason)
        XCTAssertTrue(r.origins[5].isPolicy)
        XCTAssertEqual(r.tables.entries[5].tests.proto?.value, 6, "the policy for what A lets fall through: -p tcp")
        XCTAssertTrue(r.origins[6].reason.contains("-m set"), r.origins[6].reason)
        XCTAssertTrue(r.tables.setMembers.isEmpty)
    }

    /// A dual-stack restore file: ip6tables-restore skips `-4` lines, iptables-restore `-6`
    /// lines (both verified with iptables 1.8.9 in a namespace); the IPv6 compile sees only
    /// its own.
    func testDualStackLinePrefixes() throws {
        let text = """
            *filter
            :INPUT DROP [0:0]
            -4 -A INPUT -s 10.0.0.1 -j ACCEPT
            -6 -A INPUT -s 2001:db8::1 -j ACCEPT
            -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
            COMMIT

            """
        let r = try compile(text)
        XCTAssertEqual(r.origins.count, 2)
        XCTAssertEqual(r.tables.entries[0].tests.source?.value.prefixLength, 128)
        let v4 = try RestoreParser.parse(text, options: .init(family: .ipv4))
        XCTAssertEqual(v4.table("filter")?.chain("INPUT")?.rules.count, 2)
        XCTAssertEqual(v4.table("filter")?.chain("INPUT")?.rules.first?.source?.value.prefixLength, 32)
    }
}
