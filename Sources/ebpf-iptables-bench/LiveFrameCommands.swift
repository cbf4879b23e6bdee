import Foundation
import Loader

/// `live-cost`: CPU nanoseconds per packet of one data path, with BPF_PROG_TEST_RUN and
/// BPF_F_TEST_XDP_LIVE_FRAMES on the receiving veth of a firewall namespace (the process
/// runs inside it, under `ip netns exec`). The program is either the one attached to the
/// interface (ebpf-iptables, xdp-filter) or one of an object file (the bare drop floor, or
/// the bare pass that hands every frame to netfilter). Prints `ns_per_packet packets`.
///
/// The frame is one UDP datagram to port 5060 of the interface's address from a source
/// outside the whitelist: the SIP flood case, which every competitor drops.
struct LiveCostCommand {
    static let usage = "live-cost --interface IF --source A.B.C.D --destination A.B.C.D "
        + "[--object FILE --program NAME] [--expect drop|pass] [--seconds S]"

    let interface: String
    let frame: [UInt8]
    let objectPath: String?
    let programName: String
    let expect: UInt32?
    /// Target duration of the measured run; the warm-up sizes it.
    let seconds: Double

    init(_ words: [String]) throws {
        let o = try CommandLineOptions(words, usage: Self.usage)
        interface = try o.string("interface")
        let udp = UDPFrame(source: try o.address("source"), destination: try o.address("destination"))
        frame = udp.bytes(destinationMAC: try interfaceMAC(interface))
        objectPath = o.optional("object")
        programName = o.optional("program") ?? "xdp_pass"
        switch o.optional("expect") {
        case nil: expect = nil
        case "drop": expect = XDPAction.drop
        case "pass": expect = XDPAction.pass
        case let other?: throw BenchError(description: "--expect \(other): drop or pass")
        }
        seconds = try o.double("seconds", default: 0.25)
    }

    func run() throws {
        if let objectPath {
            let object = try BPFObjectFile(path: objectPath)
            try measure(try object.program(programName))
        } else {
            try measure(try XDPProgramHandle.attached(to: interface))
        }
    }

    private func measure(_ program: borrowing XDPProgramHandle) throws {
        if let expect {
            let action = try program.verdict(frame: frame, ingress: interface)
            guard action == expect else {
                throw BenchError(description: "\(interface): XDP action \(action), expected \(expect) (1 DROP, 2 PASS)")
            }
        }
        // Warm caches and size the run from the warm-up's cost: the netfilter paths with
        // long linear rule lists cost 1,000x more per packet than a bare drop.
        var warm = try program.liveFrames(frame, ingress: interface, count: 2_000)
        warm = try program.liveFrames(frame, ingress: interface, count: 2_000)
        let perPacket = max(warm.nanosecondsPerPacket, 1)
        let count = UInt32(min(max(seconds * 1e9 / perPacket, 1_000), 5_000_000))
        let cost = try program.liveFrames(frame, ingress: interface, count: count)
        print("\(fixed(cost.nanosecondsPerPacket, 1)) \(cost.packets)")
    }
}

/// `profile`: where one flood packet's cost goes, for the program attached to
/// `--interface` (or one of an object file): the program's own run time per packet from
/// the kernel's BPF run-time statistics, against the calling thread's CPU time for the
/// whole live-frame run, plus the program's size. Prints `key value` lines.
struct ProfileCommand {
    static let usage = "profile --interface IF --source A.B.C.D --destination A.B.C.D [--object FILE --program NAME]"

    let live: LiveCostCommand

    init(_ words: [String]) throws {
        live = try LiveCostCommand(words)
    }

    func run() throws {
        if let path = live.objectPath {
            let object = try BPFObjectFile(path: path)
            try measure(try object.program(live.programName))
        } else {
            try measure(try XDPProgramHandle.attached(to: live.interface))
        }
    }

    private func measure(_ program: borrowing XDPProgramHandle) throws {
        _ = try program.liveFrames(live.frame, ingress: live.interface, count: 20_000)
        let count: UInt32 = 200_000
        let stats = try BPFRunStats()
        let before = try program.profile()
        let cost = try program.liveFrames(live.frame, ingress: live.interface, count: count)
        let after = try program.profile()
        _ = consume stats
        let runs = max(after.runs - before.runs, 1)
        print("program_ns \(fixed(Double(after.runTimeNanoseconds - before.runTimeNanoseconds) / Double(runs), 1))")
        print("thread_ns \(fixed(cost.nanosecondsPerPacket, 1))")
        print("runs \(runs)")
        print("verified_insns \(after.verifiedInstructions)")
        print("xlated_insns \(after.translatedInstructions)")
        print("jited_bytes \(after.jitedBytes)")
        print("maps \(after.maps)")
    }
}
