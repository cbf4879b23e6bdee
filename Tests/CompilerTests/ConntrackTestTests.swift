import Compiler
import IptParse
import TestSupport
import XCTest

/// ConntrackTest (the Swift mirror of bpf/ext_conntrack.h) against a model of what the kernel's
/// conntrack_mt sees at filter INPUT: the entry after this packet went through PREROUTING,
/// with every way the kernel may differ from what XDP saw before (the packet makes the entry
/// ASSURED, a TCP SYN reopens it, a packet ahead is confirmed first, nat PREROUTING DNATs a new
/// connection). Wherever the mirror answers, it must be the kernel's answer for every one of
/// those; and it must answer often enough to be worth having.
final class ConntrackTestTests: XCTestCase {
    /// What conntrack_mt reads (xt_conntrack.c), written from the kernel source, apart from
    /// the mirror: ct nil is no entry (statebit INVALID or UNTRACKED).
    struct KernelCT {
        var status: UInt32
        var ctinfoReply: Bool
        var statebit: UInt16 // XT_CONNTRACK_STATE_BIT(ctinfo)
        var proto: UInt8
        var addrs: [UInt32]
        var ports: [UInt16]
    }

    static func conntrackMT(_ t: ConntrackTest, _ ct: KernelCT?, untracked: Bool = false) -> Bool {
        let m = t.match, inv = t.invert
        var statebit: UInt16 = ct?.statebit ?? (untracked ? ConntrackStates.untracked.rawValue : ConntrackStates.invalid.rawValue)
        if m.contains(.state) {
            if let ct {
                if ct.status & 16 != 0 { statebit |= ConntrackStates.snat.rawValue }
                if ct.status & 32 != 0 { statebit |= ConntrackStates.dnat.rawValue }
            }
            if (UInt16(t.states) & statebit != 0) != !inv.contains(.state) { return false }
        }
        guard let ct else { return m.contains(.state) }
        if m.contains(.direction) && (!ct.ctinfoReply) != !inv.contains(.direction) { return false }
        let addrOpts: [ConntrackTest.Options] = [.origSource, .origDestination, .replySource, .replyDestination]
        for (i, o) in addrOpts.enumerated() where m.contains(o) {
            let eq = (ct.addrs[i] ^ t.addresses[i].address) & t.addresses[i].mask == 0
            if eq != !inv.contains(o) { return false }
        }
        if m.contains(.proto) && (ct.proto == t.proto) != !inv.contains(.proto) { return false }
        let portOpts: [ConntrackTest.Options] = [.origSourcePort, .origDestinationPort, .replySourcePort, .replyDestinationPort]
        for (i, o) in portOpts.enumerated() where m.contains(o) {
            if t.ports[i].contains(ct.ports[i]) == inv.contains(o) { return false }
        }
        if m.contains(.status) && (UInt32(t.status) & ct.status != 0) != !inv.contains(.status) { return false }
        if m.contains(.expires) { return Bool.random() } // any value: the mirror must not answer
        return true
    }

    func testMirrorAgreesWithTheKernelModel() {
        var rng = SplitMix(seed: 0xC0_4417)
        var decided = 0, total = 0
        let addrs: [UInt32] = [0xC612_0001, 0xC612_0002, 0xC612_0103, 0xC000_0201]
        let portsPool: [UInt16] = [7, 80, 1500, 40000]
        for _ in 0..<20000 {
            // A random test.
            var t = ConntrackTest()
            t.newConnectionNATUnknown = rng.below(2) == 0
            let allOpts: [ConntrackTest.Options] = [.state, .proto, .origSource, .origDestination, .replySource, .replyDestination,
                                                   .status, .expires, .origSourcePort, .origDestinationPort, .replySourcePort,
                                                   .replyDestinationPort, .direction]
            for o in allOpts where rng.below(4) == 0 {
                t.match.insert(o)
                if rng.below(2) == 0 { t.invert.insert(o) }
            }
            if t.match.isEmpty { t.match = .state }
            t.states = UInt8(rng.below(128))
            t.proto = [6, 17, 1][rng.below(3)]
            t.status = [0, 1, 2, 4, 8, 6, 12][rng.below(7)]
            for i in 0..<4 {
                let len = [32, 24, 0, 16][rng.below(4)]
                let mask: UInt32 = len == 0 ? 0 : UInt32.max << UInt32(32 - len)
                t.addresses[i] = .init(address: addrs[rng.below(4)] & mask, mask: mask)
                let lo = portsPool[rng.below(4)]
                t.ports[i] = lo...(lo + UInt16(rng.below(2)) * 100)
            }
            // A random packet and the entry XDP finds (or none).
            let proto: UInt8 = [6, 17][rng.below(2)]
            let src = addrs[rng.below(4)], dst = addrs[rng.below(4)]
            let sport = portsPool[rng.below(4)], dport = portsPool[rng.below(4)]
            var p = PacketFacts(source: src, destination: dst, proto: proto, ports: .init(source: sport, destination: dport))
            if proto == 6 { p.tcpFlags = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04][rng.below(6)] }
            let hasEntry = rng.below(2) == 0
            var entry: ConntrackEntryView?
            if hasEntry {
                let reply = rng.below(2) == 0
                let status = UInt32([0, 1, 2, 4, 6, 8, 10, 14, 24, 40, 46][rng.below(11)])
                // The packet's tuple is one direction of the entry; the other may be NATed.
                let natted = rng.below(3) == 0
                let other = natted ? (addrs[rng.below(4)], portsPool[rng.below(4)]) : (reply ? (src, sport) : (dst, dport))
                let a: [UInt32], pt: [UInt16]
                if reply {
                    // The packet is the reply tuple; the original's is its inverse unless NATed.
                    a = [natted ? other.0 : dst, natted ? addrs[rng.below(4)] : src, src, dst]
                    pt = [natted ? other.1 : dport, sport, sport, dport]
                } else {
                    a = [src, dst, other.0, src]
                    pt = [sport, dport, other.1, sport]
                }
                entry = ConntrackEntryView(status: status | 8, reply: reply, proto: proto, addresses: a, ports: pt)
            }
            let stateNoEntry = Self.stateWithoutEntry(p)
            total += 1
            guard let answer = t.holds(entry: entry, packet: p, stateWithoutEntry: hasEntry ? nil : stateNoEntry) else { continue }
            decided += 1
            // Every kernel view consistent with what XDP saw.
            for view in Self.kernelViews(entry: entry, packet: p, natUnknown: t.newConnectionNATUnknown) {
                let k = Self.conntrackMT(t, view)
                XCTAssertEqual(answer, k, "test \(t) entry \(String(describing: entry)) packet \(p) kernel \(String(describing: view))")
                if answer != k { return }
            }
        }
        XCTAssertGreaterThan(decided, total / 2, "the mirror answers too rarely: \(decided) of \(total)")
        print("conntrack mirror: answered \(decided) of \(total) random cases, each the kernel's in every view")
    }

    /// eipt_ct_state without an entry, for TCP/UDP with ports.
    static func stateWithoutEntry(_ p: PacketFacts) -> ConntrackStates? {
        guard p.proto == 6, let f = p.tcpFlags else { return .new }
        return [0x02, 0x22, 0x10, 0x30].contains(f & ~(0x08 | 0x40 | 0x80)) ? .new : .invalid
    }

    /// What the kernel may hold at filter INPUT, given what XDP saw.
    static func kernelViews(entry: ConntrackEntryView?, packet p: PacketFacts, natUnknown: Bool) -> [KernelCT?] {
        guard let ports = p.ports else { return [] }
        var out: [KernelCT?] = []
        if let e = entry {
            var st = e.status
            if e.reply { st |= 2 } // nf_conntrack_in sets SEEN_REPLY for a reply
            let info: UInt16 = e.reply || e.status & 2 != 0 ? ConntrackStates.established.rawValue
                : e.status & 1 != 0 ? ConntrackStates.related.rawValue : ConntrackStates.new.rawValue
            for assuredNow in [false, true] {
                out.append(KernelCT(status: st | (assuredNow ? 4 : 0), ctinfoReply: e.reply, statebit: info, proto: e.proto,
                                    addrs: e.addresses, ports: e.ports))
            }
            // A TCP SYN may replace a closing entry with a new one, or be INVALID, once the
            // connection saw a reply (a retransmitted SYN of one that did not stays NEW).
            if p.proto == 6, let f = p.tcpFlags, f & 0x12 == 0x02, e.reply || e.status & 2 != 0 {
                out.append(nil)
                out.append(KernelCT(status: 0, ctinfoReply: false, statebit: ConntrackStates.new.rawValue, proto: 6,
                                    addrs: [p.source, p.destination, p.destination, p.source],
                                    ports: [ports.source, ports.destination, ports.destination, ports.source]))
            }
            return out
        }
        if stateWithoutEntry(p) == .invalid { return [nil] }
        for confirmed in [false, true] {
            let base = KernelCT(status: confirmed ? 8 : 0, ctinfoReply: false, statebit: ConntrackStates.new.rawValue, proto: p.proto,
                                addrs: [p.source, p.destination, p.destination, p.source],
                                ports: [ports.source, ports.destination, ports.destination, ports.source])
            out.append(base)
            if natUnknown {
                var d = base
                d.status |= 32
                d.addrs[2] = 0x0A00_0005
                d.ports[2] = 3128
                out.append(d)
            }
        }
        return out
    }

    /// The lowering reads iptables-save's options: the kitchen-sink rule.
    func testLoweringOfKitchenSinkRule() throws {
        let c = ConntrackMatch(states: Negatable([.new, .dnat], negated: true),
                               other: [ExtensionOption("ctproto", args: ["6"]), ExtensionOption("ctorigsrc", args: ["192.0.2.1"]),
                                       ExtensionOption("ctstatus", args: ["ASSURED"]), ExtensionOption("ctdir", args: ["ORIGINAL"])])
        let t = try ConntrackTest.lower(c, newConnectionNATUnknown: true)
        XCTAssertEqual(t.match, [.state, .proto, .origSource, .status, .direction])
        XCTAssertEqual(t.invert, [.state])
        XCTAssertEqual(t.addresses[0], .init(address: 0xC000_0201, mask: .max))
        XCTAssertEqual(t.status, 4)
        XCTAssertEqual(t.proto, 6)
        let reply = try ConntrackTest.lower(ConntrackMatch(other: [ExtensionOption("ctdir", args: ["REPLY"]),
                                                                   ExtensionOption("ctreplsrcport", negated: true, args: ["1000:2000"])]),
                                            newConnectionNATUnknown: false)
        XCTAssertEqual(reply.invert, [.direction, .replySourcePort])
        XCTAssertEqual(reply.ports[2], 1000...2000)
        // Not read exactly: refused (the rule stays in the kernel).
        XCTAssertThrowsError(try ConntrackTest.lower(ConntrackMatch(other: [ExtensionOption("ctstatus", args: ["ASS"])]), newConnectionNATUnknown: false))
        XCTAssertThrowsError(try ConntrackTest.lower(ConntrackMatch(other: [ExtensionOption("ctdir", negated: true, args: ["REPLY"])]), newConnectionNATUnknown: false))
    }

    /// goautodial's `-m limit ... -m state --state NEW`: the state test is an ext test after
    /// the limit, and the rule compiles.
    func testStateAfterLimitIsAnExtTestAfterIt() throws {
        let text = """
        *filter
        :INPUT DROP [0:0]
        -A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 10/sec --limit-burst 10 -m state --state NEW -j ACCEPT
        -A INPUT -m conntrack ! --ctstate NEW,DNAT --ctproto tcp --ctorigsrc 192.0.2.1 --ctstatus ASSURED --ctdir ORIGINAL -j ACCEPT
        COMMIT

        """
        let ruleset = try RestoreParser.parse(text, options: .init(file: "ct.rules"))
        let result = Compiler.compile(ruleset, interface: "eth0")
        let rules = result.report.rules.filter { $0.ref.chain == "INPUT" }
        XCTAssertEqual(rules.count, 2)
        for r in rules { XCTAssertEqual(r.status.layer, .xdp, "\(r.text): \(r.status)") }
        let exts = result.tables.fallback.map(\.ext)
        XCTAssertEqual(exts.count, 2)
        XCTAssertEqual(exts[0].map(\.kind), ["limit", "conntrack"])
        XCTAssertEqual(exts[1].map(\.kind), ["conntrack"])
        XCTAssertNil(result.tables.fallback[0].conntrack, "the state test must not be a fixed test (it would run before the limit)")
    }
}
