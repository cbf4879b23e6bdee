import CLibbpf
import Compiler
import Glibc

/// The stateful kinds' rows (bpf/ext_limit.h, bpf/ext_statistic.h).
enum StatefulExtEncoding {
    static func encode(_ t: ExtTest, stamp: UInt64) -> eipt_ext {
        var e = eipt_ext()
        switch t {
        case .limit(let average, let burst, _):
            e.kind = UInt16(EIPT_EXT_LIMIT.rawValue)
            ExtEncoding.put(eipt_ext_limit(avg: average, burst: burst, stamp: stamp), into: &e)
        case .statistic(let mode, let negated, _):
            e.kind = UInt16(EIPT_EXT_STATISTIC.rawValue)
            e.neg = negated ? 1 : 0
            var s = eipt_ext_statistic()
            s.stamp = stamp
            switch mode {
            case .random(let p):
                s.mode = UInt32(EIPT_STATISTIC_RANDOM.rawValue)
                s.probability = p
            case .nth(let every, let count):
                s.mode = UInt32(EIPT_STATISTIC_NTH.rawValue)
                s.every = every
                s.count = count
            }
            ExtEncoding.put(s, into: &e)
        case .mac:
            preconditionFailure("not a stateful kind")
        }
        return e
    }

    /// A stamp for one generation write: CLOCK_MONOTONIC in ns, which differs between
    /// writes and from the zero of a fresh state map.
    static func writeStamp() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return max(1, UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }
}
