import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// REJECT answered from XDP, counted as the kernel counts its own reply: the same TCP SYNs
/// (tcp-reset) and UDP datagrams (icmp-port-unreachable) into the kernel alone (`ref`) and
/// into both layers (`two`: ebpf-iptables attach + ebpf-iptables-restore), with rules on the
/// reply's way out (a jump to a user chain in filter OUTPUT behind a DROP policy, a RETURN in
/// mangle POSTROUTING). Unlike FirewallLab's other tests, the receivers route the probes'
/// sources back to the generator, so the replies really leave: `iptables-save -c` of the
/// kernel alone must equal `ebpf-iptables-save -c` of both layers on every rule and policy
/// the replies and the REJECTs count on.
final class RejectCountersTests: XCTestCase {
    static let ruleset = """
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A POSTROUTING -o rx0 -j RETURN
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT DROP [0:0]
        :FW-OUTPUT - [0:0]
        -A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset
        -A INPUT -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
        -A OUTPUT -j FW-OUTPUT
        -A FW-OUTPUT -p tcp -m tcp --tcp-flags RST RST -j ACCEPT
        -A FW-OUTPUT -p icmp -m icmp --icmp-type 3 -j ACCEPT
        COMMIT

        """

    /// Counters by "table chain N" / "table chain policy" from `iptables-save -c` text.
    static func counters(_ save: String) -> [String: String] {
        var out: [String: String] = [:]
        var table = ""
        var seen: [String: Int] = [:]
        for line in save.split(separator: "\n") {
            let w = line.split(separator: " ")
            if line.hasPrefix("*") { table = String(line.dropFirst()); seen = [:] }
            if line.hasPrefix(":"), w.count >= 3 { out["\(table) \(w[0].dropFirst()) policy"] = String(w[2]) }
            if line.hasPrefix("["), w.count >= 3, w[1] == "-A" {
                seen[String(w[2]), default: 0] += 1
                out["\(table) \(w[2]) \(seen[String(w[2])] ?? 0)"] = String(w[0])
            }
        }
        return out
    }

    func testReplyCountersEqualTheKernelsAlone() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        for tool in ["iptables-restore", "python3"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
        let lab = try FirewallLab()
        defer { lab.close() }
        let ref = try lab.addReceiver("ref"), two = try lab.addReceiver("two")
        for r in [ref, two] {
            // A way back to the probes' sources, through the generator's side of the veth.
            let link = lab.gen.run(["ip", "-br", "link", "show", r.genSide]).stdout.split(separator: " ").filter { !$0.isEmpty }
            let genMAC = try XCTUnwrap(link.first { $0.split(separator: ":").count == 6 }, "the generator side's MAC")
            for step in [["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                         ["ip", "neigh", "replace", "198.18.0.1", "lladdr", String(genMAC), "dev", lab.interface, "nud", "permanent"],
                         ["ip", "route", "add", "198.18.40.0/24", "via", "198.18.0.1", "dev", lab.interface, "onlink"]] {
                let out = r.run(step)
                XCTAssertEqual(out.status, 0, "\(r.role): \(step.joined(separator: " ")): \(out.stderr)")
            }
        }
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: Self.ruleset).status, 0)
        let attach = two.ours(["attach", lab.interface])
        XCTAssertEqual(attach.status, 0, attach.stderr)
        let restore = two.ours([], tool: "ebpf-iptables-restore", stdin: Self.ruleset)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let xdp = try two.xdp()
        let before = try xdp.stats()

        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [ref.genSide, two.genSide])
        var probes: [Probe] = []
        for i in 0..<5 {
            var tcp = Probe(source: 0xC612_280B + UInt32(i), destination: FirewallLab.address, proto: 6)
            tcp.destinationPort = 80
            tcp.sourcePort = 40000 + UInt16(i)
            probes.append(tcp)
            var udp = Probe(source: 0xC612_2814 + UInt32(i), destination: FirewallLab.address, proto: 17)
            udp.destinationPort = 53
            probes.append(udp)
        }
        for (i, p) in probes.enumerated() {
            try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: UInt16(i + 1)))
        }
        // Bounded wait until both sides counted every probe at its REJECT.
        var refCounts: [String: String] = [:], twoCounts: [String: String] = [:]
        for _ in 0..<100 {
            refCounts = Self.counters(ref.run(["iptables-save", "-c"]).stdout)
            twoCounts = Self.counters(two.ours(["-c"], tool: "ebpf-iptables-save").stdout)
            if refCounts["filter INPUT 1"]?.hasPrefix("[5:") == true, refCounts["filter INPUT 2"]?.hasPrefix("[5:") == true,
               twoCounts["filter INPUT 1"]?.hasPrefix("[5:") == true, twoCounts["filter INPUT 2"]?.hasPrefix("[5:") == true { break }
            usleep(30_000)
        }
        let after = try xdp.stats()
        XCTAssertEqual(after.rejected - before.rejected, 10, "XDP answered every probe itself (stats \(after))")

        var compared = 0
        for key in Set(refCounts.keys).union(twoCounts.keys).sorted() {
            // XDP answers before mangle PREROUTING/INPUT: those count only what it passed up.
            if key.hasPrefix("mangle PREROUTING") || key.hasPrefix("mangle INPUT") { continue }
            compared += 1
            XCTAssertEqual(twoCounts[key], refCounts[key], "\(key): kernel alone \(refCounts[key] ?? "-"), both layers \(twoCounts[key] ?? "-")")
        }
        XCTAssertEqual(twoCounts["filter FW-OUTPUT 1"], "[5:200]", "5 RSTs of 40 bytes")
        print("REJECT counters: \(compared) counters of ebpf-iptables-save -c equal to the kernel alone's after 10 probes XDP answered "
            + "(filter OUTPUT \(twoCounts["filter OUTPUT 1"] ?? "-"), FW-OUTPUT \(twoCounts["filter FW-OUTPUT 1"] ?? "-")/\(twoCounts["filter FW-OUTPUT 2"] ?? "-"), "
            + "mangle POSTROUTING policy \(twoCounts["mangle POSTROUTING policy"] ?? "-"))")
    }
}
