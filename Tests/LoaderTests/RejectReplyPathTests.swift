import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// REJECT answered from XDP when OUTPUT and POSTROUTING hold rules the reply provably passes
/// (Compiler/ReplyPath.swift): the same probes as RejectReplyTests, through a ruleset whose
/// way out has rules in raw, mangle, filter and security that the replies miss, match
/// and are counted on (a DROP policy of filter OUTPUT included). Compared with the kernel's
/// own REJECT: the reply frames byte for byte, and every OUTPUT/POSTROUTING counter — the
/// kernel's alone against the kernel's plus what XDP's replies add to the places the proof
/// names.
final class RejectReplyPathTests: XCTestCase {
    static let outRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -m comment --comment "every reply"
        -A OUTPUT -p udp -j CT --notrack
        COMMIT
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A OUTPUT -p udp -j MARK --set-mark 0x1
        -A OUTPUT -o lo -j MARK --set-mark 0x2
        -A POSTROUTING -o f0 -j RETURN
        -A POSTROUTING -j MARK --set-mark 0x3
        COMMIT
        *security
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -p tcp -m tcp --tcp-flags SYN SYN -j DROP
        COMMIT

        """

    /// RejectReplyTests' filter table with a way out that accepts only what it names.
    static var ruleset: String {
        let filter = RejectReplyTests.ruleset
            .replacingOccurrences(of: ":OUTPUT ACCEPT [0:0]\n", with: ":OUTPUT DROP [0:0]\n:OUT-ICMP - [0:0]\n")
            .replacingOccurrences(of: "COMMIT\n", with: """
                -A OUTPUT -o lo -j ACCEPT
                -A OUTPUT -p icmp -j OUT-ICMP
                -A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j ACCEPT
                -A OUTPUT -p udp -j LOG
                -A OUT-ICMP -p icmp -m icmp --icmp-type 0 -j DROP
                -A OUT-ICMP -m comment --comment "counted"
                -A OUT-ICMP -p icmp -m icmp --icmp-type 3 -j RETURN
                -A OUTPUT -p icmp -j ACCEPT
                COMMIT

                """)
        return outRules + filter
    }

    /// `iptables-save -c` counters by "table chain N" and "table chain policy".
    static func counters(_ save: String) -> [String: RuleCounter] {
        var out: [String: RuleCounter] = [:]
        var table = ""
        var seen: [String: Int] = [:]
        func pair(_ s: Substring) -> RuleCounter? {
            let p = s.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ":")
            guard p.count == 2, let a = UInt64(p[0]), let b = UInt64(p[1]) else { return nil }
            return RuleCounter(packets: a, bytes: b)
        }
        for line in save.split(separator: "\n") {
            let w = line.split(separator: " ")
            if line.hasPrefix("*") { table = String(line.dropFirst()); seen = [:] }
            if line.hasPrefix(":"), w.count >= 3, let c = pair(w[2]) { out["\(table) \(w[0].dropFirst()) policy"] = c }
            if line.hasPrefix("["), w.count >= 3, w[1] == "-A", let c = pair(w[0]) {
                seen[String(w[2]), default: 0] += 1
                out["\(table) \(w[2]) \(seen[String(w[2])] ?? 0)"] = c
            }
        }
        return out
    }

    static func save(_ ns: NamedNamespace) -> String {
        Run.run(["ip", "netns", "exec", ns.name, "iptables-save", "-c"], stdin: nil).stdout
    }

    func testRepliesAndCountersMatchTheKernelWithRulesOnTheWayOut() throws {
        let rs = try RestoreParser.parse(Self.ruleset, options: .init())
        let compiled = Compiler.compile(rs, interface: "f0")
        let rejects = compiled.tables.verdicts.enumerated().filter { $0.element == .reject }.map(\.offset)
        XCTAssertEqual(rejects.count, 11, "every REJECT is answered from XDP: \(compiled.report.rules.map { "\($0.ref.index) \($0.status)" })")

        let kernelOut: String, kernelSave: String
        do {
            let k = try RejectReplyTests.Topology("k", ruleset: Self.ruleset)
            kernelOut = try k.probe(["probes"])
            kernelSave = Self.save(k.fw)
        }
        let x = try RejectReplyTests.Topology("x", ruleset: Self.ruleset)
        let dp = try DropPathTrafficTests.attach(x.fw, "f0", compiled.tables)
        let s0 = try dp.stats()
        let xdpOut = try x.probe(["probes"])
        let s1 = try dp.stats()
        let replies = try Privileged.inNamespace(x.fw.name) { try dp.replyCounters(generation: 0) }
        let xdpSave = Self.save(x.fw)
        try Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") }

        // The frames, as RejectReplyTests compares them.
        let kernel = RejectReplyTests.parse(kernelOut).mapValues { $0.map(RejectReplyTests.completedTCPChecksum) }
        let xdp = RejectReplyTests.parse(xdpOut)
        XCTAssertGreaterThan(kernel.count, 40, "the prober ran every probe:\n\(kernelOut)")
        var same = 0, bytes = 0
        for name in kernel.keys.sorted() {
            let k = kernel[name] ?? [], v = xdp[name] ?? ["<missing>"]
            if k.map(RejectReplyTests.masked) == v.map(RejectReplyTests.masked) {
                same += 1
                bytes += k.reduce(0) { $0 + $1.count / 2 }
            } else {
                XCTFail("\(name): kernel sent \(k.count) frame(s), XDP layer \(v.count)\n kernel \(k)\n xdp    \(v)")
            }
        }
        // No nat table here: a tcp-reset rule without a NEW test keeps its RST in the kernel
        // when nat POSTROUTING is there (ReplyPathTests.testTablesOnTheWay).
        XCTAssertEqual(s1.rejected - s0.rejected, UInt64(RejectReplyTests.answeredByXDP.count))
        let sent = replies.values.reduce(0) { $0 + $1.packets }
        XCTAssertEqual(sent, s1.rejected - s0.rejected, "every reply XDP sent is counted at its position")

        // The counters: the kernel's alone, against the kernel's plus XDP's replies at their places
        // (and XDP's INPUT counts at the REJECT rules' positions).
        let kc = Self.counters(kernelSave)
        var xc = Self.counters(xdpSave)
        let positions = try Privileged.inNamespace(x.fw.name) { try dp.counters(generation: 0) }
        for (pos, origin) in compiled.origins.enumerated() {
            let key = "\(origin.rule.table) \(origin.rule.chain) \(origin.rule.index)"
            if pos < positions.count, positions[pos].packets > 0 {
                xc[key, default: RuleCounter(packets: 0, bytes: 0)].packets += positions[pos].packets
                xc[key, default: RuleCounter(packets: 0, bytes: 0)].bytes += positions[pos].bytes
            }
            guard let r = replies[UInt32(pos)] else { continue }
            for place in origin.replyPlaces {
                let k: String
                switch place {
                case .rule(let ref): k = "\(ref.table) \(ref.chain) \(ref.index)"
                case .policy(let table, let chain): k = "\(table) \(chain) policy"
                }
                xc[k, default: RuleCounter(packets: 0, bytes: 0)].packets += r.packets
                xc[k, default: RuleCounter(packets: 0, bytes: 0)].bytes += r.bytes
            }
        }
        var compared = 0, moved = 0
        for key in Set(kc.keys).union(xc.keys).sorted() where !key.hasPrefix("filter FORWARD") {
            let want = kc[key] ?? RuleCounter(packets: 0, bytes: 0), got = xc[key] ?? RuleCounter(packets: 0, bytes: 0)
            // PREROUTING/INPUT of raw, mangle, nat: XDP answered before them; only the packets it
            // passed up reach them, as the kernel's own counts there say. Compare what REJECT's
            // replies and filter INPUT count.
            if key.contains("PREROUTING") || (key.contains(" INPUT ") && !key.hasPrefix("filter")) { continue }
            compared += 1
            if want.packets > 0 { moved += 1 }
            XCTAssertEqual(got, want, "\(key): kernel \(want.packets) packets \(want.bytes) bytes, kernel+XDP \(got.packets)/\(got.bytes)")
        }
        print("REJECT with rules on the way out: \(same)/\(kernel.count) probes identical (\(bytes) reply bytes); "
            + "XDP answered \(s1.rejected - s0.rejected), passed up \(s1.rejectPassed - s0.rejectPassed); "
            + "\(compared) counters compared (\(moved) nonzero), \(sent) replies counted by XDP")
    }
}
