import Foundation
import Loader
import TestSupport
import Verifier
import XCTest

/// --rttl with the real kernel as oracle (the pattern of kvmpbx's ICMPFLOOD, without its LOG
/// rule): a bare --set in the chain, then `--update --rttl ... -j DROP`. Sources whose TTL
/// changes from packet to packet get the same verdicts in iptables alone and with XDP in
/// front, XDP drops them itself, and XDP's list holds what the reference's holds (TTLs too).
final class RecentRTTLOracleTests: XCTestCase {
    static let rules = """
    *filter
    :INPUT ACCEPT [0:0]
    :FLOOD - [0:0]
    -A INPUT -p udp -m udp --dport 5060 -j FLOOD
    -A FLOOD -m recent --set --name F --mask 255.255.255.255 --rsource
    -A FLOOD -m recent --update --seconds 60 --hitcount 4 --rttl --name F --mask 255.255.255.255 --rsource -j DROP
    -A FLOOD -j ACCEPT
    COMMIT

    """

    func testRTTLSameVerdictsAndLists() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref")
        let two = try lab.addReceiver("two")
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: Self.rules).status, 0)
        let at = two.ours(["attach", lab.interface])
        XCTAssertEqual(at.status, 0, at.stderr)
        let rs = two.ours([], tool: "ebpf-iptables-restore", stdin: Self.rules)
        XCTAssertEqual(rs.status, 0, rs.stderr)

        let a: UInt32 = 0xC633_0301, b: UInt32 = 0xC633_0302
        // a alternates its TTL (a scanner behind two paths), b keeps one.
        let sequence: [(UInt32, UInt8)] = [(a, 50), (a, 51), (b, 60), (a, 50), (a, 52), (b, 60), (a, 50), (b, 60),
                                           (b, 61), (a, 53), (b, 60), (a, 50)]
        try ref.instrument(countingSources: [a, b])
        try two.instrument(countingSources: [a, b])
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        var refVerdicts: [Bool] = [], twoVerdicts: [Bool] = []
        for (i, (src, ttl)) in sequence.enumerated() {
            var p = Probe(source: src, destination: FirewallLab.address, proto: 17)
            p.sourcePort = UInt16(22000 + i)
            p.destinationPort = 5060
            p.ttl = ttl
            let v = try sender.deliveredByBoth(p.frame(sourceMAC: [0x02, 0, 0, 0, 0, 0x77], destinationMAC: FirewallLab.mac, ipID: UInt16(i + 1)), ref: ref, two: two)
            refVerdicts.append(v.ref)
            twoVerdicts.append(v.two)
        }
        XCTAssertEqual(refVerdicts, twoVerdicts, "verdicts per packet (true: delivered)")
        // a: packets 4.. of it drop (4 of 7), b: its 4th and 5th.
        XCTAssertEqual(refVerdicts.filter { !$0 }.count, 6, "\(refVerdicts)")
        XCTAssertEqual(try two.xdp().stats().dropped, 6, "every drop was XDP's")

        let refList = RecentOracleTests.parse(ref.run(["cat", "/proc/net/xt_recent/F"]).stdout)
        let out = two.ours(["recent", "F"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let xdpList = RecentOracleTests.parse(out.stdout)
        XCTAssertEqual(Set(refList.keys), Set(xdpList.keys))
        for (addr, e) in refList {
            XCTAssertEqual(xdpList[addr]?.ttl, e.ttl, addr)
            XCTAssertEqual(xdpList[addr]?.index, e.index, addr)
            XCTAssertEqual(xdpList[addr]?.stamps.count, e.stamps.count, addr)
        }
        print("rttl oracle: reference /proc/net/xt_recent/F:\n" + ref.run(["cat", "/proc/net/xt_recent/F"]).stdout
              + "ebpf-iptables recent F:\n" + out.stdout + "two-layer kernel copy:\n" + two.run(["cat", "/proc/net/xt_recent/F"]).stdout)
    }
}
