import Foundation
import TestSupport
import XCTest

/// `-L -v`, `-S -v` and `save -c` after traffic, through both layers: the same frames go into
/// a reference namespace (the kernel's iptables alone) and into ours (XDP attached in front
/// of the same ruleset: some frames dropped by XDP — by a source rule, behind a jump, at the
/// policy — the rest passed up and decided by the kernel: ACCEPT, REJECT, LOG, iprange,
/// limit, a set). Every listing of ours must print what the reference prints, byte for
/// byte, in rounds: after the first traffic, after `-Z INPUT N` and an `-I` that rewrites
/// XDP's generation (counters must survive it), after more traffic, after `-Z CHAIN`, and
/// after `-Z` of everything and more traffic. Where the two layers cannot agree yet, the
/// difference is pinned to the packets that cause it (testKnownCounterDivergencesAfterXDPDrops).
final class CounterRenderingTests: XCTestCase {
    typealias Flow = ReferencePair.Flow
    static func ip(_ c: UInt32, _ d: UInt32) -> UInt32 { ReferencePair.ip(c, d) }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping counter renderings: \(why)")
            throw XCTSkip(why)
        }
        guard Run.has("python3") else { throw XCTSkip("python3 is not installed (FrameSender's sender)") }
    }

    static let sets = """
        create wl hash:ip family inet hashsize 1024 maxelem 65536
        add wl 198.18.3.1
        add wl 198.18.3.2

        """

    /// Rule 1 (the marker) says when a round of frames has been taken in; the comments say
    /// which layer decides what.
    static let rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :sip - [0:0]
        -A INPUT -p udp -m udp --dport 9999 -j ACCEPT
        -A INPUT -m conntrack --ctstate INVALID -j DROP
        -A INPUT -s 198.18.1.0/24 -j DROP
        -A INPUT -p udp -m udp --dport 5060 -j sip
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
        -A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset
        -A INPUT -p udp -m udp --dport 7000 -m iprange --src-range 198.18.2.1-198.18.2.9 -j DROP
        -A INPUT -p udp -m udp --dport 514 -j LOG --log-prefix "syslog "
        -A INPUT -p udp -m udp --dport 514 -j DROP
        -A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
        -A INPUT -p udp -m udp --dport 53 -m limit --limit 100/sec --limit-burst 50 -j ACCEPT
        -A sip -m set --match-set wl src -j ACCEPT
        -A sip -s 198.18.4.0/24 -j RETURN
        -A sip -j DROP
        COMMIT

        """

    /// One round of traffic; no two frames share a flow (source ports differ, and sources
    /// given as a /24 vary their last byte). Every source but the veth peer's has no route
    /// back, so nothing the kernel sends in reply reaches the wire or OUTPUT's counters.
    static let round: [Flow] = [
        Flow(count: 30, source: ip(1, 0), proto: 17, port: 5060, payload: 1200),   // XDP: source rule
        Flow(count: 20, source: ip(3, 1), proto: 17, port: 5060, payload: 300),    // kernel: set member accepted
        Flow(count: 80, source: ip(5, 0), proto: 17, port: 5060, payload: 1400),   // XDP: DROP behind the jump
        Flow(count: 10, source: ip(8, 0), proto: 6, port: 22, payload: 0),         // kernel: ACCEPT
        Flow(count: 5, source: ip(8, 0), proto: 6, port: 25, payload: 0),          // kernel: REJECT
        Flow(count: 5, source: ip(2, 5), proto: 17, port: 7000, payload: 50),      // kernel: iprange
        Flow(count: 5, source: ip(9, 0), proto: 17, port: 514, payload: 80),       // kernel: LOG then DROP
        Flow(count: 5, source: ip(8, 0), proto: 1, port: 0, payload: 56),          // kernel: echo request
        Flow(count: 5, source: ip(8, 0), proto: 17, port: 53, payload: 40),        // kernel: limit
        Flow(count: 20, source: ip(6, 0), proto: 17, port: 7777, payload: 600),    // XDP: the policy
    ]

    func testListingsAfterTrafficMatchTheKernelAlone() throws {
        let start = ContinuousClock.now
        let pair = try ReferencePair("ebpt-cnt", sets: Self.sets, rules: Self.rules)
        let (ref, fw) = (pair.ref, pair.fw)

        try pair.send(Self.round)
        // Both layers took part: XDP dropped frames whose rules the kernel in our namespace
        // never saw (the source rule, INPUT 3), and the kernel there decided the rest.
        let alone = KernelCounters.read(namespace: fw.ns.name), reference = KernelCounters.read(namespace: ref.ns.name)
        XCTAssertEqual(reference.rules["INPUT"]?[2], 30, "the reference's source rule")
        XCTAssertEqual(alone.rules["INPUT"]?[2], 0, "XDP decides the source rule in our namespace")
        XCTAssertEqual(alone.rules["INPUT"]?[4], reference.rules["INPUT"]?[4], "the kernel decides tcp/22 in both")
        let dropped = Self.xdpDrops(fw.ours("ebpf-iptables", ["status"]).stdout)
        XCTAssertGreaterThan(dropped, 0, "XDP dropped nothing")
        pair.compareListings("after round 1")

        // -Z of one rule, then an -I that rewrites XDP's generation: counters carry over.
        pair.both(["-Z", "INPUT", "3"])
        pair.both(["-I", "INPUT", "4", "-s", "198.18.7.0/24", "-j", "DROP"])
        pair.compareListings("after -Z INPUT 3 and -I INPUT 4")
        try pair.send(Self.round + [Flow(count: 7, source: Self.ip(7, 0), proto: 17, port: 5060, payload: 20)])
        pair.compareListings("after round 2")

        // -Z of the user chain (INPUT's jump to it keeps its count), then of everything.
        pair.both(["-Z", "sip"])
        pair.compareListings("after -Z sip")
        pair.both(["-Z"])
        try pair.send(Array(Self.round.prefix(4)))
        pair.compareListings("after -Z and round 3")
        XCTAssertEqual(fw.events, "", "events logged while both layers changed")
        print("counter renderings: \(pair.agreed)/\(pair.compared) listings agreed with the reference after traffic "
              + "(\(dropped) frames of round 1 dropped in XDP); \(ContinuousClock.now - start)")
    }

    /// A prefix added to or deleted from a hash:ip set is one element per address; the kernel
    /// stops at the first it cannot take and keeps the ones before, failing the command. XDP
    /// must follow what the kernel kept: here a blacklist loses three members and a whitelist
    /// gains two, both by commands that fail, and the frames from those addresses must be
    /// decided (and counted) as the reference decides them.
    func testPartlyAppliedPrefixEditsKeepXDPInStep() throws {
        let sets = """
            create bl hash:ip family inet hashsize 1024 maxelem 65536
            add bl 198.18.7.0
            add bl 198.18.7.1
            add bl 198.18.7.2
            create wl hash:ip family inet hashsize 1024 maxelem 65536
            add wl 198.18.8.2

            """
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --dport 9999 -j ACCEPT
            -A INPUT -m set --match-set bl src -j DROP
            -A INPUT -p udp -m udp --dport 5060 -m set --match-set wl src -j ACCEPT
            -A INPUT -p udp -m udp --dport 5060 -j DROP
            COMMIT

            """
        let pair = try ReferencePair("ebpt-cntp", sets: sets, rules: rules)
        pair.bothIpset(["del", "bl", "198.18.7.0/30"])   // deletes .0-.2, fails at .3
        pair.bothIpset(["add", "wl", "198.18.8.0/30"])   // adds .0 and .1, fails at .2
        try pair.send([Flow(count: 6, source: Self.ip(7, 1), proto: 17, port: 7, payload: 10),
                       Flow(count: 6, source: Self.ip(8, 1), proto: 17, port: 5060, payload: 10),
                       Flow(count: 6, source: Self.ip(8, 3), proto: 17, port: 5060, payload: 10)])
        pair.compareListings("after partly applied prefix edits")
        XCTAssertEqual(pair.fw.events, "")
        print("counter renderings, partly applied prefix edits: \(pair.agreed)/\(pair.compared) listings agreed")
    }

    /// KNOWN DIVERGENCES (the compiler's, reported to the integrator). A packet XDP drops is
    /// counted on the rule that dropped it, and on the jumps that led into its chain, but
    /// - not on a jump and a RETURN it came back from (a RETURN, or the end of the chain)
    ///   before the dropping rule: XDP's positions know the jumps that lead into a chain
    ///   (`via`), not the ones a packet returned from;
    /// - not on anything before filter INPUT (raw, mangle and nat PREROUTING, mangle INPUT):
    ///   their ACCEPT, DROP, RETURN, jump and counting rules hold no XDP position, and their
    ///   chains' policy counters never see the packet.
    /// The deciding rule's counters agree; this test pins the differences to exactly those
    /// packets, and fails once they are counted (then compare these listings whole, as above).
    func testKnownCounterDivergencesAfterXDPDrops() throws {
        let rules = """
            *filter
            :INPUT DROP [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :sip - [0:0]
            :wl - [0:0]
            -A INPUT -p udp -m udp --dport 9999 -j ACCEPT
            -A INPUT -p udp -m udp --dport 5060 -j sip
            -A INPUT -p udp -m udp --dport 5061 -j wl
            -A sip -s 198.18.4.0/24 -j RETURN
            -A sip -j DROP
            -A wl -s 198.18.3.1/32 -j ACCEPT
            COMMIT
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p udp -m udp --dport 5061
            COMMIT

            """
        let pair = try ReferencePair("ebpt-cntr", sets: "", rules: rules)
        try pair.send([Flow(count: 10, source: Self.ip(4, 0), proto: 17, port: 5060, payload: 100),   // RETURN, then the policy
                       Flow(count: 5, source: Self.ip(6, 0), proto: 17, port: 5061, payload: 100)])   // end of wl, then the policy
        let oursSave = pair.fw.ours("ebpf-iptables-save", ["-c"]).stdout
        let ours = KernelCounters.parse(oursSave), ref = KernelCounters.parse(pair.ref.kernel(["iptables-save", "-c"]).stdout)
        XCTAssertEqual(ref.policies["INPUT"], 15)
        XCTAssertEqual(ours.policies["INPUT"], ref.policies["INPUT"], "the deciding counter, INPUT's policy")
        XCTAssertEqual(Self.xdpDrops(pair.fw.ours("ebpf-iptables", ["status"]).stdout), 15, "XDP dropped them all")
        XCTAssertEqual(ref.rules["INPUT"], [1, 10, 5])
        XCTAssertEqual(ref.rules["sip"], [10, 0])
        XCTAssertEqual(ours.rules["INPUT"], [1, 0, 0], "fixed? the jumps now count what XDP drops after a return: compare whole listings\n\(oursSave)")
        XCTAssertEqual(ours.rules["sip"], [0, 0], "fixed? the RETURN now counts what XDP drops after it: compare whole listings\n\(oursSave)")
        // raw PREROUTING: the reference counts all 16 frames (the marker too) at its policy and
        // the 5 to udp/5061 on the counting rule; ours only the marker.
        let refRaw = Self.rawPrerouting(pair.ref.kernel(["iptables-save", "-c", "-t", "raw"]).stdout)
        let oursRaw = Self.rawPrerouting(pair.fw.ours("ebpf-iptables-save", ["-c", "-t", "raw"]).stdout)
        XCTAssertEqual(refRaw.policy, 16)
        XCTAssertEqual(refRaw.rule, 5)
        XCTAssertEqual(oursRaw.policy, 1, "fixed? raw PREROUTING's policy now counts what XDP drops")
        XCTAssertEqual(oursRaw.rule, 0, "fixed? raw PREROUTING's rules now count what XDP drops")
        print("counter renderings, known divergences: the 15 packets XDP dropped after a return are missing from the jumps "
              + "(reference INPUT \(ref.rules["INPUT"] ?? []), ours \(ours.rules["INPUT"] ?? [])) and from raw PREROUTING "
              + "(reference policy \(refRaw.policy)/rule \(refRaw.rule), ours \(oursRaw.policy)/\(oursRaw.rule))")
    }

    /// Packets on raw PREROUTING's policy and on its first rule, from `iptables-save -c -t raw`.
    static func rawPrerouting(_ save: String) -> (policy: UInt64, rule: UInt64) {
        func packets(_ l: Substring) -> UInt64 {
            guard let open = l.firstIndex(of: "["), let colon = l[open...].firstIndex(of: ":") else { return UInt64.max }
            return UInt64(l[l.index(after: open)..<colon]) ?? UInt64.max
        }
        let lines = save.split(separator: "\n")
        let policy = lines.first { $0.hasPrefix(":PREROUTING ") }.map(packets) ?? UInt64.max
        let rule = lines.first { $0.hasPrefix("[") && $0.contains("] -A PREROUTING ") }.map(packets) ?? UInt64.max
        return (policy, rule)
    }

    /// "packets: N dropped in XDP, ..." from `status`.
    static func xdpDrops(_ status: String) -> Int {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("packets: ") }) else { return -1 }
        return Int(line.dropFirst("packets: ".count).prefix { $0.isNumber }) ?? -1
    }
}
