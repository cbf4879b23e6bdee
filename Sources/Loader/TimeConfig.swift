import CLibbpf
import Glibc

extension Dataplane {
    /// Writes time_config (bpf/ext_time.h): the kernel's TAI offset, which the program
    /// subtracts from CLOCK_TAI to read the realtime clock xt_time tests. Called with every
    /// table write. The offset changes only through adjtimex (ADJ_TAI: chrony or ntpd
    /// setting it, a leap second); until the next write the program would be off by the
    /// change — except that the program also checks CLOCK_TAI against CLOCK_MONOTONIC, which
    /// such a change moves, and answers MAYBE from then on (docs/time.md). `offset` nil: read
    /// it now; unreadable: written invalid, and every time test answers MAYBE.
    /// `taiMonotonic` nil: CLOCK_TAI - CLOCK_MONOTONIC now.
    public func writeTimeConfig(taiOffset offset: Int64? = nil, taiMonotonic: Int64? = nil) throws(LoaderError) {
        var c = eipt_time_config()
        if let o = offset ?? Self.currentTAIOffset(), let m = taiMonotonic ?? Self.currentTAIMonotonic() {
            c.tai_offset = o
            c.tai_mono_ns = m
            c.valid = 1
        }
        try map("time_config").update(UInt32(0), c)
    }

    /// Writes time_config as unknown: every time test answers MAYBE (the kernel decides).
    public func clearTimeConfig() throws(LoaderError) {
        try map("time_config").update(UInt32(0), eipt_time_config())
    }

    /// CLOCK_TAI - CLOCK_MONOTONIC in ns (the kernel's offs_tai); nil when unreadable.
    public static func currentTAIMonotonic() -> Int64? {
        var v: Int64 = 0
        return eipt_read_tai_mono_ns(&v) == 0 ? v : nil
    }

    /// adjtimex's `tai` (CLOCK_TAI - CLOCK_REALTIME in whole seconds); nil when unreadable.
    public static func currentTAIOffset() -> Int64? {
        var v: Int64 = 0
        return eipt_read_tai_offset(&v) == 0 ? v : nil
    }
}
