import ChildProcess
import Foundation
import Glibc
import Loader

/// `send`: the end-to-end generator. Sends copies of one UDP frame to port 5060 out of
/// `--interface` (an AF_PACKET socket) at `--rate` packets/s, or as
/// fast as it can with `--rate 0`, until `--count` frames or `--max-seconds` have gone.
/// Runs in the generator namespace; prints `sent seconds`.
struct SendCommand {
    static let usage = "send --interface IF --source A.B.C.D --destination A.B.C.D --dst-mac MAC "
        + "--rate PPS --count N [--max-seconds S]"

    let interface: String
    let frame: [UInt8]
    let rate: Int
    let count: Int
    let maxSeconds: Double

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        let udp = UDPFrame(source: try o.address("source"), destination: try o.address("destination"))
        var bytes = udp.bytes(destinationMAC: try macBytes(try o.string("dst-mac")))
        bytes.replaceSubrange(6..<12, with: try interfaceMAC(interface))
        frame = bytes
        rate = try o.int("rate")
        count = try o.int("count")
        maxSeconds = try o.double("max-seconds", default: 10)
    }

    func run() throws {
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        guard fd >= 0 else { throw BenchError(description: "AF_PACKET socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // struct sockaddr_ll (linux/if_packet.h), which Swift's Glibc does not import:
        // family u16, protocol be16, ifindex i32, then hatype, pkttype, halen, addr[8].
        var sll = [UInt8](repeating: 0, count: 20)
        let index = Int32(if_nametoindex(interface))
        guard index > 0 else { throw BenchError(description: "no interface \(interface)") }
        withUnsafeBytes(of: UInt16(AF_PACKET)) { sll.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: UInt16(0x0003).bigEndian) { sll.replaceSubrange(2..<4, with: $0) } // ETH_P_ALL
        withUnsafeBytes(of: index) { sll.replaceSubrange(4..<8, with: $0) }
        let b = sll.withUnsafeBytes { bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), 20) }
        guard b == 0 else { throw BenchError(description: "bind AF_PACKET to \(interface): \(String(cString: strerror(errno)))") }

        // One send(2) per frame: sendmmsg is not in Swift's Glibc either, and one call per
        // frame still reaches several hundred thousand frames/s, above what is measured.
        let batch = 32
        let start = monotonicSeconds()
        var sent = 0
        var elapsed = 0.0
        try frame.withUnsafeBytes { f in
            while sent < count && elapsed < maxSeconds {
                elapsed = monotonicSeconds() - start
                var n = min(batch, count - sent)
                if rate > 0 {
                    let due = Int(Double(rate) * elapsed) - sent
                    if due <= 0 {
                        var ts = timespec(tv_sec: 0, tv_nsec: 50_000)
                        nanosleep(&ts, nil)
                        continue
                    }
                    n = min(n, due)
                }
                for _ in 0..<n {
                    if send(fd, f.baseAddress, f.count, 0) < 0 {
                        if errno == ENOBUFS || errno == EAGAIN { continue }
                        throw BenchError(description: "send on \(interface): \(String(cString: strerror(errno)))")
                    }
                    sent += 1
                }
            }
        }
        print("\(sent) \(fixed(monotonicSeconds() - start, 6))")
    }
}

/// `netrx`: NET_RX softirq time, machine-wide, while a command runs (the generator, or
/// SIPp), from the tracepoint meter of bench/softirq_meter.bpf.c. First an idle window of
/// `--idle-ms` without the command (the "initial" load), then the command, sampled every
/// `--interval-ms`. Prints `key value` lines:
///   idle_pct P          NET_RX % of one core in the idle window
///   netrx_ns N          NET_RX nanoseconds while the command ran
///   wall_ns W           how long it ran
///   runs R              NET_RX softirq runs meanwhile
///   packets K           packets NAPI polls handled meanwhile (what NET_RX worked on)
///   max_pct P           the busiest interval, % of one core
///   intervals P P ...   every interval, % of one core
struct NetRxCommand {
    static let usage = "netrx --meter OBJ [--idle-ms MS] [--interval-ms MS] -- COMMAND..."

    let meterPath: String
    let idle: Double
    let interval: Double
    let command: [String]

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        meterPath = try o.string("meter")
        idle = Double(try o.int("idle-ms", default: 1000)) / 1000
        interval = Double(try o.int("interval-ms", default: 1000)) / 1000
        command = o.trailing
        guard !command.isEmpty else { throw BenchError(description: Self.usage) }
    }

    func run() throws {
        var meter = try BPFObjectFile(path: meterPath)
        try meter.attachAll()
        typealias Reading = (ns: UInt64, runs: UInt64, packets: UInt64, at: Double)
        func reading() throws -> Reading {
            (try meter.perCPUValues(map: "netrx_total", key: 0).reduce(0, +),
             try meter.perCPUValues(map: "netrx_total", key: 1).reduce(0, +),
             try meter.perCPUValues(map: "netrx_total", key: 2).reduce(0, +), monotonicSeconds())
        }
        func percent(_ a: Reading, _ b: Reading) -> Double {
            Double(b.ns - a.ns) / ((b.at - a.at) * 1e9) * 100
        }
        let idleStart = try reading()
        Thread.sleep(forTimeInterval: idle)
        let start = try reading()

        // The command shares our terminal and process group: it may read the terminal, and
        // Ctrl-C stops it along with us.
        var child = try ChildProcess.spawn(.init(command[0], arguments: Array(command.dropFirst()), stdin: .inherit,
                                                 stdout: .inherit, stderr: .inherit, newProcessGroup: false))
        var intervals: [Double] = []
        var last = start
        var termination: ChildProcess.Termination?
        while termination == nil {
            termination = try child.checkExit(waitingUpTo: .seconds(min(interval, 0.05)))
            let now = try reading()
            if now.at - last.at >= interval {
                intervals.append(percent(last, now))
                last = now
            }
        }
        let end = try reading()
        // The tail shorter than one interval counts only when it is at least half of one.
        if end.at - last.at >= interval / 2 { intervals.append(percent(last, end)) }
        print("idle_pct \(fixed(percent(idleStart, start), 3))")
        print("netrx_ns \(end.ns - start.ns)")
        print("wall_ns \(UInt64((end.at - start.at) * 1e9))")
        print("runs \(end.runs - start.runs)")
        print("packets \(end.packets - start.packets)")
        print("max_pct \(fixed(intervals.max() ?? percent(start, end), 3))")
        print("intervals " + intervals.map { fixed($0, 2) }.joined(separator: " "))
        guard let status = termination?.status, status == 0 else {
            throw BenchError(description: "\(command.joined(separator: " ")): exit status \(termination?.status ?? -1)")
        }
    }
}
