import Foundation
import Loader

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

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        try process.run()
        var intervals: [Double] = []
        var last = start
        while process.isRunning {
            Thread.sleep(forTimeInterval: min(interval, 0.05))
            let now = try reading()
            if now.at - last.at >= interval {
                intervals.append(percent(last, now))
                last = now
            }
        }
        process.waitUntilExit()
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
        guard process.terminationStatus == 0 else {
            throw BenchError(description: "\(command.joined(separator: " ")): exit status \(process.terminationStatus)")
        }
    }
}
