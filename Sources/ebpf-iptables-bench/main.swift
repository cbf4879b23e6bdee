import Foundation

// ebpf-iptables-bench                       XDP cost and load times for the issue 3 whitelist
// ebpf-iptables-bench --sizes 10,1000       the same for other set sizes (first is the baseline)
// ebpf-iptables-bench write-whitelist N DIR  DIR/whitelist.rules and DIR/whitelist.ipset, N members
// ebpf-iptables-bench stateful-cost [REPEAT]  ns/packet of a flood decided by limit+LOG, hashlimit
// ebpf-iptables-bench xdp-cost6 [--sizes N,...] [--repeat R] [--reps K]  the IPv6 whitelist's ns/packet (TSV)
// ebpf-iptables-bench tap-cost|send|netrx|profile|restore-split|fill-xdp-filter ...   the steps scripts/bench runs (see each file)
// Needs root (BPF) for the benchmark. Prints numbers; fails only when a verdict is wrong.

let usage = "usage: ebpf-iptables-bench [--sizes N,N,...] | write-whitelist N DIR | xdp-cost6 ... | tap-cost ... | profile ... | restore-split ... | send ... | netrx ... | fill-xdp-filter ..."
var arguments = Array(CommandLine.arguments.dropFirst())

do {
    let rest = Array(arguments.dropFirst())
    if arguments.first == "tap-cost" {
        try TapCostCommand(rest).run()
    } else if arguments.first == "send" {
        try SendCommand(rest).run()
    } else if arguments.first == "netrx" {
        try NetRxCommand(rest).run()
    } else if arguments.first == "profile" {
        try ProfileCommand(rest).run()
    } else if arguments.first == "restore-split" {
        try RestoreSplitCommand(rest).run()
    } else if arguments.first == "xdp-cost6" {
        try XdpCost6Command(rest).run()
    } else if arguments.first == "stateful-cost" {
        try StatefulCostCommand(rest).run()
    } else if arguments.first == "fill-xdp-filter" {
        try FillXdpFilterCommand(rest).run()
    } else if arguments.first == "write-whitelist" {
        guard arguments.count == 3, let n = Int(arguments[1]), n >= 0 else { throw BenchError(description: usage) }
        let w = WhitelistRuleset(members: n)
        try w.rulesText.write(toFile: arguments[2] + "/whitelist.rules", atomically: false, encoding: .utf8)
        try w.ipsetText.write(toFile: arguments[2] + "/whitelist.ipset", atomically: false, encoding: .utf8)
    } else {
        var bench = XdpCostBenchmark(sizes: [10, 1_000, 100_000, 1_000_000])
        if arguments.first == "--sizes", arguments.count == 2 {
            let sizes = arguments[1].split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty, sizes.count == arguments[1].split(separator: ",").count else {
                throw BenchError(description: usage)
            }
            bench.sizes = sizes
        } else if !arguments.isEmpty {
            throw BenchError(description: usage)
        }
        try bench.run()
    }
} catch {
    FileHandle.standardError.write(Data("ebpf-iptables-bench: \(error)\n".utf8))
    exit(1)
}
