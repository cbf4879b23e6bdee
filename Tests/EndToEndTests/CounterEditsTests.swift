import Foundation
import TestSupport
import XCTest

/// Counters kept exactly across every kind of edit, with traffic: the same ruleset in a
/// reference namespace (the kernel's iptables alone) and in ours (XDP attached: a set DROP,
/// a source DROP, the DROP behind a jump and the policy are decided in XDP, the rest passed
/// up), the same frames, then each edit kind on both sides, and after it (and after more
/// traffic) every listing of ReferencePair.listings (`-L -v` in its forms, `-S -v`,
/// `save -c`) equal byte for byte. Only iptables-save's date comments are left out.
///
/// The edits: -I of a rule equal to one XDP counted (the new one starts at 0, the old keeps
/// its count), -D by spec of the first of two equal rules, -D by number, -R with the same
/// text (iptables-nft starts the replaced rule again), -A/-I with -c, -E of the chain XDP
/// drops in (and back), -N/-F/-X of another chain, -P (the policy's counts start again),
/// a set edit that recompiles XDP, `restore --noflush`, -Z of a rule, `-L -Z`, `save -c`
/// into `restore -c`, and a full restore without -c.
final class CounterEditsTests: XCTestCase {
    typealias Flow = ReferencePair.Flow
    static func ip(_ c: UInt32, _ d: UInt32) -> UInt32 { ReferencePair.ip(c, d) }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping counter edits: \(why)")
            throw XCTSkip(why)
        }
        guard Run.has("python3") else { throw XCTSkip("python3 is not installed (FrameSender's sender)") }
    }

    static let sets = """
        create bl hash:ip family inet hashsize 1024 maxelem 65536
        add bl 198.18.12.1
        add bl 198.18.12.2
        create wl hash:ip family inet hashsize 1024 maxelem 65536
        add wl 198.18.3.1

        """

    /// INPUT 1 is ReferencePair's marker (no edit moves it). Which layer decides what is in
    /// `round`'s comments.
    static let rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :other - [0:0]
        :sip - [0:0]
        -A INPUT -p udp -m udp --dport 9999 -j ACCEPT
        -A INPUT -m set --match-set bl src -j DROP
        -A INPUT -s 198.18.1.0/24 -j DROP
        -A INPUT -p udp -m udp --dport 5060 -j sip
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
        -A INPUT -p udp -m udp --dport 514 -j LOG --log-prefix "syslog "
        -A INPUT -p udp -m udp --dport 514 -j DROP
        -A other -j ACCEPT
        -A sip -m set --match-set wl src -j ACCEPT
        -A sip -s 198.18.4.0/24 -j RETURN
        -A sip -j DROP
        COMMIT

        """

    static let round: [Flow] = [
        Flow(count: 12, source: ip(12, 1), proto: 17, port: 7, payload: 100),       // XDP: set DROP
        Flow(count: 30, source: ip(1, 0), proto: 17, port: 5060, payload: 1200),   // XDP: source DROP
        Flow(count: 20, source: ip(3, 1), proto: 17, port: 5060, payload: 300),    // kernel: set member accepted in sip
        Flow(count: 25, source: ip(5, 0), proto: 17, port: 5060, payload: 1400),   // XDP: DROP behind the jump
        Flow(count: 10, source: ip(8, 0), proto: 6, port: 22, payload: 0),         // kernel: ACCEPT
        Flow(count: 5, source: ip(9, 0), proto: 17, port: 514, payload: 80),       // kernel: LOG then DROP
        Flow(count: 15, source: ip(6, 0), proto: 17, port: 7777, payload: 600),    // XDP: the policy
    ]

    func testCountersAreKeptAcrossEveryEditAsIptablesKeepsThem() throws {
        let start = ContinuousClock.now
        let pair = try ReferencePair("ebpt-cedit", sets: Self.sets, rules: Self.rules)
        var steps: [(String, Int, Int)] = []
        func step(_ name: String, _ edit: () -> Void) throws {
            let (c0, a0) = (pair.compared, pair.agreed)
            edit()
            pair.compareListings("after \(name)")
            try pair.send(Self.round)
            pair.compareListings("after \(name) and traffic")
            steps.append((name, pair.agreed - a0, pair.compared - c0))
        }
        func restoreBoth(_ args: [String], ref refText: String, ours oursText: String) {
            let r = pair.ref.kernel(["iptables-restore"] + args, stdin: refText)
            let o = pair.fw.ours("ebpf-iptables-restore", args, stdin: oursText)
            XCTAssertEqual(r.status, 0, "iptables-restore \(args): \(r.stderr)")
            XCTAssertEqual(o.status, r.status, "ebpf-iptables-restore \(args): \(o.stderr)")
            XCTAssertEqual(o.stdout + o.stderr, r.stdout + r.stderr, "restore \(args)")
        }

        try pair.send(Self.round)
        pair.compareListings("after round 1")
        let dropped = CounterRenderingTests.xdpDrops(pair.fw.ours("ebpf-iptables", ["status"]).stdout)
        XCTAssertGreaterThanOrEqual(dropped, 12 + 30 + 25 + 15, "XDP dropped its share of round 1")

        // An equal rule in front of the one XDP counted: the kernel's counts follow the rules.
        try step("-I INPUT 3 of an equal rule") { pair.both(["-I", "INPUT", "3", "-s", "198.18.1.0/24", "-j", "DROP"]) }
        try step("-D by spec of the first of two equal rules") { pair.both(["-D", "INPUT", "-s", "198.18.1.0/24", "-j", "DROP"]) }
        try step("-I INPUT 2 -c") { pair.both(["-I", "INPUT", "2", "-s", "198.18.13.0/24", "-c", "7", "700", "-j", "DROP"]) }
        try step("-D INPUT 2") { pair.both(["-D", "INPUT", "2"]) }
        try step("-R with the same text") { pair.both(["-R", "INPUT", "3", "-s", "198.18.1.0/24", "-j", "DROP"]) }
        try step("-R with -c") { pair.both(["-R", "INPUT", "2", "-m", "set", "--match-set", "bl", "src", "-c", "5", "500", "-j", "DROP"]) }
        try step("-A -c") { pair.both(["-A", "INPUT", "-s", "198.18.14.0/24", "--set-counters", "9", "900", "-j", "DROP"]) }
        try step("-E of the chain XDP drops in") { pair.both(["-E", "sip", "voip"]) }
        try step("-E back") { pair.both(["-E", "voip", "sip"]) }
        try step("-N, -F and -X of another chain") {
            pair.both(["-N", "spare"])
            pair.both(["-F", "other"])
            pair.both(["-X", "other"])
            pair.both(["-X", "spare"])
        }
        try step("-P INPUT DROP") { pair.both(["-P", "INPUT", "DROP"]) }
        try step("-F FORWARD") { pair.both(["-F", "FORWARD"]) }
        try step("a set edit that recompiles") {
            pair.bothIpset(["add", "bl", "198.18.7.0/30"])
            pair.bothIpset(["del", "wl", "198.18.3.1"])
            pair.bothIpset(["add", "wl", "198.18.3.1"])
        }
        try step("restore --noflush") {
            let text = "*filter\n-A INPUT -s 198.18.15.0/24 -j DROP\n-A sip -s 198.18.16.0/24 -j DROP\nCOMMIT\n"
            restoreBoth(["--noflush"], ref: text, ours: text)
        }
        try step("-Z INPUT 3") { pair.both(["-Z", "INPUT", "3"]) }
        try step("-L -Z") { pair.both(["-L", "INPUT", "-Z", "-v", "-x", "-n", "--line-numbers"]) }
        try step("-Z sip -v") { pair.both(["-Z", "sip", "-v"]) }
        // Listing one rule with -Z zeroes the whole chain, policy included (iptables 1.8.9).
        try step("-L INPUT 3 -Z") { pair.both(["-L", "INPUT", "3", "-Z", "-v", "-x", "-n"]) }
        try step("-S sip -v -Z") { pair.both(["-S", "sip", "-v", "-Z"]) }
        try step("save -c into restore -c") {
            let refText = pair.ref.kernel(["iptables-save", "-c"]).stdout
            let oursText = pair.fw.ours("ebpf-iptables-save", ["-c"]).stdout
            XCTAssertEqual(FirewallUnderTest.withoutComments(oursText), FirewallUnderTest.withoutComments(refText), "save -c before restore -c")
            restoreBoth(["-c"], ref: refText, ours: oursText)
        }
        try step("restore --noflush -c") {
            let text = "*filter\n:INPUT DROP [40:4000]\n[3:300] -A INPUT -s 198.18.17.0/24 -j DROP\nCOMMIT\n"
            restoreBoth(["--noflush", "-c"], ref: text, ours: text)
        }
        try step("a full restore without -c") { restoreBoth([], ref: Self.rules, ours: Self.rules) }
        try step("-Z") { pair.both(["-Z"]) }

        XCTAssertEqual(pair.fw.events, "", "events logged while both layers changed")
        for (name, agreed, compared) in steps {
            print("counter edits: \(name): \(agreed)/\(compared) listings agreed")
        }
        print("counter edits: \(pair.agreed)/\(pair.compared) listings agreed with the reference over \(steps.count) edit kinds and "
              + "\(pair.rounds) rounds of traffic (\(dropped) frames of round 1 dropped in XDP); \(ContinuousClock.now - start)")
    }
}
