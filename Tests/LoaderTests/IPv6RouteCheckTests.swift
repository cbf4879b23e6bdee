import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// The IPv6 drop path's route check (bpf/ipv6.h, eipt6_ingress_forwards then bpf_fib_lookup),
/// one test run per destination arriving on a veth of a namespace of its own. The kernel
/// forwards IPv6 only when net.ipv6.conf.all.forwarding is on (ip6_forward), so with it off
/// every judged drop stands without a lookup; with it on, only what the routing would not
/// forward is dropped; with it on but the ingress device's own `forwarding` off,
/// bpf_fib_lookup cannot answer (FWD_DISABLED) and the drop passes.
final class IPv6RouteCheckTests: XCTestCase {
    func testRouteCheckFollowsForwarding() throws {
        try Privileged.skipUnlessPrivileged()
        guard Run.has("ip") else { throw XCTSkip("'ip' is not installed (apt-get install iproute2)") }
        let ns = try NamedNamespace("ebpt-rt6-\(getpid())")
        try ns.ip("link set lo up")
        try ns.ip("link add ebpt6r0 type veth peer name ebpt6r1")
        try ns.ip("link add ebpt6r2 type veth peer name ebpt6r3")
        for dev in ["ebpt6r0", "ebpt6r1", "ebpt6r2", "ebpt6r3"] { try ns.ip("link set \(dev) up") }
        try ns.ip("-6 addr add 2001:db8:3::1/64 dev ebpt6r0 nodad")
        try ns.ip("-6 addr add 2001:db8:5::1/64 dev ebpt6r2 nodad")
        try ns.ip("-6 route add 2001:db8:6::/64 via 2001:db8:5::2")
        try ns.ip("-6 route add blackhole 2001:db8:7::/64")
        let rules = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + "-A INPUT -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n"
        let result = Compiler6.compile(try RestoreParser.parse(rules, options: .init(family: .ipv6)), interface: "ebpt6r0")
        try Privileged.inNamespace(ns.name) {
            let dp = try Dataplane.load()
            try dp.write6(result.tables, generation: 0)
            try dp.activate6(generation: 0)
            func check(_ dst: String, _ want: UInt32, _ why: String) throws {
                let f = IPv6Frame(src: "2001:db8:3::99", dst: dst, proto: 17)
                let before = try dp.stats6()
                XCTAssertEqual(try dp.testRun(packet: f.frame, ingress: "ebpt6r0").action, want, why)
                let after = try dp.stats6()
                XCTAssertEqual(after[2] - before[2], want == XDPAction.drop ? 1 : 0, "EIPT6_STAT_DROPPED: \(why)")
                XCTAssertEqual(after[3] - before[3], want == XDPAction.pass ? 1 : 0, "EIPT6_STAT_ROUTE_PASSED: \(why)")
            }
            let drop = XDPAction.drop, pass = XDPAction.pass
            try ns.exec("sysctl -qw net.ipv6.conf.all.forwarding=0")
            for (dst, why) in [("2001:db8:3::1", "off: local"), ("2001:db8:5::1", "off: another interface's address"),
                               ("2001:db8:6::5", "off: routed elsewhere (ip6_forward drops it)"),
                               ("2001:db8:5::2", "off: connected elsewhere")] {
                try check(dst, drop, why)
            }
            try check("ff02::1", pass, "off: multicast")
            try ns.exec("sysctl -qw net.ipv6.conf.all.forwarding=1")
            for (dst, want, why) in [("2001:db8:3::1", drop, "on: local"), ("2001:db8:5::1", drop, "on: another interface's address"),
                                     ("2001:db8:6::5", pass, "on: routed via 2001:db8:5::2"),
                                     ("2001:db8:5::2", pass, "on: connected on ebpt6r2"),
                                     ("2001:db8:7::5", drop, "on: blackhole"), ("ff02::1", pass, "on: multicast")] {
                try check(dst, want, why)
            }
            // all on, the ingress device's own forwarding off: the kernel still forwards (ip6_forward
            // reads `all`), the lookup would only say FWD_DISABLED: routed or local, the drop passes.
            try ns.exec("sysctl -qw net.ipv6.conf.ebpt6r0.forwarding=0")
            try check("2001:db8:6::5", pass, "all on, ebpt6r0 off: routed")
            try check("2001:db8:3::1", pass, "all on, ebpt6r0 off: local (cannot be told apart)")
            // all off, the device's on: nothing is forwarded.
            try ns.exec("sysctl -qw net.ipv6.conf.all.forwarding=0")
            try ns.exec("sysctl -qw net.ipv6.conf.ebpt6r0.forwarding=1")
            try check("2001:db8:6::5", drop, "all off, ebpt6r0 on: routed (ip6_forward drops it)")
        }
    }
}
