import IptParse

/// One `-m recent` match as the XDP program evaluates it (`struct eipt_ext_recent`,
/// bpf/ext_recent.h), read from the canonical options iptables-save prints.
public struct RecentTest: Equatable, Hashable, Sendable {
    public enum Command: String, Equatable, Hashable, Sendable {
        case set, rcheck, update, remove
    }

    public var instance: ExtInstance
    /// `--name` (DEFAULT when not given): the kernel's table, shared by every rule naming it.
    public var name: String
    public var command: Command
    /// `!` before the command: the answer is inverted (`! --set` still records the packet).
    public var negated: Bool
    /// `--seconds`; 0 when absent.
    public var seconds: UInt32
    /// `--hitcount`; 0 when absent.
    public var hitcount: UInt32
    /// `--rdest` (else `--rsource`).
    public var destination: Bool
    /// `--mask`, host order.
    public var mask: UInt32
    public var rttl: Bool
    public var reap: Bool
    /// The rule has no target: the test acts on its list, and the rule never decides
    /// (EIPT_RECENT_F_ACT_ONLY: the program answers NO after acting, so the walk goes on).
    public var actOnly: Bool
    /// The `--hitcount`s of every rule of the list (the kernel sizes the list's ring from
    /// all of them: `ringMask`); filled in by the list analysis (RecentLists).
    public var listHitcounts: [UInt32] = []

    /// The list id in the map (`eipt_recent_key.list`): FNV-1a of the name's bytes, the same
    /// in every generation and every process (the CLI finds a list by its name alone).
    public var listID: UInt32 { Self.listID(name) }

    public static func listID(_ name: String) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for b in name.utf8 {
            h ^= UInt32(b)
            h = h &* 0x0100_0193
        }
        return h
    }

    /// Reads a recent match; nil when its options are not the canonical set (the rule then
    /// stays the kernel's).
    public static func parse(_ e: ExtensionCall, instance: ExtInstance, actOnly: Bool) -> RecentTest? {
        guard e.name == "recent" else { return nil }
        var t = RecentTest(instance: instance, name: "DEFAULT", command: .set, negated: false, seconds: 0,
                           hitcount: 0, destination: false, mask: 0xffff_ffff, rttl: false, reap: false, actOnly: actOnly)
        var commands = 0
        for o in e.options {
            switch o.name {
            case "set", "rcheck", "update", "remove":
                guard let c = Command(rawValue: o.name) else { return nil }
                t.command = c
                t.negated = o.negated
                commands += 1
            case "seconds":
                guard let a = o.args.first, let v = UInt32(a) else { return nil }
                t.seconds = v
            case "hitcount":
                guard let a = o.args.first, let v = UInt32(a) else { return nil }
                t.hitcount = v
            case "name":
                guard let a = o.args.first, !a.isEmpty else { return nil }
                t.name = a
            case "mask":
                guard let a = o.args.first, let m = quad(a) else { return nil }
                t.mask = m
            case "rsource": t.destination = false
            case "rdest": t.destination = true
            case "rttl": t.rttl = true
            case "reap": t.reap = true
            default: return nil
            }
        }
        return commands == 1 ? t : nil
    }

    /// Why XDP does not evaluate this form (nil: it may, if its list qualifies as a whole).
    /// The forms left out break the argument of docs/recent.md: the kernel's own copy of
    /// the list then could hold an entry XDP's does not, or XDP could not follow the kernel.
    public var unsupportedForm: String? {
        if command == .remove { return "--remove (an entry XDP removes while dropping stays in the kernel's list)" }
        // --reap: left out where it changes no answer, a condition on the whole list
        // (RecentLists.reapRefusal).
        // --rttl is evaluated only where the rule's chain sets the entry's TTL to the
        // packet's just before (RecentLists.ttlSetBefore); with --set the kernel refuses it.
        if rttl && !(command == .rcheck || command == .update) { return "--rttl with --\(command.rawValue)" }
        if negated && (command == .rcheck || command == .update) {
            return "! --\(command.rawValue) (the kernel's copy of the list lags XDP's: an inverted check could hold there and not here)"
        }
        return nil
    }

    /// The ring mask the kernel gives the list (recent_mt_check: with ip_pkt_list_tot 0, the
    /// default, roundup_pow_of_two(hitcount) - 1, or 31 without a hitcount).
    public static func ringMask(hitcounts: [UInt32], ipPktListTot: UInt32) -> UInt32 {
        var mask: UInt32 = 0
        for h in hitcounts {
            let m: UInt32
            if ipPktListTot != 0 && h < ipPktListTot {
                m = roundUpPowerOfTwo(ipPktListTot) - 1
            } else if h != 0 {
                m = roundUpPowerOfTwo(h) - 1
            } else {
                m = 31
            }
            mask = max(mask, m)
        }
        return mask
    }

    /// a.b.c.d, host order.
    static func quad(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }

    static func roundUpPowerOfTwo(_ v: UInt32) -> UInt32 {
        var p: UInt32 = 1
        while p < v && p < 1 << 31 { p <<= 1 }
        return p
    }
}
