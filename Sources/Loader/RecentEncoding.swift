import CLibbpf
import Compiler
import Glibc

/// xt_recent's module parameters (/sys/module/xt_recent/parameters): how many addresses a
/// list holds (ip_list_tot) and how many stamps per address (ip_pkt_list_tot; 0 = sized from
/// the rules' hitcounts). Read once per process; the kernel reads them once at boot too.
public struct RecentModuleParams: Equatable, Sendable {
    public var ipListTot: UInt32
    public var ipPktListTot: UInt32

    public static let current: RecentModuleParams = read()

    static func read(_ dir: String = "/sys/module/xt_recent/parameters") -> RecentModuleParams {
        func value(_ name: String, _ fallback: UInt32) -> UInt32 {
            guard let f = fopen("\(dir)/\(name)", "r") else { return fallback }
            defer { fclose(f) }
            var buf = [CChar](repeating: 0, count: 32)
            guard fgets(&buf, 32, f) != nil else { return fallback }
            let text = String(cString: buf).split(whereSeparator: { $0 == "\n" || $0 == " " }).first
            return text.flatMap { UInt32($0) } ?? fallback
        }
        // The kernel's defaults (xt_recent.c) when the module exposes nothing.
        return RecentModuleParams(ipListTot: value("ip_list_tot", 100), ipPktListTot: value("ip_pkt_list_tot", 0))
    }
}

/// RecentTest -> `struct eipt_ext_recent` (bpf/ebpf_iptables.h).
enum RecentEncoding {
    /// A command bit the program does not know: it then answers MAYBE (the kernel decides).
    static let unusable: UInt8 = 0x80

    static func payload(_ r: RecentTest, params: RecentModuleParams) -> eipt_ext_recent {
        var p = eipt_ext_recent()
        p.list = r.listID
        p.mask = r.mask.bigEndian
        p.seconds = r.seconds
        p.hitcount = UInt8(clamping: r.hitcount)
        p.flags = UInt8((r.destination ? EIPT_RECENT_F_DEST : 0) | (r.actOnly ? EIPT_RECENT_F_ACT_ONLY : 0)
                        | (r.rttl ? EIPT_RECENT_F_TTL : 0))
        let mask = RecentTest.ringMask(hitcounts: r.listHitcounts.isEmpty ? [r.hitcount] : r.listHitcounts,
                                       ipPktListTot: params.ipPktListTot)
        p.ring_mask = UInt8(truncatingIfNeeded: mask)
        p.list_tot = params.ipListTot
        switch r.command {
        case .set: p.cmd = UInt8(EIPT_RECENT_SET.rawValue)
        case .rcheck: p.cmd = UInt8(EIPT_RECENT_CHECK.rawValue)
        case .update: p.cmd = UInt8(EIPT_RECENT_UPDATE.rawValue)
        case .remove: p.cmd = unusable
        }
        // A ring larger than the program keeps (a non-default ip_pkt_list_tot): the kernel decides.
        if mask >= EIPT_RECENT_STAMPS || r.hitcount > 255 || r.unsupportedForm != nil { p.cmd = unusable }
        return p
    }
}
