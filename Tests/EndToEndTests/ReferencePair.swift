import Foundation
import TestSupport
import XCTest

/// The reference namespace and ours, the same sets and rules restored in both, and a frame
/// sender at the far end of each veth.
final class ReferencePair {
    struct Flow {
        var count: Int
        var source: UInt32
        var proto: UInt8
        var port: UInt16
        var payload: Int
        var tcpFlags: UInt8 = 0x02
    }

    /// 198.18.c.d
    static func ip(_ c: UInt32, _ d: UInt32) -> UInt32 { 0xC612_0000 | c << 8 | d }

    /// The listings compared, as (ours, reference) argv.
    static let listings: [([String], [String])] = {
        var out: [([String], [String])] = []
        for args in [["-L", "-v", "-n", "-x"], ["-L", "-v", "-n"], ["-L", "-v"], ["-L", "INPUT", "-v", "-n", "-x", "--line-numbers"],
                     ["-L", "sip", "-v", "-n", "-x"], ["-L", "INPUT", "3", "-v", "-n", "-x"], ["-L", "sip", "3", "-v", "-n"],
                     ["-S", "-v"], ["-S", "INPUT", "-v"], ["-S", "INPUT", "4", "-v"], ["-S", "sip", "-v"]] {
            out.append((["ebpf-iptables"] + args, ["iptables"] + args))
        }
        out.append((["ebpf-iptables-save", "-c"], ["iptables-save", "-c"]))
        out.append((["ebpf-iptables-save", "-c", "-t", "filter"], ["iptables-save", "-c", "-t", "filter"]))
        return out
    }()

    let ref: FirewallUnderTest
    let fw: FirewallUnderTest
    let senders: [(FirewallUnderTest, FrameSender)]
    var rounds = 0
    var compared = 0, agreed = 0

    init(_ name: String, sets: String, rules: String) throws {
        ref = try FirewallUnderTest(prefix: name + "-ref", attach: false, addresses: true)
        fw = try FirewallUnderTest(prefix: name, addresses: true)
        for (r, what) in [(ref.kernel(["ipset", "restore"], stdin: sets), "ipset restore"),
                          (ref.kernel(["iptables-restore"], stdin: rules), "iptables-restore"),
                          (fw.ours("ebpf-ipset", ["restore"], stdin: sets), "ebpf-ipset restore"),
                          (fw.ours("ebpf-iptables-restore", [], stdin: rules), "ebpf-iptables-restore")] {
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stderr, "", what)
        }
        senders = [(ref, try FrameSender(namespace: ref.peer.name, interface: "gen0")),
                   (fw, try FrameSender(namespace: fw.peer.name, interface: "gen0"))]
    }

    /// INPUT 1 of every ruleset here counts the marker frame that ends a round.
    func marker(_ side: FirewallUnderTest) -> UInt64 { KernelCounters.read(namespace: side.ns.name).rules["INPUT"]?.first ?? 0 }

    /// Sends `flows` and a marker into both namespaces; returns once both took them in.
    func send(_ flows: [Flow]) throws {
        rounds += 1
        let before = senders.map { marker($0.0) }
        for (side, sender) in senders {
            let mac = side.mac
            var id: UInt16 = 0
            for f in flows + [Flow(count: 1, source: ReferencePair.ip(10, 1), proto: 17, port: 9999, payload: 8)] {
                for k in 0..<f.count {
                    let source = f.source & 0xff == 0 ? f.source | UInt32(k % 200 + 1) : f.source
                    var p = Probe(source: source, destination: 0xC612_0002, proto: f.proto)
                    p.destinationPort = f.port
                    // A fresh source port per round (new conntrack entries), cycling within 20000-64999 so
                    // a long test cannot overflow it.
                    p.sourcePort = UInt16(20000 + (rounds * 1000 + k) % 45000)
                    p.payload = f.payload
                    p.tcpFlags = f.tcpFlags
                    id &+= 1
                    try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: mac, ipID: id))
                }
            }
        }
        // Frames of one sender are taken in order: once the marker is counted, all were.
        for ((side, _), was) in zip(senders, before) {
            var seen: UInt64 = 0
            for _ in 0..<500 {
                seen = marker(side)
                if seen > was { break }
                usleep(10_000)
            }
            XCTAssertEqual(seen, was + 1, "the marker frame of round \(rounds) never reached \(side.ns.name)'s INPUT")
        }
    }

    /// Every listing of `listings` on both sides: the same stdout (without iptables-save's
    /// date comments), stderr and status; each difference fails the test with both texts.
    func compareListings(_ when: String) {
        for (oursArgv, refArgv) in Self.listings {
            let r = ref.kernel(refArgv), o = fw.ours(oursArgv[0], Array(oursArgv.dropFirst()))
            let strip = refArgv[0] == "iptables-save" ? FirewallUnderTest.withoutComments : { $0 }
            compared += 1
            if r.status == o.status && strip(r.stdout) == strip(o.stdout) && r.stderr == o.stderr {
                agreed += 1
            } else {
                XCTFail("\(when): \(refArgv.joined(separator: " ")) differs\n--- reference\n\(strip(r.stdout))\(r.stderr)--- ours\n\(strip(o.stdout))\(o.stderr)")
            }
        }
    }

    /// The same ipset command on both sides, with the same answer.
    func bothIpset(_ args: [String]) {
        let r = ref.kernel(["ipset"] + args), o = fw.ours("ebpf-ipset", args)
        XCTAssertEqual(o.status, r.status, "\(args): \(o.stderr)")
        XCTAssertEqual(o.stdout + o.stderr, r.stdout + r.stderr, "\(args)")
    }

    /// The same iptables command on both sides, with the same answer.
    func both(_ args: [String]) {
        let r = ref.kernel(["iptables"] + args), o = fw.ours("ebpf-iptables", args)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
        XCTAssertEqual(o.status, r.status, "\(args): \(o.stderr)")
        XCTAssertEqual(o.stdout + o.stderr, r.stdout + r.stderr, "\(args)")
    }
}
