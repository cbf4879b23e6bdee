import CLibbpf
import Compiler
import Glibc

/// One address of a recent list as XDP keeps it (`struct eipt_recent_entry`), in the terms
/// /proc/net/xt_recent/NAME prints: `src=ADDR ttl: T last_seen: J oldest_pkt: I S, S, ...`.
public struct RecentEntry: Equatable, Sendable {
    /// Host order.
    public var address: UInt32
    public var ttl: UInt8
    /// The kernel's `e->index` (printed as oldest_pkt): the next ring slot.
    public var index: UInt8
    /// `stamps[0..<nstamps]`, in ring order, jiffies.
    public var stamps: [UInt64]
    /// The ring mask the list's rules give (last_seen is stamps[(index - 1) & mask]).
    public var ringMask: UInt32

    public var lastSeen: UInt64 {
        let i = Int((UInt32(index) &- 1) & ringMask)
        return i < stamps.count ? stamps[i] : 0
    }

    /// The line recent_seq_show prints for an IPv4 entry.
    public var procLine: String {
        let a = address
        let addr = "\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)"
        var line = "src=\(addr) ttl: \(ttl) last_seen: \(lastSeen) oldest_pkt: \(index)"
        for (i, s) in stamps.enumerated() { line += (i == 0 ? " " : ", ") + String(s) }
        return line
    }
}

/// The recent lists XDP keeps (`recent`, `recent_lists` maps, shared by both generations).
extension Dataplane {
    /// The entries of list `name` (any order: the kernel's own order is its hash's).
    public func recentEntries(_ name: String, ringMask: UInt32 = 31) throws(LoaderError) -> [RecentEntry] {
        let list = RecentTest.listID(name)
        let m = try map("recent")
        var out: [RecentEntry] = []
        for k in try m.keys(eipt_recent_key.self) where k.list == list {
            guard let v = try m.lookup(k, as: eipt_recent_entry.self) else { continue }
            let stamps = withUnsafeBytes(of: v.stamps) { Array($0.bindMemory(to: UInt64.self)) }
            out.append(RecentEntry(address: UInt32(bigEndian: k.addr), ttl: v.ttl, index: v.index,
                                   stamps: Array(stamps.prefix(Int(min(v.nstamps, UInt8(EIPT_RECENT_STAMPS))))), ringMask: ringMask))
        }
        return out.sorted { $0.address < $1.address }
    }

    /// Whether the list reached ip_list_tot (its tests answer MAYBE until it is cleared).
    public func recentOverflowed(_ name: String) throws(LoaderError) -> Bool {
        try map("recent_lists").lookup(RecentTest.listID(name), as: eipt_recent_list.self)?.overflowed ?? 0 != 0
    }

    /// `echo +ADDR > /proc/net/xt_recent/NAME`: adds the address (ttl 0, stamp `now`), or
    /// records `now` in its ring when present (recent_mt_proc_write, recent_entry_update).
    public func recentAdd(_ name: String, address: UInt32, now: UInt64, ringMask: UInt32 = 31,
                          listTot: UInt32 = RecentModuleParams.current.ipListTot) throws(LoaderError) {
        let key = eipt_recent_key(list: RecentTest.listID(name), addr: address.bigEndian)
        let m = try map("recent")
        if var v = try m.lookup(key, as: eipt_recent_entry.self) {
            let idx = UInt32(v.index) & ringMask & (EIPT_RECENT_STAMPS - 1)
            withUnsafeMutableBytes(of: &v.stamps) { $0.storeBytes(of: now, toByteOffset: Int(idx) * 8, as: UInt64.self) }
            v.index = UInt8(truncatingIfNeeded: idx + 1)
            if v.index > v.nstamps { v.nstamps = v.index }
            try m.update(key, v, flags: UInt64(BPF_EXIST))
            return
        }
        var counts = try map("recent_lists").lookup(key.list, as: eipt_recent_list.self) ?? eipt_recent_list()
        if counts.entries >= listTot {
            // The kernel would evict its least recently updated entry, which we cannot name.
            counts.overflowed = 1
            try map("recent_lists").update(key.list, counts)
            return
        }
        var v = eipt_recent_entry()
        v.nstamps = 1
        v.index = 1
        withUnsafeMutableBytes(of: &v.stamps) { $0.storeBytes(of: now, toByteOffset: 0, as: UInt64.self) }
        try m.update(key, v, flags: UInt64(BPF_NOEXIST))
        counts.entries += 1
        try map("recent_lists").update(key.list, counts)
    }

    /// `echo -ADDR > /proc/net/xt_recent/NAME`.
    public func recentRemove(_ name: String, address: UInt32) throws(LoaderError) {
        let key = eipt_recent_key(list: RecentTest.listID(name), addr: address.bigEndian)
        let m = try map("recent")
        guard try m.lookup(key, as: eipt_recent_entry.self) != nil else { return }
        try m.delete(key)
        if var counts = try map("recent_lists").lookup(key.list, as: eipt_recent_list.self), counts.entries > 0 {
            counts.entries -= 1
            try map("recent_lists").update(key.list, counts)
        }
    }

    /// `echo / > /proc/net/xt_recent/NAME`: empties the list, and lifts an overflow (XDP's
    /// copy and the kernel's are both empty again: the same).
    public func recentClear(_ name: String) throws(LoaderError) {
        let list = RecentTest.listID(name)
        let m = try map("recent")
        for k in try m.keys(eipt_recent_key.self) where k.list == list { try m.delete(k) }
        try map("recent_lists").delete(list)
    }
}

/// The kernel's jiffies now, as bpf_jiffies64() reads them: /proc/timer_list prints
/// `jiffies: N` for each tick device (root only).
public enum KernelJiffies {
    public static func now() throws(LoaderError) -> UInt64 {
        guard let f = fopen("/proc/timer_list", "r") else { throw LoaderError.lastErrno("open /proc/timer_list") }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 512)
        while fgets(&buf, 512, f) != nil {
            let line = String(cString: buf)
            if let r = line.firstRange(of: "jiffies: ") {
                let digits = line[r.upperBound...].prefix { $0.isNumber }
                if let v = UInt64(digits) { return v }
            }
        }
        throw LoaderError("read /proc/timer_list: no jiffies line")
    }
}
