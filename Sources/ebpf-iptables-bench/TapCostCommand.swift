import Foundation
import Glibc
import Loader

/// `tap-cost`: CPU nanoseconds per packet of one data path: frames written to the firewall
/// namespace's TAP device (see TapDevice), the writing thread's CPU time per frame
/// (CLOCK_THREAD_CPUTIME_ID): the write itself, the XDP program attached to the tap if any,
/// and, for a frame it passes, the kernel's receive path up to the UDP socket on port 5060
/// or the netfilter rule that drops it. The process runs inside the namespace (`ip netns
/// exec`). Prints `ns_per_packet measured written delivered`: the figure, the frames it
/// was taken over, and all frames written and datagrams the socket received (warm-up
/// included), which the script checks against the rulesets' counters.
///
/// `--expect drop|pass` checks the attached program's verdict on the frame first (one plain
/// BPF_PROG_TEST_RUN); `--deliver all|none` checks that every frame, or none, reached the
/// socket. Either failing is an error: a figure is never printed for the wrong path.
struct TapCostCommand {
    static let usage = "tap-cost --interface TAP (--source A.B.C.D --destination A.B.C.D [--payload-file F] | --ip-hex HEX "
        + "| --source IPV6 --destination IPV6 [--icmpv6-type T]) [--dport P] [--expect drop|pass|tx] [--deliver all|none] [--seconds S]"

    enum Delivery: String { case all, none }

    let interface: String
    let frame: [UInt8]
    /// An IPv6 frame (the source is an IPv6 address): the socket that proves delivery is an
    /// IPv6 one.
    let ipv6: Bool
    let expect: UInt32?
    let delivery: Delivery?
    /// Target duration of the measured run; the warm-up sizes it.
    let seconds: Double

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        let mac = try interfaceMAC(interface)
        let dport = UInt16(try o.int("dport", default: 5060))
        ipv6 = o.optional("source")?.contains(":") ?? false
        if let hex = o.optional("ip-hex") {
            // Any IPv4 packet (rule kinds other than the whitelist: a SIP payload, a TCP SYN...).
            frame = try ipFrame(hex: hex, destinationMAC: mac)
        } else if ipv6 {
            // The IPv6 flood (scripts/bench's IPv6 rows), or with --icmpv6-type an ICMPv6 frame.
            var f = IPv6Frame(source: try o.address6("source"), destination: try o.address6("destination"))
            f.transport = .udp(sourcePort: 40000, destinationPort: dport)
            if let t = o.optional("icmpv6-type") {
                guard let type = UInt8(t) else { throw BenchError(description: "--icmpv6-type \(t): 0 to 255") }
                f.transport = .icmpv6(type: type, code: 0)
            }
            frame = f.bytes(destinationMAC: mac)
        } else {
            var udp = UDPFrame(source: try o.address("source"), destination: try o.address("destination"))
            udp.destinationPort = dport
            if let f = o.optional("payload-file") {
                guard let d = FileManager.default.contents(atPath: f) else { throw BenchError(description: "--payload-file \(f): cannot read") }
                udp.payload = Array(d)
            }
            frame = udp.bytes(destinationMAC: mac)
        }
        switch o.optional("expect") {
        case nil: expect = nil
        case "drop": expect = XDPAction.drop
        case "pass": expect = XDPAction.pass
        case "tx": expect = XDPAction.tx
        case let other?: throw BenchError(description: "--expect \(other): drop, pass or tx")
        }
        if let d = o.optional("deliver") {
            guard let v = Delivery(rawValue: d) else { throw BenchError(description: "--deliver \(d): all or none") }
            delivery = v
        } else {
            delivery = nil
        }
        seconds = try o.double("seconds", default: 0.25)
    }

    func run() throws {
        if let expect {
            let program = try XDPProgramHandle.attached(to: interface)
            let action = try program.verdict(frame: frame, ingress: interface)
            guard action == expect else {
                throw BenchError(description: "\(interface): XDP action \(action), expected \(expect) (1 DROP, 2 PASS)")
            }
        }
        let sink = try UDPSink(port: 5060, ipv6: ipv6)
        let tap = try TapDevice(name: interface)
        var run = TapRun(tap: tap, sink: sink, frame: frame)
        // Warm caches, then size the run from a second warm-up: the netfilter paths with
        // long linear rule lists cost 1,000x more per packet than a bare drop.
        _ = try run.measure(count: 2_000)
        let warm = try run.measure(count: 2_000)
        let count = Int(min(max(seconds * 1e9 / max(warm.nanosecondsPerPacket, 1), 1_000), 2_000_000))
        let cost = try run.measure(count: count)
        switch delivery {
        case .all? where run.delivered != run.written:
            throw BenchError(description: "\(interface): \(run.delivered) of \(run.written) frames reached the socket, expected all")
        case .none? where run.delivered != 0:
            throw BenchError(description: "\(interface): \(run.delivered) of \(run.written) frames reached the socket, expected none")
        default: break
        }
        print("\(fixed(cost.nanosecondsPerPacket, 1)) \(cost.packets) \(run.written) \(run.delivered)")
    }
}

/// An Ethernet frame around the IPv4 packet `hex` (two hex digits a byte), padded to 60 bytes.
func ipFrame(hex: String, destinationMAC: [UInt8]) throws -> [UInt8] {
    let digits = Array(hex.utf8)
    guard digits.count % 2 == 0, digits.count >= 40 else { throw BenchError(description: "--ip-hex: an IPv4 packet, two hex digits a byte") }
    var ip: [UInt8] = []
    for i in stride(from: 0, to: digits.count, by: 2) {
        guard let b = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else {
            throw BenchError(description: "--ip-hex: '\(String(decoding: digits[i..<i + 2], as: UTF8.self))' is not a hex byte")
        }
        ip.append(b)
    }
    var frame = destinationMAC + [0x02, 0, 0, 0, 0, 2, 0x08, 0x00] + ip
    if frame.count < 60 { frame += [UInt8](repeating: 0, count: 60 - frame.count) }
    return frame
}

/// Frames written in timed batches, the socket drained between them (untimed).
struct TapRun: ~Copyable {
    let tap: TapDevice
    let sink: UDPSink
    let frame: [UInt8]
    private(set) var written = 0
    private(set) var delivered = 0

    init(tap: consuming TapDevice, sink: consuming UDPSink, frame: [UInt8]) {
        self.tap = tap
        self.sink = sink
        self.frame = frame
    }

    /// Batches small enough that the socket never overflows between drains.
    static let batch = 512

    mutating func measure(count: Int) throws -> TapCost {
        var spent: UInt64 = 0
        var left = count
        while left > 0 {
            let n = min(Self.batch, left)
            let start = threadCPUNanoseconds()
            try tap.write(frame, count: n)
            spent += threadCPUNanoseconds() - start
            written += n
            delivered += sink.drain()
            left -= n
        }
        return TapCost(packets: count, threadCPUNanoseconds: spent)
    }
}

/// What one run of frames cost the writing thread.
struct TapCost {
    var packets: Int
    var threadCPUNanoseconds: UInt64
    var nanosecondsPerPacket: Double { Double(threadCPUNanoseconds) / Double(max(packets, 1)) }
}

/// CPU time of the calling thread, ns.
func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
