import Compiler
import IptParse
import TestSupport
import XCTest

/// One case per kind of rule XDP cannot decide exactly: what the report says of it, and
/// what the program (modelled by `decide`) answers for packets on either side of it.
final class KernelPositionTests: XCTestCase {
    /// Rules are named "table/CHAIN#n"; `ref` turns a name into the rule's RuleRef.
    struct Case {
        var name: String
        var text: String
        var sets = ""
        var options = CompileOptions()
        var statuses: (_ ref: (String) -> RuleRef) -> [String: RuleStatus] = { _ in [:] }
        /// A packet, its conntrack state, the verdict, and the deciding rule ("policy": none).
        var decides: [(PacketFacts, ConntrackStates?, CompiledTables.Verdict, String)] = []
        var natCheck = false
        var qualifies = true
    }

    func ip(_ s: String) -> UInt32 { s.split(separator: ".").reduce(0) { $0 << 8 | UInt32($1)! } }
    func tcp(_ src: String, _ dport: UInt16, sport: UInt16 = 40000) -> PacketFacts {
        PacketFacts(source: ip(src), destination: ip("198.18.0.1"), proto: 6, ports: .init(source: sport, destination: dport), tcpFlags: 0x02)
    }
    func udp(_ src: String, _ dport: UInt16) -> PacketFacts {
        PacketFacts(source: ip(src), destination: ip("198.18.0.1"), proto: 17, ports: .init(source: 40000, destination: dport))
    }

    func ttl(_ p: PacketFacts, _ t: UInt8) -> PacketFacts {
        var p = p
        p.ttl = t
        return p
    }

    var cases: [Case] { [
        Case(name: "an unsupported match keeps its place over the tests that lower",
             text: "*filter\n-A INPUT -p tcp -m tcp --dport 22 -m mark --mark 0x1 -j ACCEPT\n-A INPUT -p tcp -j DROP\nCOMMIT\n",
             statuses: { _ in [
                 "filter/INPUT#1": .kernel(.unsupportedTests([.match("mark")])),
                 "filter/INPUT#2": .xdp(.keyed(.protocolPort, entries: 1)),
             ] },
             decides: [(tcp("10.0.0.1", 22), nil, .kernel, "filter/INPUT#1"), (tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2"),
                       (udp("10.0.0.1", 53), nil, .accept, "policy")],
             qualifies: false),
        Case(name: "LOG before DROP passes what it logs",
             text: "*filter\n-A INPUT -p tcp -m tcp --dport 23 -j LOG\n-A INPUT -p tcp -j DROP\nCOMMIT\n",
             statuses: { _ in ["filter/INPUT#1": .kernel(.target("LOG"))] },
             decides: [(tcp("10.0.0.1", 23), nil, .kernel, "filter/INPUT#1"), (tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2")],
             qualifies: false),
        Case(name: "REJECT without --reject-as-drop is answered from XDP with the kernel's reply",
             text: "*filter\n-A INPUT -s 192.0.2.0/24 -j REJECT\n-A INPUT -j DROP\nCOMMIT\n",
             statuses: { _ in ["filter/INPUT#1": .xdp(.rejectReply(.icmpUnreachable(code: 3), .keyed(.sourcePrefix, entries: 1)))] },
             decides: [(tcp("192.0.2.1", 80), nil, .reject, "filter/INPUT#1"), (tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2")],
             qualifies: false),
        Case(name: "REJECT stays the kernel's when a rule on the way out could touch its reply",
             text: "*filter\n-A INPUT -s 192.0.2.0/24 -j REJECT --reject-with tcp-reset -p tcp\n-A INPUT -j DROP\n-A OUTPUT -p tcp -j DROP\nCOMMIT\n",
             statuses: { _ in ["filter/INPUT#1": .kernel(.rejectPath("filter OUTPUT rule 1 matches the reply with -j DROP"))] },
             decides: [(tcp("192.0.2.1", 80), nil, .kernel, "filter/INPUT#1"), (tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2")],
             qualifies: false),
        Case(name: "REJECT with --reject-as-drop drops in XDP",
             text: "*filter\n-A INPUT -s 192.0.2.0/24 -j REJECT\n-A INPUT -j DROP\nCOMMIT\n",
             options: CompileOptions(rejectAsDrop: true),
             statuses: { _ in ["filter/INPUT#1": .xdp(.rejectAsDrop(.keyed(.sourcePrefix, entries: 1)))] },
             decides: [(tcp("192.0.2.1", 80), nil, .drop, "filter/INPUT#1")]),
        Case(name: "a RETURN with several tests is inlined: the rest of its chain holds where one of them fails",
             text: "*filter\n:C - [0:0]\n-A INPUT -j C\n-A INPUT -j ACCEPT\n-A C -s 10.0.0.0/8 -p tcp -j RETURN\n-A C -j DROP\nCOMMIT\n",
             statuses: { _ in [
                 "filter/C#1": .xdp(.inlined(.return)),
                 // !-s 10/8 in the source table, ! -p tcp in the fallback list, one position.
                 "filter/C#2": .xdp(.fallback(entries: 2)),
             ] },
             decides: [(tcp("10.1.1.1", 80), nil, .accept, "filter/INPUT#2"), (udp("10.1.1.1", 53), nil, .drop, "filter/C#2"),
                       (tcp("192.0.2.1", 80), nil, .drop, "filter/C#2")]),
        Case(name: "a goto with several tests: its callee and its fall-through are exact",
             text: "*filter\n:INPUT DROP [0:0]\n:C - [0:0]\n:D - [0:0]\n-A INPUT -j C\n-A INPUT -j ACCEPT\n"
                 + "-A C -s 10.0.0.0/8 -p tcp -g D\n-A C -j DROP\n-A D -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
             statuses: { _ in [
                 "filter/C#1": .xdp(.inlined(.goto("D"))),
                 "filter/D#1": .xdp(.keyed(.sourceProtocolPort, entries: 1)),
             ] },
             // A packet D does not take falls off D's end: back to INPUT after the jump to C.
             decides: [(tcp("10.1.1.1", 22), nil, .accept, "filter/D#1"), (tcp("10.1.1.1", 80), nil, .accept, "filter/INPUT#2"),
                       (tcp("192.0.2.1", 22), nil, .drop, "filter/C#2"), (udp("10.1.1.1", 22), nil, .drop, "filter/C#2")]),
        Case(name: "a RETURN with a negated test and a port list: each negation is one alternative",
             text: "*filter\n:C - [0:0]\n-A INPUT -p udp -j C\n-A INPUT -j DROP\n"
                 + "-A C ! -s 192.0.2.0/24 -p udp -m udp --dport 5060:5061 -j RETURN\n-A C -p udp -m udp --sport 53 -j ACCEPT\nCOMMIT\n",
             statuses: { _ in ["filter/C#1": .xdp(.inlined(.return))] },
             decides: [(udp("10.0.0.1", 5060), nil, .drop, "filter/INPUT#2"), (udp("192.0.2.5", 5060), nil, .drop, "filter/INPUT#2"),
                       (PacketFacts(source: ip("192.0.2.5"), destination: ip("198.18.0.1"), proto: 17, ports: .init(source: 53, destination: 5060)),
                        nil, .accept, "filter/C#2"),
                       (PacketFacts(source: ip("10.0.0.1"), destination: ip("198.18.0.1"), proto: 17, ports: .init(source: 53, destination: 80)),
                        nil, .accept, "filter/C#2"),
                       (PacketFacts(source: ip("10.0.0.1"), destination: ip("198.18.0.1"), proto: 17, ports: .init(source: 53, destination: 5061)),
                        nil, .drop, "filter/INPUT#2")]),
        Case(name: "a RETURN with a test no atom negates stays the kernel's",
             text: "*filter\n:C - [0:0]\n-A INPUT -j C\n-A INPUT -j ACCEPT\n-A C -p tcp -m ttl --ttl-gt 5 -j RETURN\n-A C -j DROP\nCOMMIT\n",
             statuses: { _ in [
                 "filter/C#1": .kernel(.multiTestReturn(target: "RETURN", tests: 2, why: .notInvertible("TTL"))),
                 "filter/C#2": .xdp(.keyed(.catchAll, entries: 1)),
             ] },
             decides: [(tcp("10.1.1.1", 80), nil, .kernel, "filter/C#1"), (udp("10.1.1.1", 53), nil, .drop, "filter/C#2")],
             qualifies: false),
        Case(name: "RETURNs past the bound on alternatives are the kernel's",
             text: "*filter\n:C - [0:0]\n-A INPUT -j C\n-A INPUT -j ACCEPT\n"
                 + (1...5).map { "-A C -s 10.\($0).0.0/16 -m ttl --ttl-eq \(60 + $0) -j RETURN\n" }.joined()
                 + "-A C -j DROP\nCOMMIT\n",
             statuses: { _ in [
                 "filter/C#4": .xdp(.inlined(.return)),
                 "filter/C#5": .kernel(.multiTestReturn(target: "RETURN", tests: 2, why: .tooManyAlternatives(limit: 16))),
             ] },
             // C#6's alternatives each hold several negated sources and TTLs: the entry holds
             // one of each, ext rows the others (iprange, TTL), so XDP decides it exactly.
             decides: [(ttl(tcp("10.5.1.1", 80), 65), nil, .kernel, "filter/C#5"), (tcp("10.1.1.1", 80), nil, .drop, "filter/C#6"),
                       (ttl(tcp("10.7.1.1", 80), 65), nil, .drop, "filter/C#6"), (ttl(tcp("10.1.1.1", 80), 61), nil, .accept, "filter/INPUT#2")],
             qualifies: false),
        Case(name: "a jump whose tests do not lower is not walked: its position covers the callee",
             text: "*filter\n:C - [0:0]\n-A INPUT -p udp -m mark --mark 0x1 -j C\n-A INPUT -p tcp -j DROP\n-A C -j DROP\nCOMMIT\n",
             statuses: { ref in [
                 "filter/INPUT#1": .kernel(.unsupportedTests([.match("mark")])),
                 "filter/C#1": .kernel(.reachedThrough(ref("filter/INPUT#1"))),
             ] },
             decides: [(udp("10.0.0.1", 53), nil, .kernel, "filter/INPUT#1"), (tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2")],
             qualifies: false),
        Case(name: "a set with timeouts is not trusted",
             text: "*filter\n-A INPUT -m set --match-set tmp src -j DROP\n-A INPUT -p tcp -j DROP\nCOMMIT\n",
             sets: "create tmp hash:ip family inet timeout 60\nadd tmp 192.0.2.7 timeout 30\n",
             statuses: { _ in ["filter/INPUT#1": .kernel(.unsupportedTests([.dynamicSet("tmp", .timeout)]))] },
             decides: [(udp("192.0.2.7", 53), nil, .kernel, "filter/INPUT#1"), (udp("10.0.0.1", 53), nil, .kernel, "filter/INPUT#1")],
             qualifies: false),
        Case(name: "a set a -j SET rule of another table writes is not trusted",
             text: "*mangle\n-A PREROUTING -p tcp -m tcp --dport 22 -j SET --add-set seen src\nCOMMIT\n"
                 + "*filter\n-A INPUT -p udp -m set --match-set seen src -j DROP\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n",
             sets: "create seen hash:ip family inet\nadd seen 192.0.2.7\n",
             statuses: { ref in [
                 "filter/INPUT#1": .kernel(.unsupportedTests([.dynamicSet("seen", .writtenBy(ref("mangle/PREROUTING#1")))])),
                 "mangle/PREROUTING#1": .kernel(.beforeInput(table: "mangle", chain: "PREROUTING", target: "SET")),
             ] },
             decides: [(udp("192.0.2.7", 53), nil, .kernel, "filter/INPUT#1"), (tcp("192.0.2.7", 22), nil, .kernel, "mangle/PREROUTING#1"),
                       (tcp("192.0.2.7", 80), nil, .accept, "policy")],
             qualifies: false),
        Case(name: "a set no ipset text defines is not trusted",
             text: "*filter\n-A INPUT -m set --match-set ghost src -j DROP\nCOMMIT\n",
             statuses: { _ in ["filter/INPUT#1": .kernel(.unsupportedTests([.unknownSet("ghost")]))] },
             decides: [(udp("192.0.2.7", 53), nil, .kernel, "filter/INPUT#1")],
             qualifies: false),
        Case(name: "DNAT before INPUT: its packets pass whatever their conntrack state; nat => natCheck",
             text: "*nat\n-A PREROUTING -p tcp -m tcp --dport 8080 -m conntrack --ctstate NEW -j DNAT --to-destination 192.0.2.9\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
             statuses: { _ in ["nat/PREROUTING#1": .kernel(.beforeInput(table: "nat", chain: "PREROUTING", target: "DNAT"))] },
             decides: [(tcp("10.0.0.1", 8080), .established, .kernel, "nat/PREROUTING#1"), (tcp("10.0.0.1", 80), .new, .drop, "policy"),
                       (tcp("10.0.0.1", 22), .new, .accept, "filter/INPUT#1")],
             natCheck: true, qualifies: false),
        Case(name: "MARK in a mangle chain: no jump context; -i for another interface never touches our packets",
             text: "*mangle\n:M - [0:0]\n-A PREROUTING -i eth1 -j MARK --set-xmark 0x2/0xffffffff\n-A PREROUTING -p udp -j M\n"
                 + "-A M -s 10.0.0.0/8 -j MARK --set-xmark 0x1/0xffffffff\n-A M -j ACCEPT\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
             statuses: { _ in [
                 "mangle/PREROUTING#1": .neverMatches(.interface("eth1")),
                 "mangle/M#1": .kernel(.beforeInput(table: "mangle", chain: "M", target: "MARK")),
                 "mangle/M#2": .kernel(.kernelOnly(table: "mangle", builtins: ["PREROUTING"])),
             ] },
             decides: [(tcp("10.1.1.1", 80), nil, .kernel, "mangle/M#1"), (tcp("192.0.2.1", 80), nil, .drop, "policy")],
             qualifies: false),
        Case(name: "NOTRACK in raw is folded; a raw DROP needs no position",
             text: "*raw\n-A PREROUTING -p udp -m udp --dport 5060 -j CT --notrack\n-A PREROUTING -s 203.0.113.0/24 -j DROP\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
             statuses: { _ in [
                 "raw/PREROUTING#1": .xdp(.inlined(.notrack)),
                 "raw/PREROUTING#2": .kernel(.kernelOnly(table: "raw", builtins: ["PREROUTING"])),
             ] },
             decides: [(udp("10.0.0.1", 5060), nil, .drop, "policy"), (udp("10.0.0.1", 53), nil, .drop, "policy")]),
        Case(name: "an unconditional NOTRACK makes every state test a constant",
             text: "*raw\n-A PREROUTING -j NOTRACK\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                 + "-A INPUT -m state --state UNTRACKED -p udp -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
             statuses: { _ in [
                 "raw/PREROUTING#1": .xdp(.inlined(.notrack)),
                 "filter/INPUT#1": .neverMatches(.contradiction),
                 "filter/INPUT#2": .xdp(.keyed(.protocolPort, entries: 1)),
                 "filter/INPUT#3": .xdp(.keyed(.protocolPort, entries: 1)),
             ] },
             decides: [(tcp("10.0.0.1", 80), .established, .drop, "policy"), (udp("10.0.0.1", 53), .established, .accept, "filter/INPUT#2"),
                       (tcp("10.0.0.1", 22), .new, .accept, "filter/INPUT#3")]),
        Case(name: "a conditional NOTRACK splits the state tests after it",
             text: "*raw\n-A PREROUTING -p udp -m udp --dport 5060 -j NOTRACK\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                 + "-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT\nCOMMIT\n",
             statuses: { _ in [
                 "raw/PREROUTING#1": .xdp(.inlined(.notrack)),
                 "filter/INPUT#1": .xdp(.conntrackLookup(fallbackEntries: 2)),
             ] },
             decides: [(udp("10.0.0.1", 5060), .established, .accept, "filter/INPUT#2"),
                       (udp("10.0.0.1", 5060), .new, .accept, "filter/INPUT#2"),
                       (udp("10.0.0.1", 53), .established, .accept, "filter/INPUT#1"),
                       (tcp("10.0.0.1", 5060), .established, .accept, "filter/INPUT#1"),
                       (udp("10.0.0.1", 53), .new, .drop, "policy")]),
        Case(name: "CT with a zone is not folded: its packets pass",
             text: "*raw\n-A PREROUTING -p udp -m udp --dport 5060 -j CT --zone 1\nCOMMIT\n"
                 + "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n",
             statuses: { _ in ["raw/PREROUTING#1": .kernel(.beforeInput(table: "raw", chain: "PREROUTING", target: "CT"))] },
             decides: [(udp("10.0.0.1", 5060), .established, .kernel, "raw/PREROUTING#1"), (udp("10.0.0.1", 53), .new, .drop, "policy")],
             qualifies: false),
        Case(name: "any nat rule turns on the NAT check, and keeps XDP from deciding alone",
             text: "*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n*filter\n-A INPUT -p tcp -j DROP\n-A FORWARD -j DROP\nCOMMIT\n",
             statuses: { _ in [
                 "nat/POSTROUTING#1": .kernel(.kernelOnly(table: "nat", builtins: ["POSTROUTING"])),
                 "filter/FORWARD#1": .kernel(.kernelOnly(table: "filter", builtins: ["FORWARD"])),
                 "filter/INPUT#1": .xdp(.keyed(.protocolPort, entries: 1)),
             ] },
             decides: [(tcp("10.0.0.1", 80), nil, .drop, "filter/INPUT#1")],
             natCheck: true, qualifies: false),
        // Its limit's answer is unknown to the mirror: a TCP packet may match, and a CONTINUE
        // position that may match sends the packet up (it could not be counted exactly).
        Case(name: "a rule without target only counts: a CONTINUE position, counted with the packet's final one",
             text: "*filter\n-A INPUT -p tcp -m limit --limit 1/sec\n-A INPUT -j DROP\nCOMMIT\n",
             statuses: { ref in ["filter/INPUT#1": .xdp(.continues(.countsOnly, .fallback(entries: 1))),
                                 "filter/INPUT#2": .xdp(.keyed(.catchAll, entries: 1))] },
             decides: [(tcp("10.0.0.1", 80), nil, .kernel, "filter/INPUT#1"), (udp("10.0.0.1", 80), nil, .drop, "filter/INPUT#2")],
             qualifies: true),
        Case(name: "counting rules and MARK continue; the DROP after them decides",
             text: "*filter\n-A INPUT -p udp\n-A INPUT -p udp -j MARK --set-xmark 0x1/0xffffffff\n-A INPUT -p udp -j DROP\nCOMMIT\n",
             statuses: { ref in ["filter/INPUT#1": .xdp(.continues(.countsOnly, .fallback(entries: 1))),
                                 "filter/INPUT#2": .xdp(.continues(.mark("MARK"), .fallback(entries: 1))),
                                 "filter/INPUT#3": .xdp(.keyed(.protocolPort, entries: 1))] },
             decides: [(udp("10.0.0.1", 80), nil, .drop, "filter/INPUT#3"), (tcp("10.0.0.1", 80), nil, .accept, "policy")],
             qualifies: false),
        Case(name: "rules a KERNEL position takes whole never decide in XDP",
             text: "*filter\n-A INPUT -p tcp -j LOG\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\n-A INPUT -j DROP\nCOMMIT\n",
             statuses: { ref in [
                 "filter/INPUT#2": .kernel(.coveredBy(ref("filter/INPUT#1"))),
                 "filter/INPUT#3": .xdp(.keyed(.catchAll, entries: 1)),
             ] },
             decides: [(tcp("10.0.0.1", 22), nil, .kernel, "filter/INPUT#1"), (udp("10.0.0.1", 22), nil, .drop, "filter/INPUT#3")],
             qualifies: false),
    ] }

    func testEachKindOfRule() throws {
        for c in cases {
            let rs = try RestoreParser.parse(c.text, options: .init(file: "case.rules"))
            let sets = c.sets.isEmpty ? nil : try IpsetParser.parse(c.sets, file: "case.ipset")
            let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: c.options)
            let byName = Dictionary(uniqueKeysWithValues: r.report.rules.map { ("\($0.ref.table)/\($0.ref.chain)#\($0.ref.index)", $0) })
            func ref(_ name: String) -> RuleRef {
                guard let r = byName[name]?.ref else {
                    XCTFail("\(c.name): no rule \(name)")
                    return RuleRef(table: "", chain: "", index: 0, line: nil)
                }
                return r
            }
            for (name, expected) in c.statuses(ref) {
                XCTAssertEqual(byName[name]?.status, expected, "\(c.name): \(name)")
            }
            for (packet, state, verdict, by) in c.decides {
                let d = r.tables.decide(packet, conntrack: state)
                let decider = d.position.map { r.origins[Int($0)].rule }.map { "\($0.table)/\($0.chain)#\($0.index)" } ?? "policy"
                XCTAssertEqual(d.verdict, verdict, "\(c.name): \(packet)")
                XCTAssertEqual(decider, by, "\(c.name): \(packet)")
            }
            XCTAssertEqual(r.tables.natCheck, c.natCheck, c.name)
            XCTAssertEqual(r.qualifiesForXdpOnly, c.qualifies, "\(c.name): \(r.xdpOnlyBlockers.map(\.detail))")
            XCTAssertTrue(r.installable, c.name)
            // --xdp-only installs exactly what qualifies, and says so in the tables.
            var alone = c.options
            alone.xdpOnly = true
            let x = Compiler.compile(rs, sets: sets, interface: "eth0", options: alone)
            XCTAssertEqual(x.installable, c.qualifies, c.name)
            XCTAssertTrue(x.tables.xdpOnly)
            XCTAssertFalse(r.tables.xdpOnly)
        }
    }
}
