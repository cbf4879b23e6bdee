import Compiler
import Foundation
import Loader
import TestSupport
import XCTest

/// The drop path's route and NAT checks with real traffic over veth pairs between
/// namespaces this test creates: XDP attached on the firewall's outside interface, a
/// ruleset whose INPUT drops everything, and the kernel forwarding or NATing around it.
/// Traffic is bounded (a few dozen datagrams per phase, waits of at most two seconds).
final class DropPathTrafficTests: XCTestCase {
    static let packetsPerPhase = 50

    private func namespace(_ tag: String) throws -> NamedNamespace {
        try Privileged.skipUnlessPrivileged()
        for tool in ["ip", "iptables", "sysctl"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install iproute2 iptables procps)")
        }
        return try NamedNamespace("ebpt-\(tag)-\(getpid())")
    }

    /// gen (198.18.20.2) -- f0 [XDP] fw f1 (198.18.21.1) -- far (198.18.21.2).
    /// X = 198.18.22.1 is an address of fw (on lo); far holds it too, so that when fw routes
    /// X to far, far delivers it. fw's INPUT drops everything, FORWARD accepts.
    private struct Routed {
        let gen: NamedNamespace, fw: NamedNamespace, far: NamedNamespace
        static let x: UInt32 = 0xC612_1601

        init(_ t: DropPathTrafficTests, forwarding: Bool) throws {
            gen = try t.namespace("rg")
            fw = try t.namespace("rf")
            far = try t.namespace("rh")
            try gen.ip("link add g0 type veth peer name f0 netns \(fw.name)")
            try fw.ip("link add f1 type veth peer name h0 netns \(far.name)")
            try gen.ip("addr add 198.18.20.2/24 dev g0")
            try fw.ip("addr add 198.18.20.1/24 dev f0")
            try fw.ip("addr add 198.18.21.1/24 dev f1")
            try fw.ip("addr add 198.18.22.1/32 dev lo")
            try far.ip("addr add 198.18.21.2/24 dev h0")
            try far.ip("addr add 198.18.22.1/32 dev lo")
            for (ns, devs) in [(gen, ["lo", "g0"]), (fw, ["lo", "f0", "f1"]), (far, ["lo", "h0"])] {
                for d in devs { try ns.ip("link set \(d) up") }
            }
            try gen.ip("route add 198.18.22.0/24 via 198.18.20.1")
            try fw.exec("sysctl -qw net.ipv4.ip_forward=\(forwarding ? 1 : 0)")
            try fw.exec("sysctl -qw net.ipv4.conf.all.rp_filter=0")
            try fw.exec("sysctl -qw net.ipv4.conf.f0.rp_filter=0")
            try fw.exec("iptables -P INPUT DROP")
            try fw.exec("iptables -P FORWARD ACCEPT")
        }
    }

    /// The packets a chain's policy counter holds in `ns` (`iptables -L CHAIN -v -x`).
    static func policyPackets(_ ns: NamedNamespace, _ chain: String) -> UInt64? {
        let out = Run.run(["ip", "netns", "exec", ns.name, "iptables", "-L", chain, "-v", "-x", "-n"]).stdout
        guard let first = out.split(separator: "\n").first,
              let r = first.range(of: #"policy \w+ (\d+) packets"#, options: .regularExpression) else { return nil }
        return UInt64(first[r].split(separator: " ")[2])
    }

    /// Loads the data plane in `ns`, with `tables` live and attached to `interface`.
    static func attach(_ ns: NamedNamespace, _ interface: String, _ tables: CompiledTables) throws -> Dataplane {
        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            try dp.write(tables, generation: 0)
            try dp.activate(generation: 0)
            try dp.attach(interface: interface, mode: .native)
            return dp
        }
    }

    /// Waits (at most two seconds) until `done` holds; stats move in the receiving softirq.
    static func wait(_ done: () throws -> Bool) rethrows {
        for _ in 0..<200 {
            if try done() { return }
            usleep(10_000)
        }
    }

    struct Outcome {
        var arrived = 0
        var dropped: UInt64 = 0
        var routePassed: UInt64 = 0
        var natPassed: UInt64 = 0
        var policyCounter: UInt64 = 0
        var kernelInput: UInt64 = 0
        var kernelForward: UInt64 = 0
    }

    /// Sends `packetsPerPhase` datagrams from `sender` to `to:port` and counts what
    /// `receiver` got, what XDP did with them and what the kernel's chains counted.
    private func phase(_ name: String, dp: borrowing Dataplane, fw: NamedNamespace, sender: UDPSocket,
                       to address: UInt32, port: UInt16, receiver: UDPSocket, expectArrivals: Bool,
                       generation: UInt32 = 0) throws -> Outcome {
        let n = Self.packetsPerPhase
        let s0 = try dp.stats(), c0 = try dp.counters(generation: generation).last?.packets ?? 0
        let in0 = Self.policyPackets(fw, "INPUT") ?? 0, fwd0 = Self.policyPackets(fw, "FORWARD") ?? 0
        for _ in 0..<n { try sender.send(to: address, port: port) }
        var o = Outcome()
        o.arrived = receiver.receive(limit: n, quiet: expectArrivals ? 2 : 0.3).count
        try Self.wait {
            let s = try dp.stats()
            return (s.dropped + s.routePassed + s.natPassed) - (s0.dropped + s0.routePassed + s0.natPassed) >= UInt64(n)
        }
        let s1 = try dp.stats()
        o.dropped = s1.dropped - s0.dropped
        o.routePassed = s1.routePassed - s0.routePassed
        o.natPassed = s1.natPassed - s0.natPassed
        o.policyCounter = (try dp.counters(generation: generation).last?.packets ?? 0) - c0
        o.kernelInput = (Self.policyPackets(fw, "INPUT") ?? 0) - in0
        o.kernelForward = (Self.policyPackets(fw, "FORWARD") ?? 0) - fwd0
        print("\(name): sent \(n), arrived \(o.arrived); XDP dropped \(o.dropped) (policy counter +\(o.policyCounter)), "
            + "passed by the route check \(o.routePassed), by the NAT check \(o.natPassed); "
            + "kernel INPUT policy +\(o.kernelInput), FORWARD policy +\(o.kernelForward)")
        return o
    }

    /// (a) Forwarding on: packets to X are XDP's to drop while X is this host's address;
    /// once X is removed and routed to another namespace they pass (and arrive there);
    /// with X back, they are dropped again. The route is read at each packet.
    func testRouteCheckFollowsAddresses() throws {
        let topo = try Routed(self, forwarding: true)
        var t = CompiledTables()
        t.policy = .drop
        let dp = try Self.attach(topo.fw, "f0", t)
        let sender = try Privileged.inNamespace(topo.gen.name) { try UDPSocket(address: 0xC612_1402, port: 40000) }
        let receiver = try Privileged.inNamespace(topo.far.name) { try UDPSocket(address: Routed.x, port: 9000) }
        let n = UInt64(Self.packetsPerPhase)

        let local = try phase("route check, X local", dp: dp, fw: topo.fw, sender: sender, to: Routed.x, port: 9000,
                              receiver: receiver, expectArrivals: false)
        XCTAssertEqual([UInt64(local.arrived), local.dropped, local.policyCounter, local.routePassed, local.kernelInput], [0, n, n, 0, 0])

        try topo.fw.ip("addr del 198.18.22.1/32 dev lo")
        try topo.fw.ip("route add 198.18.22.1/32 via 198.18.21.2")
        let routed = try phase("route check, X routed to far", dp: dp, fw: topo.fw, sender: sender, to: Routed.x, port: 9000,
                               receiver: receiver, expectArrivals: true)
        XCTAssertEqual([UInt64(routed.arrived), routed.dropped, routed.policyCounter, routed.routePassed, routed.kernelInput],
                       [n, 0, 0, n, 0])
        XCTAssertEqual(routed.kernelForward, n, "the kernel forwarded them")

        try topo.fw.ip("route del 198.18.22.1/32")
        try topo.fw.ip("addr add 198.18.22.1/32 dev lo")
        let back = try phase("route check, X local again", dp: dp, fw: topo.fw, sender: sender, to: Routed.x, port: 9000,
                             receiver: receiver, expectArrivals: false)
        XCTAssertEqual([UInt64(back.arrived), back.dropped, back.policyCounter, back.routePassed, back.kernelInput], [0, n, n, 0, 0])
        try Privileged.inNamespace(topo.fw.name) { try Dataplane.detach(interface: "f0") }
    }

    /// (b) Forwarding off: the lookup answers FWD_DISABLED before looking, and packets to a
    /// local address are still XDP's to drop.
    func testRouteCheckWithForwardingOff() throws {
        let topo = try Routed(self, forwarding: false)
        var t = CompiledTables()
        t.policy = .drop
        let dp = try Self.attach(topo.fw, "f0", t)
        let sender = try Privileged.inNamespace(topo.gen.name) { try UDPSocket(address: 0xC612_1402, port: 40000) }
        let receiver = try Privileged.inNamespace(topo.far.name) { try UDPSocket(address: Routed.x, port: 9000) }
        let n = UInt64(Self.packetsPerPhase)
        let local = try phase("route check, forwarding off, X local", dp: dp, fw: topo.fw, sender: sender, to: Routed.x,
                              port: 9000, receiver: receiver, expectArrivals: false)
        XCTAssertEqual([UInt64(local.arrived), local.dropped, local.policyCounter, local.routePassed, local.kernelInput], [0, n, n, 0, 0])
        // Also to fw's address on the ingress device itself.
        let own = try phase("route check, forwarding off, f0's address", dp: dp, fw: topo.fw, sender: sender, to: 0xC612_1401,
                            port: 9000, receiver: receiver, expectArrivals: false)
        XCTAssertEqual([own.dropped, own.policyCounter, own.routePassed, own.kernelInput], [n, n, 0, 0])
        try Privileged.inNamespace(topo.fw.name) { try Dataplane.detach(interface: "f0") }
    }

    /// (c) inside (198.18.30.2) -- fw [MASQUERADE out of f0; XDP on f0] -- outside
    /// (198.18.31.2). INPUT drops everything. The replies of the masqueraded flow come to
    /// fw's own address, are judged DROP, and pass by the NAT check (the kernel de-NATs and
    /// forwards them inside); a datagram from another port to the same address and port
    /// has no connection and is dropped by XDP.
    func testNATCheckPassesMasqueradedReplies() throws {
        let inside = try namespace("ni"), fw = try namespace("nf"), outside = try namespace("no")
        try inside.ip("link add i0 type veth peer name f2 netns \(fw.name)")
        try fw.ip("link add f0 type veth peer name o0 netns \(outside.name)")
        try inside.ip("addr add 198.18.30.2/24 dev i0")
        try fw.ip("addr add 198.18.30.1/24 dev f2")
        try fw.ip("addr add 198.18.31.1/24 dev f0")
        try outside.ip("addr add 198.18.31.2/24 dev o0")
        for (ns, devs) in [(inside, ["lo", "i0"]), (fw, ["lo", "f0", "f2"]), (outside, ["lo", "o0"])] {
            for d in devs { try ns.ip("link set \(d) up") }
        }
        try inside.ip("route add default via 198.18.30.1")
        try fw.exec("sysctl -qw net.ipv4.ip_forward=1")
        try fw.exec("iptables -t nat -A POSTROUTING -o f0 -j MASQUERADE")
        try fw.exec("iptables -P INPUT DROP")
        try fw.exec("iptables -P FORWARD ACCEPT")

        var t = CompiledTables()
        t.policy = .drop
        t.natCheck = true
        let dp = try Self.attach(fw, "f0", t)
        let client = try Privileged.inNamespace(inside.name) { try UDPSocket(address: 0xC612_1E02, port: 40000) }
        let (server, stranger) = try Privileged.inNamespace(outside.name) {
            (try UDPSocket(address: 0xC612_1F02, port: 5000), try UDPSocket(address: 0xC612_1F02, port: 5001))
        }
        try client.send(to: 0xC612_1F02, port: 5000)
        let first = server.receive(limit: 1, quiet: 2)
        XCTAssertEqual(first.first?.address, 0xC612_1F01, "the flow leaves masqueraded as fw's f0 address")
        let masq = try XCTUnwrap(first.first)
        let n = UInt64(Self.packetsPerPhase)

        let replies = try phase("nat check, replies of the masqueraded flow", dp: dp, fw: fw, sender: server,
                                to: masq.address, port: masq.port, receiver: client, expectArrivals: true)
        XCTAssertEqual([UInt64(replies.arrived), replies.natPassed, replies.dropped, replies.policyCounter, replies.kernelInput],
                       [n, n, 0, 0, 0])
        let unrelated = try phase("nat check, another source port to the same address and port", dp: dp, fw: fw,
                                  sender: stranger, to: masq.address, port: masq.port, receiver: client, expectArrivals: false)
        XCTAssertEqual([UInt64(unrelated.arrived), unrelated.natPassed, unrelated.dropped, unrelated.policyCounter,
                        unrelated.kernelInput], [0, 0, n, n, 0])
        // The control: the same ruleset without the NAT check (written to the idle
        // generation and activated under traffic's feet) drops the replies.
        t.natCheck = false
        try dp.write(t, generation: 1)
        try dp.activate(generation: 1)
        let unchecked = try phase("nat check off (control), replies of the masqueraded flow", dp: dp, fw: fw, sender: server,
                                  to: masq.address, port: masq.port, receiver: client, expectArrivals: false, generation: 1)
        XCTAssertEqual([UInt64(unchecked.arrived), unchecked.natPassed, unchecked.dropped, unchecked.policyCounter], [0, 0, n, n])
        try Privileged.inNamespace(fw.name) { try Dataplane.detach(interface: "f0") }
    }
}
