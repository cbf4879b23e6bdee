import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// A REJECT whose reply's way out depends on the original's conntrack state
/// (Compiler/ReplyStateSplit.swift), on the corpus ruleset that has them:
/// goautodial-sysconfig.rules, whose filter OUTPUT (policy DROP) accepts only `-o lo` and
/// `--state NEW,RELATED,ESTABLISHED`, and whose chain PSD REJECTs (behind `-i eth0`, with
/// `-m statistic --mode random`). Read from ../shared/corpus at run time, with `eth0` the
/// test's interface and the PSD probabilities 1 (so that every probe meets the same REJECT in
/// both runs; the draw is still made, and says yes).
///
/// The same probes as RejectReplyTests through the kernel alone and through both layers:
/// NEW originals (a SYN, an ACK conntrack picks up, UDP) are answered from XDP; INVALID ones
/// (SYN|ACK, RST, FIN|ACK without an entry: CHECK_TCP lets them through to PSD) go up, and
/// neither layer sends a reply (conntrack calls it INVALID and OUTPUT's policy drops it); a
/// protocol XDP cannot tell the state of goes up and the kernel answers. Compared: the frames
/// byte for byte (IP ID masked), and every filter counter — the kernel's alone against the
/// kernel's plus XDP's (positions, the jumps that led there, the replies at their places).
final class RejectStateSplitTests: XCTestCase {
    static var ruleset: String? {
        guard let dir = Fixtures.corpus,
              let text = try? String(contentsOf: dir.appendingPathComponent("goautodial-sysconfig.rules"), encoding: .utf8)
        else { return nil }
        return text.replacingOccurrences(of: "-i eth0", with: "-i f0")
            .replacingOccurrences(of: "--probability 0.050000", with: "--probability 1.000000")
    }

    static let probes = #"""
def probes():
    p = []
    a = lambda name, *frames: p.append((name, list(frames)))
    i = 100
    def nxt():
        nonlocal i
        i += 1
        return src(i)
    S = nxt(); a("new-tcp-syn", eth(ip(S, FW, 6, tcp(S, FW, 41001, 1234, 1000, 0, 0x02))))
    S = nxt(); a("new-tcp-syn-payload", eth(ip(S, FW, 6, tcp(S, FW, 41002, 2345, 5000, 0, 0x02, pattern(33)))))
    S = nxt(); a("new-tcp-ack", eth(ip(S, FW, 6, tcp(S, FW, 41003, 3456, 7000, 0xdeadbeef, 0x10, pattern(100)))))
    S = nxt(); a("new-udp", eth(ip(S, FW, 17, udp(S, FW, 51000, 1234, pattern(20)))))
    S = nxt(); a("new-udp-600", eth(ip(S, FW, 17, udp(S, FW, 51000, 4000, pattern(600)))))
    S = nxt(); a("invalid-tcp-synack", eth(ip(S, FW, 6, tcp(S, FW, 41004, 1234, 9000, 77, 0x12))))
    S = nxt(); a("invalid-tcp-rst", eth(ip(S, FW, 6, tcp(S, FW, 41005, 1234, 9000, 0, 0x04))))
    S = nxt(); a("invalid-tcp-finack", eth(ip(S, FW, 6, tcp(S, FW, 41006, 1234, 9000, 5, 0x11, pattern(10)))))
    S = nxt(); a("uncertain-proto-253", eth(ip(S, FW, 253, icmp(0, 0, 0, pattern(30)))))
    S = nxt(); a("uncertain-proto-253-bad-sum", eth(ip(S, FW, 253, pattern(30))))
    return p

"""#
    static let answeredByXDP: Set<String> = ["new-tcp-syn", "new-tcp-syn-payload", "new-udp", "new-udp-600"]
    /// INVALID originals (no reply: OUTPUT's policy drops it); an ACK conntrack would pick up
    /// as NEW, which CHECK_TCP drops (`! --tcp-flags SYN,RST,ACK SYN --state NEW`); a protocol
    /// nf_send_unreach checks the one's complement sum of (nf_reject_verify_csum: anything
    /// but UDP, UDP-Lite, AH, ESP, SCTP, DCCP) whose sum is wrong: the kernel sends nothing.
    static let noReply: Set<String> = ["invalid-tcp-synack", "invalid-tcp-rst", "invalid-tcp-finack", "new-tcp-ack",
                                       "uncertain-proto-253-bad-sum"]

    func probe(_ t: RejectReplyTests.Topology) throws -> String {
        let script = RejectProber.script.replacingOccurrences(of: "def drain():", with: Self.probes + "def drain():")
        let r = Run.run(["ip", "netns", "exec", t.gen.name, "timeout", "120", "python3", "-c", script, "g0",
                         RejectReplyTests.genMAC.replacingOccurrences(of: ":", with: ""),
                         RejectReplyTests.fwMAC.replacingOccurrences(of: ":", with: ""), "probes"])
        guard r.status == 0 else { throw ProberFailed(description: "prober failed (\(r.status)): \(r.stderr)") }
        return r.stdout
    }

    func testNewOriginalsAnsweredFromXDPInvalidOnesGoUpUnanswered() throws {
        guard let ruleset = Self.ruleset else { throw XCTSkip("../shared/corpus/goautodial-sysconfig.rules is not there") }
        let rs = try RestoreParser.parse(ruleset, options: .init())
        let compiled = Compiler.compile(rs, interface: "f0")
        let psd = compiled.report.rules.filter { $0.ref.chain == "PSD" }
        XCTAssertEqual(psd.count, 3)
        for r in psd {
            guard case .xdp(.rejectReplyByState(_, let up, _)) = r.status else { XCTFail("PSD \(r.ref.index): \(r.status)"); continue }
            XCTAssertTrue(up.contains("INVALID,UNTRACKED originals go up"), up)
        }

        let kernelOut: String, kernelSave: String
        do {
            let k = try RejectReplyTests.Topology("k", ruleset: ruleset)
            kernelOut = try probe(k)
            kernelSave = RejectReplyPathTests.save(k.fw)
        }
        let x = try RejectReplyTests.Topology("x", ruleset: ruleset)
        let dp = try DropPathTrafficTests.attach(x.fw, "f0", compiled.tables)
        let s0 = try dp.stats()
        let xdpOut = try probe(x)
        let s1 = try dp.stats()
        let replies = try Privileged.inNamespace(x.fw.name) { try dp.replyCounters(generation: 0) }
        let positions = try Privileged.inNamespace(x.fw.name) { try dp.counters(generation: 0) }
        let xdpSave = RejectReplyPathTests.save(x.fw)
        try Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") }

        let kernel = RejectReplyTests.parse(kernelOut).mapValues { $0.map(RejectReplyTests.completedTCPChecksum) }
        let xdp = RejectReplyTests.parse(xdpOut)
        XCTAssertEqual(kernel.count, 10, "the prober ran every probe:\n\(kernelOut)")
        var same = 0, bytes = 0
        for name in kernel.keys.sorted() {
            let k = kernel[name] ?? [], v = xdp[name] ?? ["<missing>"]
            if Self.noReply.contains(name) {
                XCTAssertEqual(k, [], "\(name): the kernel alone sends no reply")
                XCTAssertEqual(v, [], "\(name): both layers send no reply")
            } else {
                XCTAssertEqual(k.count, 1, "\(name): the kernel answers it")
            }
            if k.map(RejectReplyTests.masked) == v.map(RejectReplyTests.masked) {
                same += 1
                bytes += k.reduce(0) { $0 + $1.count / 2 }
            } else {
                XCTFail("\(name): kernel sent \(k.count) frame(s), XDP layer \(v.count)\n kernel \(k)\n xdp    \(v)")
            }
        }
        XCTAssertEqual(s1.rejected - s0.rejected, UInt64(Self.answeredByXDP.count), "XDP answered the NEW originals, only those")
        let sent = replies.values.reduce(0) { $0 + $1.packets }
        XCTAssertEqual(sent, s1.rejected - s0.rejected, "every reply XDP sent is counted at its position")

        let kc = RejectReplyPathTests.counters(kernelSave)
        var xc = RejectReplyPathTests.counters(xdpSave)
        func add(_ key: String, _ c: RuleCounter) {
            xc[key, default: RuleCounter(packets: 0, bytes: 0)].packets += c.packets
            xc[key, default: RuleCounter(packets: 0, bytes: 0)].bytes += c.bytes
        }
        for (pos, origin) in compiled.origins.enumerated() {
            if pos < positions.count, positions[pos].packets > 0 {
                add(origin.isPolicy ? "\(origin.rule.table) INPUT policy" : "\(origin.rule.table) \(origin.rule.chain) \(origin.rule.index)", positions[pos])
                for v in origin.via { add("\(v.table) \(v.chain) \(v.index)", positions[pos]) }
            }
            guard let r = replies[UInt32(pos)] else { continue }
            for place in origin.replyPlaces {
                switch place {
                case .rule(let ref): add("\(ref.table) \(ref.chain) \(ref.index)", r)
                case .policy(let table, let chain): add("\(table) \(chain) policy", r)
                }
            }
        }
        // By design (docs/two-layers.md, Counters) a packet XDP decides is not counted on the
        // jumps it took and came back from (SERVICES -p tcp -j CHECK_TCP for the TCP probes
        // rejected in PSD) nor on a RETURN that brought it back: there both layers count at
        // most what the kernel alone did; every other rule and policy exactly.
        var jumps: Set<String> = []
        for chain in rs.table("filter")?.chains ?? [] {
            for (i, rule) in chain.rules.enumerated() {
                switch rule.target {
                case .jump?, .goto?, .return?: jumps.insert("filter \(chain.name) \(i + 1)")
                default: break
                }
            }
        }
        var compared = 0, nonzero = 0
        for key in Set(kc.keys).union(xc.keys).sorted() where key.hasPrefix("filter ") && !key.hasPrefix("filter FORWARD") {
            let want = kc[key] ?? RuleCounter(packets: 0, bytes: 0), got = xc[key] ?? RuleCounter(packets: 0, bytes: 0)
            compared += 1
            if want.packets > 0 { nonzero += 1 }
            if jumps.contains(key) {
                XCTAssertLessThanOrEqual(got.packets, want.packets, key)
                continue
            }
            XCTAssertEqual(got, want, "\(key): kernel \(want.packets) packets \(want.bytes) bytes, kernel+XDP \(got.packets)/\(got.bytes)")
        }
        XCTAssertEqual(kc["filter OUTPUT 2"]?.packets, 5, "the 4 NEW originals' replies and proto 253's are accepted by OUTPUT rule 2")
        XCTAssertEqual(kc["filter OUTPUT policy"]?.packets, 3, "the 3 INVALID originals' replies fall off OUTPUT")
        print("REJECT by original state (goautodial PSD): \(same)/\(kernel.count) probes identical (\(bytes) reply bytes); "
            + "XDP answered \(s1.rejected - s0.rejected); \(compared) filter counters compared (\(nonzero) nonzero), "
            + "OUTPUT rule 2 \(xc["filter OUTPUT 2"].map { "\($0.packets)/\($0.bytes)" } ?? "-")")
    }
}
