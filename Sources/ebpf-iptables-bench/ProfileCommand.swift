import Foundation
import Loader

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
