import Loader

/// `profile`: where one flood packet's cost goes, for the XDP program attached to the TAP
/// device `--interface`: the program's own run time per packet from the kernel's BPF
/// run-time statistics, against the writing thread's CPU time per frame over the same
/// frames (see TapCostCommand), plus the program's size. Prints `key value` lines.
struct ProfileCommand {
    static let usage = "profile --interface TAP --source ADDR --destination ADDR [--dport P] [--icmpv6-type T] (IPv4 or IPv6, as tap-cost)"

    let cost: TapCostCommand

    init(_ words: [String]) throws {
        cost = try TapCostCommand(words)
    }

    func run() throws {
        let program = try XDPProgramHandle.attached(to: cost.interface)
        var run = TapRun(tap: try TapDevice(name: cost.interface), sink: try UDPSink(port: 5060, ipv6: cost.ipv6), frame: cost.frame)
        _ = try run.measure(count: 20_000)
        let stats = try BPFRunStats()
        let before = try program.profile()
        let spent = try run.measure(count: 200_000)
        let after = try program.profile()
        _ = consume stats
        let runs = max(after.runs - before.runs, 1)
        print("program_ns \(fixed(Double(after.runTimeNanoseconds - before.runTimeNanoseconds) / Double(runs), 1))")
        print("thread_ns \(fixed(spent.nanosecondsPerPacket, 1))")
        print("runs \(runs)")
        print("verified_insns \(after.verifiedInstructions)")
        print("xlated_insns \(after.translatedInstructions)")
        print("jited_bytes \(after.jitedBytes)")
        print("maps \(after.maps)")
    }
}
