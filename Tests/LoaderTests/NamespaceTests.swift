import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// Tests that need a network namespace of their own: local addresses, XDP attach, and
/// conntrack states from the kernel's real connection table.
final class NamespaceTests: XCTestCase {
    private func namespace(_ tag: String) throws -> NamedNamespace {
        try Privileged.skipUnlessPrivileged()
        guard Run.has("ip") else { throw XCTSkip("'ip' is not installed (apt-get install iproute2)") }
        return try NamedNamespace("ebpt-\(tag)-\(getpid())")
    }

    /// The route check of the drop path, one test run per destination arriving on a veth:
    /// with forwarding off on that device every drop stands (the kernel delivers local
    /// destinations and drops the rest); with it on, only destinations the kernel would not
    /// forward are dropped (local, broadcast, no route, blackhole/unreachable/prohibit).
    /// Multicast always passes. Accepted packets never reach the check.
    func testRouteCheckAnswers() throws {
        let ns = try namespace("rt")
        try ns.ip("link set lo up")
        try ns.ip("link add ebptr0 type veth peer name ebptr1")
        try ns.ip("link add ebptr2 type veth peer name ebptr3")
        try ns.ip("addr add 198.18.3.1/24 dev ebptr0")
        try ns.ip("addr add 198.18.5.1/24 dev ebptr2")
        for dev in ["ebptr0", "ebptr1", "ebptr2", "ebptr3"] { try ns.ip("link set \(dev) up") }
        try ns.ip("route add 198.18.6.0/24 via 198.18.5.2")
        try ns.ip("route add blackhole 198.18.7.0/24")
        try ns.ip("route add unreachable 198.18.8.0/24")
        try ns.ip("route add prohibit 198.18.9.0/24")
        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            var t = CompiledTables()
            t.verdicts = [.accept]
            t.protoPort[.init(proto: 17, port: 53)] = 0
            t.policy = .drop
            try dp.write(t, generation: 0)
            try dp.activate(generation: 0)
            var p = TestPacket()
            (p.src, p.sport, p.dport) = (0xC612_0302, 4000, 9)

            func check(_ dst: UInt32, _ want: UInt32, _ why: String, dport: UInt16 = 9) throws {
                p.dst = dst
                p.dport = dport
                let before = try dp.stats(), counted = try dp.counters(generation: 0)[1].packets
                XCTAssertEqual(try dp.testRun(packet: p.frame, ingress: "ebptr0").action, want, why)
                let after = try dp.stats()
                let judgedDrop = dport != 53
                XCTAssertEqual(after.dropped - before.dropped, want == XDPAction.drop ? 1 : 0, "stats dropped: \(why)")
                XCTAssertEqual(after.routePassed - before.routePassed, judgedDrop && want == XDPAction.pass ? 1 : 0, "stats route: \(why)")
                XCTAssertEqual(after.passed - before.passed, judgedDrop ? 0 : 1, "stats passed: \(why)")
                XCTAssertEqual(try dp.counters(generation: 0)[1].packets - counted, want == XDPAction.drop ? 1 : 0, "policy counter: \(why)")
            }
            let drop = XDPAction.drop, pass = XDPAction.pass
            try ns.exec("sysctl -qw net.ipv4.ip_forward=0")
            for (dst, want, why) in [(0xC612_0301 as UInt32, drop, "off: local"), (0xC612_03FF, drop, "off: subnet broadcast"),
                                     (0xC612_0501, drop, "off: another interface's address"),
                                     (0xC612_0605, drop, "off: routed elsewhere (the kernel drops it)"),
                                     (0xFFFF_FFFF, drop, "off: limited broadcast"), (0xE000_00FB, pass, "off: multicast")] {
                try check(dst, want, why)
            }
            try ns.exec("sysctl -qw net.ipv4.ip_forward=1")
            for (dst, want, why) in [(0xC612_0301 as UInt32, drop, "on: local"), (0xC612_03FF, drop, "on: subnet broadcast"),
                                     (0xC612_0501, drop, "on: another interface's address"),
                                     (0xC612_0605, pass, "on: routed via 198.18.5.2"), (0xC612_0502, pass, "on: connected on ebptr2"),
                                     (0xC612_0705, drop, "on: blackhole"), (0xC612_0805, drop, "on: unreachable"),
                                     (0xC612_0905, drop, "on: prohibit"), (0xCB00_7101, drop, "on: no route at all"),
                                     (0xFFFF_FFFF, drop, "on: limited broadcast"), (0xE000_00FB, pass, "on: multicast")] {
                try check(dst, want, why)
            }
            try check(0xC612_0605, pass, "on: accepted, no route check", dport: 53)
            // Forwarding off on the ingress device alone is what counts.
            try ns.exec("sysctl -qw net.ipv4.conf.ebptr0.forwarding=0")
            try check(0xC612_0605, drop, "on elsewhere, off on ebptr0: routed")
            try ns.exec("sysctl -qw net.ipv4.conf.ebptr0.forwarding=1")
            try dp.setFlags(.allDestinations)
            try check(0xC612_0605, drop, "ALL_DESTINATIONS: no route check")
        }
    }

    /// Attach in native and generic mode, query, refuse a second attach, detach.
    func testAttachDetach() throws {
        let ns = try namespace("xdp")
        try ns.ip("link add ebpta type veth peer name ebptb")
        try ns.ip("link set ebpta up")
        try ns.ip("link set ebptb up")
        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            for mode in [XDPMode.native, .generic] {
                XCTAssertNil(try Dataplane.attached(interface: "ebpta"))
                try dp.attach(interface: "ebpta", mode: mode)
                XCTAssertEqual(try Dataplane.attached(interface: "ebpta"), XDPAttachment(programID: dp.programID, mode: mode))
                do {
                    try dp.attach(interface: "ebpta", mode: mode)
                    XCTFail("second attach succeeded")
                } catch {
                    XCTAssertEqual("\(error)", "attach xdp to ebpta: device or resource busy (EBUSY)")
                }
                try Dataplane.detach(interface: "ebpta")
                XCTAssertNil(try Dataplane.attached(interface: "ebpta"))
            }
            do {
                try dp.attach(interface: "nosuch0")
                XCTFail("attached to a missing interface")
            } catch {
                XCTAssertEqual("\(error)", "attach xdp to nosuch0: no such device (ENODEV)")
            }
        }
    }

    /// NEW, ESTABLISHED, RELATED and INVALID from the kernel's conntrack table, for a real
    /// UDP flow between two local addresses in a namespace where conntrack is active.
    func testConntrackStates() throws {
        let ns = try namespace("ct")
        guard Run.has("iptables") else { throw XCTSkip("'iptables' is not installed") }
        try ns.ip("link set lo up")
        try ns.ip("link add ebptc0 type veth peer name ebptc1")
        try ns.ip("addr add 198.18.4.1/24 dev ebptc0")
        try ns.ip("addr add 198.18.4.2/24 dev ebptc0")
        try ns.ip("link set ebptc0 up")
        // Conntrack only runs in a namespace where something uses it.
        try ns.exec("iptables -A INPUT -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID")

        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            var t = CompiledTables()
            t.verdicts = [.accept, .accept, .drop, .drop]
            t.policy = .accept
            t.needsConntrack = true
            t.xdpOnly = true // count the ACCEPT positions too: the counters tell the state
            let states: [ConntrackStates] = [.established, .related, .new, .invalid]
            for (pos, s) in states.enumerated() {
                var r = CompiledTables.FallbackRule(position: UInt32(pos))
                r.conntrack = Negatable(s)
                t.fallback.append(r)
            }
            try dp.write(t, generation: 0)
            try dp.activate(generation: 0)
            try dp.setFlags(.allDestinations)

            /// Which state the program saw: the position whose counter moved.
            func state(_ p: TestPacket) throws -> String {
                let before = try dp.counters(generation: 0)
                _ = try dp.testRun(packet: p.frame)
                let after = try dp.counters(generation: 0)
                let names = ["ESTABLISHED", "RELATED", "NEW", "INVALID", "none"]
                return (0..<after.count).first { after[$0].packets != before[$0].packets }.map { names[$0] } ?? "?"
            }
            let a: UInt32 = 0xC612_0401, b: UInt32 = 0xC612_0402
            var fwd = TestPacket()
            (fwd.src, fwd.sport, fwd.dst, fwd.dport) = (a, 40000, b, 5000)
            var rev = TestPacket()
            (rev.src, rev.sport, rev.dst, rev.dport) = (b, 5000, a, 40000)
            var other = fwd
            other.sport = 40001

            XCTAssertEqual(try state(fwd), "NEW", "no conntrack entry yet")
            let sa = try UDPSocket(address: a, port: 40000)
            let sb = try UDPSocket(address: b, port: 5000)
            try sa.send(to: b, port: 5000)
            XCTAssertEqual(try state(fwd), "NEW", "entry exists, no reply seen")
            XCTAssertEqual(try state(rev), "ESTABLISHED", "reply direction")
            XCTAssertEqual(try state(other), "NEW", "another flow")

            // An ICMP error quoting our flow is RELATED; quoting an unknown one, INVALID.
            var icmp = TestPacket()
            (icmp.proto, icmp.src, icmp.dst) = (1, b, a)
            icmp.l4Override = [3, 3, 0, 0, 0, 0, 0, 0] + fwd.ipPacket
            XCTAssertEqual(try state(icmp), "RELATED")
            icmp.l4Override = [3, 3, 0, 0, 0, 0, 0, 0] + other.ipPacket
            XCTAssertEqual(try state(icmp), "INVALID")

            try sb.send(to: a, port: 40000)
            XCTAssertEqual(try state(fwd), "ESTABLISHED", "reply seen")

            // TCP without a connection: conntrack starts tracking only from a SYN or a
            // mid-stream ACK (PSH/ECE/CWR ignored); any other combination is INVALID.
            var tcp = TestPacket()
            (tcp.proto, tcp.src, tcp.sport, tcp.dst, tcp.dport) = (6, a, 41000, b, 22)
            let expected: [(UInt8, String)] = [
                (0x02, "NEW"), (0x22, "NEW"), (0x10, "NEW"), (0x18, "NEW"), (0x30, "NEW"), (0x42, "NEW"), (0x82, "NEW"),
                (0x12, "INVALID"), (0x04, "INVALID"), (0x14, "INVALID"), (0x11, "INVALID"), (0x01, "INVALID"),
                (0x00, "INVALID"), (0x03, "INVALID"), (0x06, "INVALID"), (0x08, "INVALID"), (0x29, "INVALID"),
            ]
            for (flags, want) in expected {
                tcp.tcpFlags = flags
                XCTAssertEqual(try state(tcp), want, "tcp flags 0x\(String(flags, radix: 16)) without a connection")
            }
        }
    }
}
