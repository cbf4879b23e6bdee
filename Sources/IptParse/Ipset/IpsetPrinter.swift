/// Prints a script in `ipset save` format (ipset 7.17), byte for byte except
/// for two things only the kernel knows: the order of members in a hash (we
/// print insertion order) and a random `initval` (printed only when known).
public enum IpsetPrinter {
    public static func save(_ script: IpsetScript) -> String {
        var out = ""
        for set in script.sets {
            out += createLine(set.create)
            out += "\n"
            for e in set.entries {
                out += addLine(e, in: set.create)
                out += "\n"
            }
        }
        return out
    }

    /// Option order is the one `ipset save` uses: family, hashsize, maxelem,
    /// netmask, timeout, counters, comment, skbinfo, bucketsize, initval.
    /// `forceadd` is not printed: the kernel does not report it back.
    public static func createLine(_ c: IpsetCreate) -> String {
        var s = "create \(c.name) \(c.type.rawValue)"
        if c.type.isHash {
            s += " family \(c.family.rawValue) hashsize \(c.hashsize ?? 1024) maxelem \(c.maxelem ?? 65536)"
        }
        if let r = c.range {
            s += " range \(IpsetFormat.address(r.lowerBound))-\(IpsetFormat.address(r.upperBound))"
        }
        if let r = c.portRange { s += " range \(r.lowerBound)-\(r.upperBound)" }
        if c.type == .listSet { s += " size \(c.size ?? 8)" }
        if let n = c.netmask { s += " netmask \(n)" }
        if let t = c.timeout { s += " timeout \(t)" }
        if c.counters { s += " counters" }
        if c.comment { s += " comment" }
        if c.skbinfo { s += " skbinfo" }
        if c.type.isHash {
            s += " bucketsize \(c.bucketsize ?? 12)"
            if let iv = c.initval { s += " initval \(IpsetFormat.hex8(iv))" }
        }
        return s
    }

    /// Extensions print in the kernel's order: timeout, nomatch, counters,
    /// comment, skbinfo. A set with timeout/counters shows them on every
    /// member (the set default / zero); an empty comment is not shown.
    public static func addLine(_ e: IpsetEntry, in c: IpsetCreate) -> String {
        var s = "add \(c.name) "
        for (k, el) in e.elements.enumerated() {
            if k > 0 { s += "," }
            s += element(el, family: c.family)
        }
        if let t = c.timeout { s += " timeout \(e.timeout ?? t)" }
        if e.nomatch { s += " nomatch" }
        if c.counters { s += " packets \(e.packets ?? 0) bytes \(e.bytes ?? 0)" }
        if c.comment, let text = e.comment, !text.isEmpty { s += " comment \"\(text)\"" }
        if c.skbinfo, let i = e.skbinfo {
            // The kernel reports each part only when it is not zero.
            if i.mark != 0 || i.markMask != 0 {
                s += " skbmark 0x\(String(i.mark, radix: 16))"
                if i.markMask != UInt32.max { s += "/0x\(String(i.markMask, radix: 16))" }
            }
            if i.prio != 0 { s += " skbprio \(String(i.prio >> 16, radix: 16)):\(String(i.prio & 0xffff, radix: 16))" }
            if i.queue != 0 { s += " skbqueue \(i.queue)" }
        }
        return s
    }

    public static func element(_ el: IpsetElement, family: IpsetFamily) -> String {
        switch el {
        case .address(let a): return IpsetFormat.address(a)
        case .prefix(let a, let len):
            return len == a.family.bitCount ? IpsetFormat.address(a) : "\(IpsetFormat.address(a))/\(len)"
        case .port(let p):
            let name = IpsetNames.protocolName(p.proto) ?? String(p.proto)
            if p.proto == IpsetNames.protoICMP || p.proto == IpsetNames.protoICMPv6 {
                let table = p.proto == IpsetNames.protoICMP ? IpsetNames.icmp : IpsetNames.icmpv6
                let t = UInt8(p.port >> 8), c = UInt8(p.port & 0xff)
                if let hit = table.first(where: { $0.type == t && $0.code == c }) { return "\(name):\(hit.name)" }
                return "\(name):\(t)/\(c)"
            }
            return "\(name):\(p.port)"
        case .bitmapPort(let p): return String(p)
        case .iface(let n, let phys): return phys ? "physdev:\(n)" : n
        case .mark(let m): return IpsetFormat.hex8(m)
        case .mac(let m): return IpsetFormat.mac(m)
        case .setName(let n): return n
        }
    }
}
