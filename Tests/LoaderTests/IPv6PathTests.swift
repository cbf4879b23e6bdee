import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// The IPv6 path of the program (bpf/ipv6.h) through BPF_PROG_TEST_RUN: the extension-header
/// walk, what is never judged (NDP, non-first fragments, truncated or unusual headers), and
/// first-match over compiled entries and set tries. The route check is off
/// (EIPT_LIVE_ALL_DESTINATIONS): frames arrive on loopback.
final class IPv6PathTests: XCTestCase {
    private static let rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set banned6 src -j DROP
        -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
        -A INPUT -p udp -m udp --dport 5060 -m set --match-set peers6 src -j ACCEPT
        -A INPUT -p tcp -m multiport --dports 5061,8443 -m set --match-set tls6 src,dst -j ACCEPT
        -A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -j ACCEPT
        -A INPUT -p tcp -m tcp --dport 22 -j DROP
        -A INPUT -p 59 -j ACCEPT
        COMMIT

        """
    private static let sets = """
        create peers6 hash:net family inet6
        add peers6 2001:db8:100::/48
        add peers6 2001:db8:100:5::/64 nomatch
        create banned6 hash:ip family inet6
        add banned6 2001:db8:100::66
        create tls6 hash:ip,port family inet6
        add tls6 2001:db8:200::10,tcp:5061

        """

    private static func compiled() throws -> CompileResult6 {
        try Privileged.skipUnlessPrivileged()
        let ruleset = try RestoreParser.parse(rules, options: .init(family: .ipv6))
        let script = try IpsetParser.parse(sets, file: "sets")
        return Compiler6.compile(ruleset, sets: script, interface: "veth0")
    }

    private static func loaded(_ result: CompileResult6? = nil) throws -> Dataplane {
        let result = try result ?? compiled()
        let dp = try Dataplane.load()
        try dp.write6(result.tables, generation: 0)
        try dp.activate6(generation: 0)
        try dp.setLive6Flags(set: EIPT_LIVE_ALL_DESTINATIONS_VALUE, clear: 0)
        return dp
    }

    private func udp(_ src: String, dport: UInt16 = 5060, ext: [IPv6Frame.Ext] = []) -> IPv6Frame {
        var f = IPv6Frame(src: src, dst: "2001:db8:ff::1", proto: 17)
        f.dport = dport
        f.ext = ext
        return f
    }

    private func action(_ dp: borrowing Dataplane, _ f: IPv6Frame) throws -> UInt32 {
        try dp.testRun(packet: f.frame).action
    }

    func testFirstMatchOverEntriesAndSets() throws {
        let result = try Self.compiled()
        let dp = try Self.loaded(result)
        XCTAssertEqual(result.exactPositions, 7)
        XCTAssertEqual(try action(dp, udp("2001:db8:100::1")), XDPAction.pass, "whitelisted /48")
        XCTAssertEqual(try action(dp, udp("2001:db8:100:5::1")), XDPAction.drop, "nomatch /64 inside the /48")
        XCTAssertEqual(try action(dp, udp("2001:db8:100::66")), XDPAction.drop, "banned before the whitelist")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1")), XDPAction.drop, "policy")
        var tls = IPv6Frame(src: "2001:db8:200::10", dst: "2001:db8:ff::1", proto: 6)
        tls.dport = 5061
        XCTAssertEqual(try action(dp, tls), XDPAction.pass, "hash:ip,port member")
        tls.dport = 8443
        XCTAssertEqual(try action(dp, tls), XDPAction.drop, "port not in the member")
        var ssh = IPv6Frame(src: "2001:db8:1:2::3", dst: "2001:db8:ff::1", proto: 6)
        ssh.dport = 22
        XCTAssertEqual(try action(dp, ssh), XDPAction.pass, "management prefix")
        ssh.src = IPv6Frame.address("2001:db8:2::3")
        XCTAssertEqual(try action(dp, ssh), XDPAction.drop)
        var echo = IPv6Frame(src: "2001:db8:9::1", dst: "2001:db8:ff::1", proto: 58)
        XCTAssertEqual(try action(dp, echo), XDPAction.pass, "echo request accepted")
        echo.icmpType = 129
        XCTAssertEqual(try action(dp, echo), XDPAction.drop, "echo reply: policy")
        XCTAssertEqual(try action(dp, IPv6Frame(src: "2001:db8:9::1", dst: "2001:db8:ff::1", proto: 59)), XDPAction.pass, "-p 59")
        // XDP counts what it dropped, at the deciding position (the policy last).
        let counts = try dp.counters6(generation: 0)
        XCTAssertEqual(counts.count, Int(result.tables.positions) + 1)
        XCTAssertEqual(counts[0].packets, 1, "the banned source, at the set rule")
        XCTAssertEqual(counts[5].packets, 1, "ssh from outside, at -p tcp --dport 22 -j DROP")
        XCTAssertEqual(counts.last?.packets, 4, "nomatch, policy, tls 8443, echo reply")
        XCTAssertEqual(counts.last?.bytes, 0 + [udp("2001:db8:100:5::1"), udp("2001:db8:9::1")].map { UInt64($0.frame.count - 14) }.reduce(0, +)
                       + UInt64(tls.frame.count - 14) + UInt64(echo.frame.count - 14))
    }

    /// A set looked up by address whose every member is a /128 lives in the hash (one exact
    /// lookup); one member shorter than /128, and the whole set stays in the trie (longest
    /// prefix, nomatch). Either way the verdicts are the kernel's ipset's.
    func testHostSetsUseTheHash() throws {
        try Privileged.skipUnlessPrivileged()
        let rules = """
            *filter
            :INPUT DROP [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -m set --match-set hosts6 src -j ACCEPT
            -A INPUT -m set --match-set mixed6 src -j ACCEPT
            -A INPUT -p udp -m set ! --match-set netnm6 src -j DROP
            -A INPUT -m set --match-set empty6 src -j ACCEPT
            -A INPUT -p udp -j ACCEPT
            COMMIT

            """
        let sets = """
            create hosts6 hash:ip family inet6
            add hosts6 2001:db8:a::1
            add hosts6 2001:db8:a::2
            create mixed6 hash:ip family inet6 netmask 64
            add mixed6 2001:db8:b::
            create netnm6 hash:net family inet6
            add netnm6 2001:db8:c::5
            add netnm6 2001:db8:c::6 nomatch
            add netnm6 2001:db8:a::1
            create empty6 hash:ip family inet6

            """
        let ruleset = try RestoreParser.parse(rules, options: .init(family: .ipv6))
        let result = Compiler6.compile(ruleset, sets: try IpsetParser.parse(sets, file: "sets"), interface: "veth0")
        let dp = try Self.loaded(result)
        let keys = try dp.setKeys6(generation: 0)
        XCTAssertEqual(keys.hosts, 5, "hosts6 and netnm6 (only /128s, a nomatch one among them) in the hash")
        XCTAssertEqual(keys.prefixes, 1, "mixed6 (netmask 64) in the trie")
        XCTAssertEqual(try action(dp, udp("2001:db8:a::1")), XDPAction.pass, "hosts6 member")
        XCTAssertEqual(try action(dp, udp("2001:db8:b::77")), XDPAction.pass, "mixed6: the /64")
        XCTAssertEqual(try action(dp, udp("2001:db8:c::5")), XDPAction.pass, "netnm6 member: not dropped, accepted by -p udp")
        XCTAssertEqual(try action(dp, udp("2001:db8:c::6")), XDPAction.drop, "netnm6 nomatch member: not in the set")
        XCTAssertEqual(try action(dp, udp("2001:db8:a::3")), XDPAction.drop, "in no set")
        var tcp = IPv6Frame(src: "2001:db8:a::2", dst: "2001:db8:ff::1", proto: 6)
        tcp.dport = 80
        XCTAssertEqual(try action(dp, tcp), XDPAction.pass, "hosts6 member over TCP")
        tcp.src = IPv6Frame.address("2001:db8:c::5")
        XCTAssertEqual(try action(dp, tcp), XDPAction.drop, "TCP, in no accepting set: policy")
    }

    func testHopLimit() throws {
        try Privileged.skipUnlessPrivileged()
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 1 -m hl --hl-eq 5 -j DROP
            -A INPUT -p udp -m udp --dport 2 -m hl ! --hl-eq 5 -j DROP
            -A INPUT -p udp -m udp --dport 3 -m hl --hl-lt 5 -j DROP
            -A INPUT -p udp -m udp --dport 4 -m hl --hl-gt 5 -j DROP
            COMMIT

            """
        let result = Compiler6.compile(try RestoreParser.parse(rules, options: .init(family: .ipv6)),
                                       sets: try IpsetParser.parse("", file: "sets"), interface: "veth0")
        XCTAssertEqual(result.exactPositions, 4)
        let dp = try Self.loaded(result)
        // ip6t_hl.c: ==, !=, <, > against the header's hop limit.
        let expected: [UInt16: (UInt8) -> Bool] = [1: { $0 == 5 }, 2: { $0 != 5 }, 3: { $0 < 5 }, 4: { $0 > 5 }]
        for (port, drops) in expected {
            for hl: UInt8 in [0, 1, 4, 5, 6, 255] {
                var f = udp("2001:db8:9::1", dport: port)
                f.hopLimit = hl
                XCTAssertEqual(try action(dp, f), drops(hl) ? XDPAction.drop : XDPAction.pass, "dport \(port), hop limit \(hl)")
            }
        }
    }

    func testNDPIsNeverJudged() throws {
        let dp = try Self.loaded()
        for t: UInt8 in 133...137 {
            var ndp = IPv6Frame(src: "fe80::1", dst: "ff02::1:ff00:1", proto: 58)
            ndp.icmpType = t
            ndp.hopLimit = 255
            XCTAssertEqual(try action(dp, ndp), XDPAction.pass, "ICMPv6 \(t) under a DROP policy")
            ndp.dst = IPv6Frame.address("2001:db8:ff::1")
            XCTAssertEqual(try action(dp, ndp), XDPAction.pass, "ICMPv6 \(t) to a unicast address")
        }
        XCTAssertEqual(try dp.stats6()[4], 10, "EIPT6_STAT_NDP_PASSED")
    }

    func testExtensionHeaderWalk() throws {
        let dp = try Self.loaded()
        let pad = [UInt8](repeating: 0, count: 6)
        let padN: [UInt8] = [1, 4, 0, 0, 0, 0]
        // Walked to the transport header: judged by the UDP port behind them.
        for ext: [IPv6Frame.Ext] in [[.hopByHop(options: pad)], [.hopByHop(options: padN), .destination(extraUnits: 1)],
                                     [.routing, .destination(extraUnits: 0)], [.fragment(offset: 0, more: false, id: 7)],
                                     [.destination(extraUnits: 0), .routing, .fragment(offset: 0, more: true, id: 8), .destination(extraUnits: 2)]] {
            XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: ext)), XDPAction.drop, "\(ext): policy")
            XCTAssertEqual(try action(dp, udp("2001:db8:100::1", ext: ext)), XDPAction.pass, "\(ext): whitelisted")
        }
        // Eight headers are walked; a ninth passes unjudged.
        let eight = [IPv6Frame.Ext](repeating: .destination(extraUnits: 0), count: 8)
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: eight)), XDPAction.drop, "eight headers")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: eight + [.routing])), XDPAction.pass, "nine headers")
        // Never judged: an AH header, a hop-by-hop option the kernel acts on (router alert),
        // hop-by-hop not first, non-first fragments.
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.auth])), XDPAction.pass, "AH")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.hopByHop(options: [5, 2, 0, 0, 1, 0])])), XDPAction.pass, "router alert")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.destination(extraUnits: 0), .hopByHop(options: pad)])), XDPAction.pass, "HBH second")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.fragment(offset: 1, more: true, id: 9)])), XDPAction.pass, "middle fragment")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.fragment(offset: 100, more: false, id: 9)])), XDPAction.pass, "last fragment")
    }

    func testTruncatedHeadersPass() throws {
        let dp = try Self.loaded()
        // A first fragment carrying only half of the UDP header.
        var f = udp("2001:db8:9::1", ext: [.fragment(offset: 0, more: true, id: 10)])
        f.truncateTransport = 4
        XCTAssertEqual(try action(dp, f), XDPAction.pass, "first fragment without its whole UDP header")
        f.ext = []
        XCTAssertEqual(try action(dp, f), XDPAction.pass, "UDP header cut short")
        var tcp = IPv6Frame(src: "2001:db8:2::3", dst: "2001:db8:ff::1", proto: 6)
        tcp.dport = 22
        tcp.truncateTransport = 19
        XCTAssertEqual(try action(dp, tcp), XDPAction.pass, "19 bytes of TCP header")
        // An extension header cut by the payload length: the frame ends inside it.
        var cut = udp("2001:db8:9::1", ext: [.destination(extraUnits: 1)])
        cut.truncateTransport = 0
        var bytes = cut.frame
        bytes.removeLast(12)
        bytes[18] = 0; bytes[19] = UInt8(bytes.count - 54)
        XCTAssertEqual(try dp.testRun(packet: bytes).action, XDPAction.pass, "destination options cut short")
        // A payload length beyond the frame.
        var long = udp("2001:db8:9::1").frame
        long[19] = long[19] &+ 40
        XCTAssertEqual(try dp.testRun(packet: long).action, XDPAction.pass, "payload length beyond the frame")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1")), XDPAction.drop, "the same, whole")
    }

    func testConntrackState() throws {
        try Privileged.skipUnlessPrivileged()
        let ruleset = try RestoreParser.parse("""
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -p tcp -m conntrack --ctstate INVALID -j DROP
            -A INPUT -p tcp -m tcp --dport 80 -m state --state NEW -j DROP
            -A INPUT -p ipv6-icmp -m state --state NEW -j DROP
            -A INPUT -p udp -m state --state NEW -j DROP
            COMMIT

            """, options: .init(family: .ipv6))
        let result = Compiler6.compile(ruleset, sets: nil, interface: "veth0")
        XCTAssertTrue(result.tables.needsConntrack)
        let dp = try Dataplane.load()
        try dp.write6(result.tables, generation: 0)
        try dp.activate6(generation: 0)
        try dp.setLive6Flags(set: EIPT_LIVE_ALL_DESTINATIONS_VALUE, clear: 0)
        var syn = IPv6Frame(src: "2001:db8:9::1", dst: "2001:db8:ff::1", proto: 6)
        syn.dport = 80
        XCTAssertEqual(try action(dp, syn), XDPAction.drop, "a SYN without an entry: NEW")
        syn.dport = 81
        XCTAssertEqual(try action(dp, syn), XDPAction.pass)
        syn.tcpFlags = 0x01
        XCTAssertEqual(try action(dp, syn), XDPAction.drop, "a lone FIN without an entry: INVALID")
        XCTAssertEqual(try dp.counters6(generation: 0)[0].packets, 1)
        let echo = IPv6Frame(src: "2001:db8:9::1", dst: "2001:db8:ff::1", proto: 58)
        XCTAssertEqual(try action(dp, echo), XDPAction.pass, "ICMPv6: the state is the kernel's to tell")
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1")), XDPAction.drop, "UDP without an entry: NEW")
        // A first fragment goes up: with conntrack loaded the kernel reassembles first.
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1", ext: [.fragment(offset: 0, more: true, id: 3)])), XDPAction.pass)
    }

    func testTransitionAndGenerations() throws {
        let dp = try Self.loaded()
        var open = CompiledTables6()
        open.policy = .accept
        try dp.write6(open, generation: 1)
        XCTAssertThrowsError(try dp.write6(open, generation: 0)) {
            XCTAssertEqual("\($0)", "write IPv6 generation 0: it is live; write the other generation and activate it")
        }
        try dp.beginTransition6()
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1")), XDPAction.pass, "only generation 0 drops it")
        try dp.activate6(generation: 1)
        XCTAssertEqual(try dp.liveGeneration6().generation, 1)
        XCTAssertEqual(try action(dp, udp("2001:db8:9::1")), XDPAction.pass, "generation 1 accepts")
    }
}

private let EIPT_LIVE_ALL_DESTINATIONS_VALUE: UInt32 = 1 << 0
