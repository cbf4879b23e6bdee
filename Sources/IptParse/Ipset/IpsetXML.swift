/// `ipset list -output xml`, as ipset 7.17 prints it: the plain listing's fields as
/// elements, flags as empty elements, comments quoted and not escaped (ipset does not).
extension IpsetListing {
    /// The whole `<ipsets>` document for `sets`.
    public static func xml(_ sets: [IpsetSet], references: (String) -> Int, terse: Bool, namesOnly: Bool, sorted: Bool) -> String {
        var out = "<ipsets>\n"
        for s in sets {
            if namesOnly {
                out += "<ipset name=\"\(s.name)\"/>\n"
                continue
            }
            out += "<ipset name=\"\(s.name)\">\n<type>\(s.create.type.rawValue)</type>\n<revision>\(revision(s.create.type))</revision>\n"
            out += "<header>" + xmlHeader(s.create) + "\n<memsize>\(memorySize(s))</memsize>\n"
            out += "<references>\(references(s.name))</references>\n<numentries>\(s.entries.count)</numentries>\n</header>\n"
            if !terse {
                out += "<members>\n"
                for e in entries(s, sorted: sorted) { out += "<member>" + xmlMember(e, in: s.create) + "</member>\n" }
                out += "</members>\n"
            }
            out += "</ipset>\n"
        }
        return out + "</ipsets>\n"
    }

    /// The header's words: `counters`-like flags stand alone, the rest are name/value pairs.
    static func xmlHeader(_ c: IpsetCreate) -> String {
        let flags: Set<Substring> = ["counters", "comment", "skbinfo"]
        var words = header(c).split(separator: " ")[...]
        var out = ""
        while let w = words.popFirst() {
            if flags.contains(w) {
                out += "<\(w)/>"
            } else if let v = words.popFirst() {
                out += "<\(w)>\(v)</\(w)>"
            }
        }
        return out
    }

    /// Same order and rules as `IpsetPrinter.addLine`.
    static func xmlMember(_ e: IpsetEntry, in c: IpsetCreate) -> String {
        var s = "<elem>" + e.elements.map { IpsetPrinter.element($0, family: c.family) }.joined(separator: ",") + "</elem>"
        if let t = c.timeout { s += "<timeout>\(e.timeout ?? t)</timeout>" }
        if e.nomatch { s += "<nomatch/>" }
        if c.counters { s += "<packets>\(e.packets ?? 0)</packets><bytes>\(e.bytes ?? 0)</bytes>" }
        if c.comment, let text = e.comment, !text.isEmpty { s += "<comment>\"\(text)\"</comment>" }
        if c.skbinfo, let i = e.skbinfo {
            if i.mark != 0 || i.markMask != 0 {
                s += "<skbmark>0x\(String(i.mark, radix: 16))"
                if i.markMask != UInt32.max { s += "/0x\(String(i.markMask, radix: 16))" }
                s += "</skbmark>"
            }
            if i.prio != 0 { s += "<skbprio>\(String(i.prio >> 16, radix: 16)):\(String(i.prio & 0xffff, radix: 16))</skbprio>" }
            if i.queue != 0 { s += "<skbqueue>\(i.queue)</skbqueue>" }
        }
        return s
    }
}
