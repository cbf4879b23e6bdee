import CLibbpf
import Glibc

/// What the kernel knows about a loaded program: its size after verification, and (while
/// `BPFRunStats` is held) how long its runs took. The benchmark uses it to split a
/// packet's cost into the program itself and what surrounds it.
public struct ProgramProfile: Equatable, Sendable {
    /// Instructions the verifier processed while loading (all paths, not one packet's).
    public var verifiedInstructions: UInt32
    /// Instructions of the translated program (after the verifier's rewrites).
    public var translatedInstructions: UInt32
    /// Bytes of JIT-compiled machine code.
    public var jitedBytes: UInt32
    /// Maps the program uses.
    public var maps: UInt32
    /// Total run time and runs counted while run-time statistics were enabled.
    public var runTimeNanoseconds: UInt64
    public var runs: UInt64
}

extension XDPProgramHandle {
    /// The program's profile now; run figures grow only while `BPFRunStats` is held.
    public func profile() throws(LoaderError) -> ProgramProfile {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = bpf_obj_get_info_by_fd(fd.raw, &info, &len)
        guard r == 0 else { throw LoaderError.errno("read program info", r) }
        return ProgramProfile(verifiedInstructions: info.verified_insns,
                              translatedInstructions: info.xlated_prog_len / 8,
                              jitedBytes: info.jited_prog_len, maps: info.nr_map_ids,
                              runTimeNanoseconds: info.run_time_ns, runs: info.run_cnt)
    }
}

/// Kernel-wide BPF run-time statistics (BPF_ENABLE_STATS), on while this value lives.
/// They cost two clock reads per program run for every program on the machine, so hold
/// them only around a measurement.
public struct BPFRunStats: ~Copyable {
    let fd: OwnedFD

    public init() throws(LoaderError) {
        let fd = bpf_enable_stats(BPF_STATS_RUN_TIME)
        guard fd >= 0 else { throw LoaderError.errno("enable bpf run-time statistics", fd) }
        self.fd = OwnedFD(fd)
    }
}
