import Compiler
import IptParse
import XCTest

/// `CompiledTables.decide` against hand-built tables: the rules of `eipt_judge` and
/// `eipt_fallback_step` in bpf/ebpf_iptables.bpf.c, one per case.
final class DecideTests: XCTestCase {
    typealias P = CompiledTables.Prefix
    typealias FB = CompiledTables.FallbackRule

    let host: UInt32 = 0x0A01_0203 // 10.1.2.3
    func tcp(_ dport: UInt16?, flags: UInt8? = 0x02, source: UInt32? = nil) -> PacketFacts {
        PacketFacts(source: source ?? host, destination: 0xC612_0001, proto: 6,
                    ports: dport.map { .init(source: 40000, destination: $0) }, tcpFlags: flags)
    }

    func tables(_ verdicts: [CompiledTables.Verdict], policy: CompiledTables.Verdict = .accept) -> CompiledTables {
        var t = CompiledTables()
        t.verdicts = verdicts
        t.policy = policy
        return t
    }

    func testLowestPositionWinsAcrossTables() {
        var t = tables([.accept, .drop, .kernel, .drop, .accept, .drop])
        t.catchAll = 5
        t.protoPort[.init(proto: 6, port: 22)] = 4
        t.protoPort[.init(proto: 6, port: nil)] = 3
        t.source[P(address: 0x0A00_0000, length: 8)] = 2
        var fb = FB(position: 1)
        fb.destinationPorts = Negatable(20...25)
        t.fallback = [fb]
        XCTAssertEqual(t.decide(tcp(22)), .init(position: 1, verdict: .drop))
        XCTAssertEqual(t.decide(tcp(80)), .init(position: 2, verdict: .kernel))
        XCTAssertEqual(t.decide(tcp(80, source: 0xC000_0201)), .init(position: 3, verdict: .drop))
        let gre = PacketFacts(source: 0xC000_0201, destination: 1, proto: 47)
        XCTAssertEqual(t.decide(gre), .init(position: 5, verdict: .drop))
        t.catchAll = nil
        XCTAssertEqual(t.decide(gre), .init(position: nil, verdict: .accept), "nothing matched: the policy")
    }

    func testLongestStoredPrefixAnswersEvenWhenItIsAHole() {
        var t = tables([.drop])
        t.source[P(address: 0x0A00_0000, length: 8)] = 0
        t.source[P(address: 0x0A01_0200, length: 24)] = UInt32.max
        XCTAssertEqual(t.decide(tcp(80)).position, nil, "10.1.2.0/24 is an exception inside 10/8")
        XCTAssertEqual(t.decide(tcp(80, source: 0x0A09_0909)).position, 0)
        t.sourceProtoPort[.init(source: P(address: 0x0A00_0000, length: 8), protoPort: .init(proto: 6, port: 22))] = 0
        XCTAssertEqual(t.decide(tcp(22)).position, 0, "the source/protocol/port table answers on its own")
        XCTAssertEqual(t.decide(tcp(nil)).position, nil, "no ports: the exact-port lookup is not made")
    }

    func testFallbackStopsAtTheBestPositionAndKeepsItsOrder() {
        var t = tables([.drop, .accept, .drop])
        t.protoPort[.init(proto: 6, port: nil)] = 1
        var late = FB(position: 2)
        late.proto = Negatable(6)
        var early = FB(position: 0)
        early.proto = Negatable(6)
        early.destinationPorts = Negatable(22...22)
        t.fallback = [late, early] // written in any order; the program reads them sorted
        XCTAssertEqual(t.decide(tcp(22)).position, 0)
        XCTAssertEqual(t.decide(tcp(80)).position, 1, "the fallback entry at 2 is beyond the keyed answer")
    }

    func testHeaderTestsFailWithoutTheirHeaderEvenNegated() {
        var t = tables([.drop, .drop])
        var notPort = FB(position: 0)
        notPort.destinationPorts = Negatable(22...22, negated: true)
        var notFlags = FB(position: 1)
        notFlags.tcpFlags = Negatable(TCPFlags.syn, negated: true)
        t.fallback = [notPort, notFlags]
        XCTAssertEqual(t.decide(tcp(80)).position, 0)
        XCTAssertEqual(t.decide(tcp(nil, flags: 0x10)).position, 1, "no ports: ! --dport fails")
        XCTAssertEqual(t.decide(tcp(nil, flags: nil)).position, nil, "no flags either: ! --syn fails too")
    }

    func testConntrackTestsUseTheGivenStateOrTheProgramsGuess() {
        var t = tables([.accept, .drop])
        var established = FB(position: 0)
        established.conntrack = Negatable([.established, .related])
        var invalid = FB(position: 1)
        invalid.conntrack = Negatable(.invalid)
        t.fallback = [established, invalid]
        XCTAssertEqual(t.decide(tcp(80), conntrack: .established).position, 0)
        XCTAssertEqual(t.decide(tcp(80, flags: 0x02)).position, nil, "a SYN without entry is NEW")
        XCTAssertEqual(t.decide(tcp(80, flags: 0x12)).position, 1, "a SYN-ACK without entry is INVALID")
        XCTAssertEqual(t.decide(tcp(80, flags: 0x18)).position, nil, "ACK|PSH can open a connection (loose tracking)")
        let echoReply = PacketFacts(source: host, destination: 1, proto: 1, icmp: .init(type: 0, code: 0))
        XCTAssertEqual(t.decide(echoReply), .init(position: 0, verdict: .kernel),
                       "a reply the program cannot look up: the first state test may match, the kernel decides")
        let gre = PacketFacts(source: host, destination: 1, proto: 47)
        XCTAssertEqual(t.decide(gre), .init(position: 0, verdict: .kernel), "GRE's state is the kernel's to tell")
    }

    func testFragmentLengthAndTTL() {
        var t = tables([.drop, .drop, .drop])
        var frag = FB(position: 0)
        frag.fragment = true
        var long = FB(position: 1)
        long.length = Negatable(0...100, negated: true)
        var ttl = FB(position: 2)
        ttl.ttl = TTLMatch(op: .ne, value: 64)
        t.fallback = [frag, long, ttl]
        var p = tcp(80)
        p.totalLength = 60
        XCTAssertEqual(t.decide(p).position, nil)
        p.ttl = 1
        XCTAssertEqual(t.decide(p).position, 2)
        p.totalLength = 1500
        XCTAssertEqual(t.decide(p).position, 1)
        p.nonFirstFragment = true
        XCTAssertEqual(t.decide(p).position, 0)
    }
}
