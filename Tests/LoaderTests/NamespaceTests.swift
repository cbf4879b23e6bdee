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

    /// Without ALL_DESTINATIONS only packets to this namespace's addresses are judged.
    func testLocalAddressesFilter() throws {
        let ns = try namespace("la")
        // No dummy driver in this kernel: a veth pair inside the namespace holds the address.
        try ns.ip("link add ebptl0 type veth peer name ebptl1")
        try ns.ip("addr add 198.18.3.1/24 dev ebptl0")
        try ns.ip("link set ebptl0 up")
        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            var t = CompiledTables()
            t.policy = .drop
            try dp.write(t, generation: 0)
            try dp.activate(generation: 0)
            XCTAssertGreaterThanOrEqual(try dp.fillLocalAddresses(), 2) // address + broadcast
            var p = TestPacket()
            p.src = 0xC633_6401
            for (dst, action, why) in [(0xC612_0301 as UInt32, XDPAction.drop, "local"),
                                       (0xC612_03FF, XDPAction.drop, "subnet broadcast"),
                                       (0xFFFF_FFFF, XDPAction.drop, "limited broadcast"),
                                       (0xE000_00FB, XDPAction.drop, "multicast"),
                                       (0xC612_0302, XDPAction.pass, "not local: FORWARD's")] {
                p.dst = dst
                XCTAssertEqual(try dp.testRun(packet: p.frame).action, action, why)
            }
            XCTAssertEqual(try dp.counters(generation: 0), [RuleCounter(packets: 4, bytes: 4 * 28)])
            try dp.setFlags(.allDestinations)
            p.dst = 0xC612_0302
            XCTAssertEqual(try dp.testRun(packet: p.frame).action, XDPAction.drop, "ALL_DESTINATIONS")
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
            let states: [ConntrackStates] = [.established, .related, .new, .invalid]
            for (pos, s) in states.enumerated() {
                var r = CompiledTables.FallbackRule(position: UInt32(pos))
                r.conntrack = Negatable(s)
                t.fallback.append(r)
            }
            try dp.write(t, generation: 0)
            try dp.activate(generation: 0)
            try dp.fillLocalAddresses()

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

/// A bound UDP socket in the calling thread's namespace.
final class UDPSocket {
    let fd: Int32

    init(address: UInt32, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
        var sa = UDPSocket.makeAddress(address, port)
        let r = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { close(fd); throw NSError(domain: "bind", code: Int(errno)) }
    }

    func send(to address: UInt32, port: UInt16) throws {
        var sa = UDPSocket.makeAddress(address, port)
        let payload: [UInt8] = [1, 2, 3, 4]
        let n = withUnsafePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard n == payload.count else { throw NSError(domain: "sendto", code: Int(errno)) }
    }

    static func makeAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = address.bigEndian
        return sa
    }

    deinit { close(fd) }
}
