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
        case .hashlimit(let h, let above, _):
            e.kind = UInt16(EIPT_EXT_HASHLIMIT.rawValue)
            e.neg = above ? 1 : 0
            var x = eipt_ext_hashlimit()
            x.avg = h.average
            x.burst = h.burst
            x.mode = h.mode
            x.table = fnv1a(h.name)
            x.max = min(kernelMax(h), perTable)
            x.expire_ms = h.expireMs
            x.srcmask = h.sourceMask
            x.dstmask = h.destinationMask
            ExtEncoding.put(x, into: &e)
        default:
            preconditionFailure("not a stateful kind") // ExtEncoding sends only these three
        }
        return e
    }

    /// Entries XDP creates per hashlimit table: 8 tables fill ext_hashlimit_entries (65536).
    static let perTable: UInt32 = 8192

    /// The table's id in ext_hashlimit_entries: FNV-1a of its name, the same at every restore.
    static func fnv1a(_ s: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// htable_create's size and max: size from memory when not given (RAM / 16384 / 8,
    /// 8192 above 1 GiB, at least 16), max 8 * size when not given, never below size.
    static func kernelMax(_ h: Hashlimit) -> UInt32 {
        var size = h.size
        if size == 0 {
            let bytes = memTotalBytes()
            size = bytes > 1 << 30 ? 8192 : UInt32(clamping: Swift.max(16, bytes / 16384 / 8))
        }
        if h.max == 0 { return size &* 8 }
        return Swift.max(h.max, size)
    }

    static func memTotalBytes() -> UInt64 {
        guard let f = fopen("/proc/meminfo", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("MemTotal:") {
                let kb = s.split(separator: " ").compactMap { UInt64($0) }.first ?? 0
                return kb * 1024
            }
        }
        return 0
    }

    /// A stamp for one generation write: CLOCK_MONOTONIC in ns, which differs between
    /// writes and from the zero of a fresh state map.
    static func writeStamp() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return max(1, UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }
}
