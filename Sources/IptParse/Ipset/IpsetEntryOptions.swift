/// Options after an entry: `timeout`, `nomatch`, counters, `comment`,
/// skbinfo and list:set positions, each only where ipset allows it.
extension IpsetParserState {
    mutating func entryOptions(_ e: inout IpsetEntry, set c: IpsetCreate, delete: Bool) throws(IpsetLineAbort) {
        var i = 3
        while i < words.count {
            let w = words[i]
            let opt = text(w)
            var used = 2
            switch opt {
            case "timeout" where !delete:
                guard c.timeout != nil else {
                    report("timeout-not-enabled", "expected set '\(c.name)' to be created with 'timeout' to use 'timeout'", at: w)
                    throw IpsetLineAbort()
                }
                e.timeout = UInt32(try number(after: i, max: 2_147_483, hex: false))
            case "nomatch" where c.type.supportsNomatch:
                e.nomatch = true
                used = 1
            case "packets" where !delete, "bytes" where !delete:
                guard c.counters else {
                    report("counters-not-enabled", "expected set '\(c.name)' to be created with 'counters' to use '\(opt)'", at: w)
                    throw IpsetLineAbort()
                }
                let v = try number(after: i, max: UInt64.max, hex: false)
                if opt == "packets" { e.packets = v } else { e.bytes = v }
            case "comment" where !delete:
                guard c.comment else {
                    report("comment-not-enabled", "expected set '\(c.name)' to be created with 'comment' to use 'comment'", at: w)
                    throw IpsetLineAbort()
                }
                guard i + 1 < words.count, !lexer.slice(words[i + 1]).isEmpty else {
                    if i + 1 < words.count { report("missing-value", "expected a non-empty text after 'comment'", at: words[i + 1]) }
                    else { reportEnd("missing-value", "expected a value after 'comment'") }
                    throw IpsetLineAbort()
                }
                // The kernel keeps at most 255 bytes.
                let bytes = lexer.slice(words[i + 1])
                e.comment = String(decoding: bytes.prefix(255), as: UTF8.self)
            case "skbmark" where !delete, "skbprio" where !delete, "skbqueue" where !delete:
                guard c.skbinfo else {
                    report("skbinfo-not-enabled", "expected set '\(c.name)' to be created with 'skbinfo' to use '\(opt)'", at: w)
                    throw IpsetLineAbort()
                }
                guard i + 1 < words.count else { reportEnd("missing-value", "expected a value after '\(opt)'"); throw IpsetLineAbort() }
                try skbOption(opt, words[i + 1], &e)
            case "before" where c.type == .listSet, "after" where c.type == .listSet:
                guard i + 1 < words.count, byName[text(words[i + 1])] != nil else {
                    if i + 1 < words.count { report("undefined-set", "set '\(text(words[i + 1]))' is not defined", at: words[i + 1]) }
                    else { reportEnd("missing-value", "expected a set name after '\(opt)'") }
                    throw IpsetLineAbort()
                }
            default:
                report("unknown-option", "unknown option '\(opt)' for \(c.type.rawValue)", at: w)
                throw IpsetLineAbort()
            }
            i += used
        }
    }

    /// `skbmark` is hex `MARK[/MASK]`, `skbprio` hex `MAJOR:MINOR`, `skbqueue` decimal.
    mutating func skbOption(_ opt: String, _ v: IpsetToken, _ e: inout IpsetEntry) throws(IpsetLineAbort) {
        var info = e.skbinfo ?? IpsetSkbInfo()
        let s = lexer.slice(v)
        var ok = true
        switch opt {
        case "skbmark":
            let slash = s.firstIndex(of: UInt8(ascii: "/"))
            let m = IpsetNumber.hexOnly(s[s.startIndex..<(slash ?? s.endIndex)])
            let k = slash.map { IpsetNumber.hexOnly(s[($0 + 1)...]) } ?? UInt64(UInt32.max)
            if let m, let k, m <= UInt64(UInt32.max), k <= UInt64(UInt32.max) {
                info.mark = UInt32(m)
                info.markMask = UInt32(k)
            } else { ok = false }
        case "skbprio":
            // Both halves are hex without a 0x (tc's MAJOR:MINOR notation).
            let hex = [UInt8]("0x".utf8)
            if let colon = s.firstIndex(of: UInt8(ascii: ":")), colon > s.startIndex, colon + 1 < s.endIndex,
               let a = IpsetNumber.parse((hex + s[s.startIndex..<colon])[...]), a <= 0xffff,
               let b = IpsetNumber.parse((hex + s[(colon + 1)...])[...]), b <= 0xffff {
                info.prio = UInt32(a) << 16 | UInt32(b)
            } else { ok = false }
        default:
            if let q = IpsetNumber.parse(s, allowHex: false), q <= 0xffff { info.queue = UInt16(q) } else { ok = false }
        }
        guard ok else {
            let shape = opt == "skbmark" ? "a hex MARK or MARK/MASK like 0x1/0xff" : opt == "skbprio" ? "a hex MAJOR:MINOR like 1:2" : "a queue number from 0 to 65535"
            report("bad-skbinfo", "expected \(shape) for '\(opt)', got '\(text(v))'", at: v)
            throw IpsetLineAbort()
        }
        e.skbinfo = info
    }
}
