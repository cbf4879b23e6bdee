import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// REJECT answered from XDP, compared with the kernel's own REJECT on the wire. The same
/// probe frames go from `gen` to `fw` twice: once with only the kernel's iptables in fw
/// (its REJECT answers), once with XDP attached on fw's interface and the same ruleset in
/// both layers (XDP answers what it can be sure of and passes the rest up). The frames that
/// come back are captured on gen's side of the veth (AF_PACKET) and compared byte by byte,
/// with only the IP ID (and with it the IP header checksum) masked: the kernel takes it
/// from ip_select_ident, a hashed per-destination counter.
///
/// gen (198.18.20.2, sources 198.18.40.0/23 routed through it) -- f0 [XDP] fw (198.18.20.1).
/// Forwarding is on in fw: bpf_fib_lookup answers FWD_DISABLED otherwise, and XDP then
/// leaves every reply to the kernel.
struct ProberFailed: Error, CustomStringConvertible { let description: String }

final class RejectReplyTests: XCTestCase {
    static let genMAC = "02:00:00:00:20:02", fwMAC = "02:00:00:00:20:01"

    static let ruleset = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset
        -A INPUT -p udp --dport 1000 -j REJECT --reject-with icmp-net-unreachable
        -A INPUT -p udp --dport 1001 -j REJECT --reject-with icmp-host-unreachable
        -A INPUT -p udp --dport 1002 -j REJECT --reject-with icmp-proto-unreachable
        -A INPUT -p udp --dport 1003 -j REJECT --reject-with icmp-port-unreachable
        -A INPUT -p udp --dport 1004 -j REJECT --reject-with icmp-net-prohibited
        -A INPUT -p udp --dport 1005 -j REJECT --reject-with icmp-host-prohibited
        -A INPUT -p udp --dport 1006 -j REJECT --reject-with icmp-admin-prohibited
        -A INPUT -p icmp -j REJECT
        -A INPUT -p 253 -j REJECT --reject-with icmp-proto-unreachable
        -A INPUT -p 47 -j REJECT --reject-with icmp-proto-unreachable
        COMMIT

        """

    /// The probes XDP must answer itself (the rest it passes up or drops silently, as listed).
    static let answeredByXDP: Set<String> = {
        var s: Set<String> = ["tcp-syn-80", "tcp-syn-payload-80", "tcp-ack-80", "tcp-fin-psh-80", "tcp-syn-tos-80",
                              "udp-zero-csum", "udp-tos-b8", "udp-tos-1e-df", "icmp-echo", "icmp-echo-1000",
                              "icmp-timestamp", "proto-253-valid", "proto-47-gre"]
        for port in 1000..<1007 { for size in [0, 20, 600, 1400] { s.insert("udp-\(port)-\(size)") } }
        return s
    }()

    struct Topology {
        let gen: NamedNamespace, fw: NamedNamespace
        init(_ tag: String, ruleset: String = RejectReplyTests.ruleset) throws {
            try Privileged.skipUnlessPrivileged()
            for tool in ["ip", "iptables-restore", "sysctl", "python3"] where !Run.has(tool) {
                throw XCTSkip("'\(tool)' is not installed")
            }
            gen = try NamedNamespace("ebpt-rg\(tag)-\(getpid())")
            fw = try NamedNamespace("ebpt-rf\(tag)-\(getpid())")
            try gen.ip("link add g0 type veth peer name f0 netns \(fw.name)")
            try gen.ip("link set g0 address \(RejectReplyTests.genMAC)")
            try fw.ip("link set f0 address \(RejectReplyTests.fwMAC)")
            try gen.ip("addr add 198.18.20.2/24 dev g0")
            try fw.ip("addr add 198.18.20.1/24 dev f0")
            for (ns, devs) in [(gen, ["lo", "g0"]), (fw, ["lo", "f0"])] {
                for d in devs { try ns.ip("link set \(d) up") }
            }
            // Permanent neighbours: no ARP exchange in the captures, and the reply's
            // next hop is known to bpf_fib_lookup from the first probe.
            try fw.ip("neigh replace 198.18.20.2 lladdr \(RejectReplyTests.genMAC) dev f0 nud permanent")
            try gen.ip("neigh replace 198.18.20.1 lladdr \(RejectReplyTests.fwMAC) dev g0 nud permanent")
            try fw.ip("route add 198.18.40.0/23 via 198.18.20.2")
            // A frame XDP_TX sends out of a veth is only received by the peer when the peer
            // runs NAPI, which an XDP program on it turns on: our program, left empty (it
            // passes everything), in both runs alike.
            try Privileged.inNamespace(gen.name) {
                let peer = try Dataplane.load()
                try peer.attach(interface: "g0", mode: .native)
            }
            try fw.exec("sysctl -qw net.ipv4.ip_forward=1")
            try fw.exec("sysctl -qw net.ipv4.conf.all.rp_filter=0")
            try fw.exec("sysctl -qw net.ipv4.conf.f0.rp_filter=0")
            let r = Run.run(["ip", "netns", "exec", fw.name, "iptables-restore"], stdin: ruleset)
            guard r.status == 0 else { throw XCTSkip("iptables-restore failed: \(r.stderr)") }
        }

        func probe(_ args: [String]) throws -> String {
            let r = Run.run(["ip", "netns", "exec", gen.name, "timeout", "120", "python3", "-c", RejectProber.script, "g0",
                             RejectReplyTests.genMAC.replacingOccurrences(of: ":", with: ""),
                             RejectReplyTests.fwMAC.replacingOccurrences(of: ":", with: "")] + args)
            guard r.status == 0 else { throw ProberFailed(description: "prober failed (\(r.status)): \(r.stderr)") }
            return r.stdout
        }
    }

    static func attach(_ fw: NamedNamespace, ruleset: String = RejectReplyTests.ruleset) throws -> Dataplane {
        let rs = try RestoreParser.parse(ruleset, options: .init())
        let compiled = Compiler.compile(rs, interface: "f0")
        XCTAssertEqual(compiled.tables.verdicts.filter { $0 == .reject }.count, 11, "every REJECT is answered from XDP")
        return try DropPathTrafficTests.attach(fw, "f0", compiled.tables)
    }

    /// name -> frames (hex), from the prober's output.
    static func parse(_ out: String) -> [String: [String]] {
        var m: [String: [String]] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 2 else { continue }
            m[String(f[0])] = f[1] == "-" ? [] : f[1].split(separator: ",").map(String.init)
        }
        return m
    }

    /// Whether the IP header (frame bytes 14-33) sums to 0xffff: the masked checksum is checked here.
    static func ipHeaderChecksumHolds(_ hex: String) -> Bool {
        let u = Array(hex.utf8)
        guard u.count >= 68 else { return false }
        var s: UInt32 = 0
        for i in stride(from: 14, to: 34, by: 2) {
            s += UInt32(String(decoding: u[(2 * i)..<(2 * i + 4)], as: UTF8.self), radix: 16) ?? 0
        }
        while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
        return s == 0xffff
    }

    /// The IP ID (frame bytes 18-19) and the IP header checksum (24-25) masked.
    static func masked(_ hex: String) -> String {
        var b = Array(hex.utf8)
        for i in [18, 19, 24, 25] where 2 * i + 1 < b.count {
            b[2 * i] = UInt8(ascii: "x")
            b[2 * i + 1] = UInt8(ascii: "x")
        }
        return String(decoding: b, as: UTF8.self)
    }

    /// The kernel builds its RST with CHECKSUM_PARTIAL (nf_reject_ip_tcphdr_put: only the
    /// pseudo-header sum in the field, for the device to complete); veth offers checksum
    /// offload and never completes it, so the captured frame carries the partial sum where a
    /// NIC would put the full one. XDP_TX bypasses offload and writes the full checksum.
    /// This completes the kernel's frame as its NIC would — only when the field holds exactly
    /// the pseudo-header sum (anything else is left as captured, and compared as is).
    static func completedTCPChecksum(_ hex: String) -> String {
        var b: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let h = it.next(), let l = it.next() { b.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) ?? 0) }
        guard b.count >= 54, b[12] == 8, b[13] == 0, b[14] == 0x45, b[23] == 6 else { return hex }
        let tcpLen = (Int(b[16]) << 8 | Int(b[17])) - 20
        guard tcpLen >= 20, 34 + tcpLen <= b.count else { return hex }
        func sum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var s: UInt32 = 0
            var i = bytes.startIndex
            while i < bytes.endIndex {
                s += UInt32(bytes[i]) << 8 | (i + 1 < bytes.endIndex ? UInt32(bytes[i + 1]) : 0)
                i += 2
            }
            while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
            return s
        }
        let pseudo = Array(b[26..<34]) + [0, 6, UInt8(tcpLen >> 8), UInt8(tcpLen & 0xff)]
        let partial = UInt16(sum(pseudo[...]))
        guard UInt16(b[50]) << 8 | UInt16(b[51]) == partial else { return hex }
        b[50] = 0
        b[51] = 0
        let full = ~UInt16(sum((pseudo + b[34..<(34 + tcpLen)])[...]))
        b[50] = UInt8(full >> 8)
        b[51] = UInt8(full & 0xff)
        return b.map { String(format: "%02x", $0) }.joined()
    }

    func testRepliesMatchTheKernelsByteForByte() throws {
        let kernelOut: String
        do {
            let k = try Topology("k")
            kernelOut = try k.probe(["probes"])
        }
        let x = try Topology("x")
        let dp = try Self.attach(x.fw)
        let s0 = try dp.stats()
        let xdpOut = try x.probe(["probes"])
        let s1 = try dp.stats()
        try Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") }

        let kernel = Self.parse(kernelOut).mapValues { $0.map(Self.completedTCPChecksum) }, xdp = Self.parse(xdpOut)
        XCTAssertGreaterThan(kernel.count, 40, "the prober ran every probe:\n\(kernelOut)")
        var same = 0, bytes = 0
        for name in kernel.keys.sorted() {
            let k = kernel[name] ?? [], v = xdp[name] ?? ["<missing>"]
            for frame in v where !Self.ipHeaderChecksumHolds(frame) { XCTFail("\(name): XDP's reply has a bad IP header checksum: \(frame)") }
            if k.map(Self.masked) == v.map(Self.masked) {
                same += 1
                bytes += k.reduce(0) { $0 + $1.count / 2 }
            } else {
                XCTFail("\(name): kernel sent \(k.count) frame(s), XDP layer \(v.count)\n kernel \(k)\n xdp    \(v)")
            }
        }
        print("REJECT replies: \(same)/\(kernel.count) probes identical (\(bytes) reply bytes compared, IP ID and IP checksum masked, "
            + "the kernel's partial RST checksums completed); "
            + "XDP answered \(s1.rejected - s0.rejected), dropped silently \(s1.rejectLimited - s0.rejectLimited), "
            + "passed up \(s1.rejectPassed - s0.rejectPassed)")
        // The probes XDP answers itself: one TX each (the kernel counted none of them).
        XCTAssertEqual(s1.rejected - s0.rejected, UInt64(Self.answeredByXDP.count))
        for name in Self.answeredByXDP { XCTAssertEqual(kernel[name]?.count, 1, "\(name): the kernel answers it") }
    }

    /// The ICMP rate limits: the same floods through the kernel's REJECT and through XDP's
    /// get the same number of replies. One source, 300 probes 5 ms apart: the per-destination
    /// bucket (icmp_ratelimit 1000 ms, 6 banked) lets 6 through and then about one a second.
    /// 150 sources, 2 probes each, back to back: the global credit (icmp_msgs_burst 50,
    /// refilled at icmp_msgs_per_sec 1000, 0-2 taken at random per message) decides.
    /// Tolerance: 2 replies for the first (timing at the second boundaries); 25 % + 5 for the
    /// second (the kernel's random consumption: each message costs 0, 1 or 2 credits).
    func testRateLimitsMatchTheKernel() throws {
        let floods: [(name: String, args: [String], tolerance: (Int) -> Int)] = [
            ("one source", ["flood", "300", "1", "0.005"], { _ in 2 }),
            ("150 sources", ["flood", "300", "150", "0"], { $0 / 4 + 5 }),
        ]
        func replies(_ out: String) -> Int? {
            let f = out.split(separator: " ")
            return f.count >= 2 && f[0] == "replies" ? Int(f[1]) : nil
        }
        for flood in floods {
            let kernelOut: String
            do {
                let k = try Topology("k")
                kernelOut = try k.probe(flood.args)
            }
            let x = try Topology("x")
            let dp = try Self.attach(x.fw)
            let s0 = try dp.stats()
            let xdpOut = try x.probe(flood.args)
            let s1 = try dp.stats()
            try Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") }
            let k = try XCTUnwrap(replies(kernelOut), kernelOut), v = try XCTUnwrap(replies(xdpOut), xdpOut)
            print("REJECT rate, \(flood.name): kernel \(k) replies (\(kernelOut.split(separator: "\n").first ?? "")), "
                + "XDP \(v) (answered \(s1.rejected - s0.rejected), limited \(s1.rejectLimited - s0.rejectLimited), "
                + "passed up \(s1.rejectPassed - s0.rejectPassed))")
            XCTAssertLessThanOrEqual(abs(k - v), flood.tolerance(k), "\(flood.name): kernel \(k), XDP \(v)")
            XCTAssertEqual(s1.rejectPassed - s0.rejectPassed, 0, "XDP answered or limited every probe itself")
        }
    }

    /// ns/packet of a REJECTed flood (BPF_PROG_TEST_RUN with live frames on fw's f0, the
    /// calling thread's CPU time: the program, and for passed frames the kernel's stack and
    /// iptables REJECT with its reply): TCP SYNs to a tcp-reset port (never rate limited) and
    /// UDP to an icmp-port-unreachable port (rate limited after the first few: what a flood
    /// mostly costs is the limiter's drop), answered in
    /// XDP, answered by the kernel (XDP passing everything up), and a bare XDP drop.
    func testBenchRejectedFlood() throws {
        let x = try Topology("b")
        let rs = try RestoreParser.parse(Self.ruleset, options: .init())
        let rejecting = Compiler.compile(rs, interface: "f0").tables
        var passAll = CompiledTables()
        passAll.policy = .accept
        var dropAll = CompiledTables()
        dropAll.policy = .drop
        let syn = Self.frame(proto: 6, l4: [0x9c, 0x41, 0x00, 0x50, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0])
        let udp = Self.frame(proto: 17, l4: [0xc3, 0x50, 0x03, 0xeb, 0x00, 0x1c, 0, 0] + [UInt8](repeating: 0x61, count: 20))
        let count: UInt32 = 64_000
        // Some kernels refuse live frames to every program (EPERM, even to a bare XDP_DROP;
        // bench/RESULTS.md): then there is nothing this bench can measure.
        do {
            _ = try DropPathTrafficTests.attach(x.fw, "f0", dropAll)
            defer { try? Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") } }
            _ = try Privileged.inNamespace(x.fw.name) {
                try XDPProgramHandle.attached(to: "f0").liveFrames(syn, ingress: "f0", count: 1, batchSize: 1)
            }
        } catch let e as LoaderError where e.code.map(abs) == EPERM {
            throw XCTSkip("this kernel refuses BPF_PROG_TEST_RUN with live frames (\(e)): the REJECT flood bench needs them")
        }
        var lines: [String] = []
        for (name, tables) in [("kernel REJECT (XDP passes)", passAll), ("XDP REJECT", rejecting), ("bare XDP drop", dropAll)] {
            let dp = try DropPathTrafficTests.attach(x.fw, "f0", tables)
            for (what, frame) in [("TCP SYN -> tcp-reset", syn), ("UDP -> icmp-port-unreachable", udp)] {
                var samples: [Double] = []
                for _ in 0..<3 {
                    // Calls of one batch each: live mode resets only a frame's pointers between
                    // repetitions, not its bytes, so a page reused within a call would carry the
                    // reply XDP built in it; each call starts from fresh pages of the frame.
                    let (ns, packets) = try Privileged.inNamespace(x.fw.name) {
                        let prog = try XDPProgramHandle.attached(to: "f0")
                        var ns: UInt64 = 0, packets: UInt64 = 0
                        for _ in 0..<(count / 64) {
                            let cost = try prog.liveFrames(frame, ingress: "f0", count: 64, batchSize: 64)
                            ns += cost.threadCPUNanoseconds
                            packets += cost.packets
                        }
                        return (ns, packets)
                    }
                    samples.append(Double(ns) / Double(packets))
                }
                let median = samples.sorted()[1]
                lines.append("\(name), \(what): \(Int(median)) ns/packet (median of 3 x \(count))")
            }
            let st = try dp.stats()
            lines.append("  stats: rejected \(st.rejected), limited \(st.rejectLimited), passed up \(st.rejectPassed), dropped \(st.dropped), "
                + "passed \(st.passed), untouched \(st.untouched)")
            try Privileged.inNamespace(x.fw.name) { try Dataplane.detach(interface: "f0") }
        }
        print("REJECT bench:\n" + lines.joined(separator: "\n"))
    }

    /// gen -> fw frame from 198.18.40.11 with a valid transport checksum.
    static func frame(proto: UInt8, l4 l4in: [UInt8]) -> [UInt8] {
        func mac(_ s: String) -> [UInt8] { s.split(separator: ":").map { UInt8($0, radix: 16) ?? 0 } }
        func sum(_ b: [UInt8]) -> UInt32 {
            var s: UInt32 = 0
            var i = 0
            while i < b.count {
                s += UInt32(b[i]) << 8 | (i + 1 < b.count ? UInt32(b[i + 1]) : 0)
                i += 2
            }
            while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
            return s
        }
        let src: [UInt8] = [198, 18, 40, 11], dst: [UInt8] = [198, 18, 20, 1]
        var l4 = l4in
        let pseudo = src + dst + [0, proto, UInt8(l4.count >> 8), UInt8(l4.count & 0xff)]
        let c = ~UInt16(truncatingIfNeeded: sum(pseudo + l4))
        let at = proto == 6 ? 16 : 6
        l4[at] = UInt8(c >> 8)
        l4[at + 1] = UInt8(c & 0xff)
        let total = 20 + l4.count
        var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0x12, 0x34, 0, 0, 64, proto, 0, 0] + src + dst
        let ic = ~UInt16(truncatingIfNeeded: sum(ip))
        ip[10] = UInt8(ic >> 8)
        ip[11] = UInt8(ic & 0xff)
        return mac(fwMAC) + mac(genMAC) + [0x08, 0x00] + ip + l4
    }
}
