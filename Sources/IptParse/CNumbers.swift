/// Numbers as the C library reads them for iptables: the extensions call strtoul (through
/// libxtables' xtables_strtoui) or getaddrinfo, and each accepts forms the other refuses.
/// The same word therefore means different things to different options (`022` is port 18
/// to libxt_tcp and port 22 to libxt_udp); these mirror each call.
enum CNumbers {
    /// strtoul(s, &end, base) over the whole word (xtables_strtoul_base with end == NULL):
    /// leading white space, an optional sign, `0x`/`0` prefixes when base is 0. nil when a
    /// character is left over or no digit was read; a value beyond 64 bits saturates as
    /// strtoul's ERANGE (callers bound it). A `-` negates modulo 2^64, as strtoul does.
    static func strtoul(_ text: Substring, base: Int = 0) -> (value: UInt64, overflow: Bool)? {
        guard let r = strtoulPrefix(text, base: base), r.rest.isEmpty else { return nil }
        return (r.value, r.overflow)
    }

    /// xtables_strtoui(s, &end, &v, min, max) with base 0: the number at the start of the
    /// word and what follows it; nil when no digit starts it or it is out of bounds.
    static func strtouiPrefix(_ s: Substring, min: UInt64 = 0, max: UInt64) -> (value: UInt64, rest: Substring)? {
        guard let r = strtoulPrefix(s), !r.overflow, r.value >= min, r.value <= max else { return nil }
        return (r.value, r.rest)
    }

    /// strtoul(s, &end, base): the longest number at the start and the rest; nil when no
    /// digit was read.
    static func strtoulPrefix(_ text: Substring, base: Int = 0) -> (value: UInt64, overflow: Bool, rest: Substring)? {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return asciiStrtoulPrefix(text, base: base) }
        return characterStrtoulPrefix(text, base: base)
    }

    /// strtoulPrefix over the bytes of an all-ASCII word (every word of a usual ruleset):
    /// the same result as the Character walk below, which costs a grapheme break per
    /// character. In ASCII only `\r\n` is one Character, neither blank nor digit there,
    /// so it stops both walks here too.
    static func asciiStrtoulPrefix(_ text: Substring, base: Int) -> (value: UInt64, overflow: Bool, rest: Substring)? {
        let u = text.utf8
        var i = u.startIndex
        func at(_ k: Substring.UTF8View.Index) -> UInt8? { k < u.endIndex ? u[k] : nil }
        func crlf(_ k: Substring.UTF8View.Index) -> Bool { at(k) == 13 && at(u.index(after: k)) == 10 }
        while let b = at(i), b == 32 || (b >= 9 && b <= 13), !crlf(i) { i = u.index(after: i) }
        var negative = false
        if let b = at(i), b == UInt8(ascii: "+") || b == UInt8(ascii: "-") {
            negative = b == UInt8(ascii: "-")
            i = u.index(after: i)
        }
        func hexValue(_ b: UInt8) -> Int? {
            switch b {
            case 48...57: Int(b - 48)
            case 97...102: Int(b - 87)
            case 65...70: Int(b - 55)
            default: nil
            }
        }
        var radix = base
        let x = i < u.endIndex ? at(u.index(after: i)) ?? 0 : 0
        let afterX = x == UInt8(ascii: "x") || x == UInt8(ascii: "X") ? u.index(i, offsetBy: 2) : i
        if (radix == 0 || radix == 16), at(i) == UInt8(ascii: "0"), afterX != i,
           let next = at(afterX), hexValue(next) != nil, !crlf(afterX) {
            radix = 16
            i = afterX
        } else if radix == 0 {
            radix = at(i) == UInt8(ascii: "0") ? 8 : 10
        }
        var v: UInt64 = 0
        var overflow = false
        var digits = 0
        while let b = at(i), let d = hexValue(b), d < radix {
            let (m, o1) = v.multipliedReportingOverflow(by: UInt64(radix))
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { overflow = true }
            v = a
            digits += 1
            i = u.index(after: i)
        }
        guard digits > 0 else { return nil }
        let rest = text[i...]
        if overflow { return (UInt64.max, true, rest) }
        return (negative ? 0 &- v : v, false, rest)
    }

    static func characterStrtoulPrefix(_ text: Substring, base: Int) -> (value: UInt64, overflow: Bool, rest: Substring)? {
        var s = text.drop { " \t\n\r\u{0B}\u{0C}".contains($0) }
        var negative = false
        if let f = s.first, f == "+" || f == "-" {
            negative = f == "-"
            s = s.dropFirst()
        }
        var radix = base
        if (radix == 0 || radix == 16), s.hasPrefix("0x") || s.hasPrefix("0X"),
           let next = s.dropFirst(2).first, next.isHexDigit {
            radix = 16
            s = s.dropFirst(2)
        } else if radix == 0 {
            radix = s.hasPrefix("0") ? 8 : 10
        }
        let digits = s.prefix { $0.isASCII && ($0.hexDigitValue ?? radix) < radix }
        guard !digits.isEmpty else { return nil }
        var v: UInt64 = 0
        var overflow = false
        for c in digits {
            let (m, o1) = v.multipliedReportingOverflow(by: UInt64(radix))
            let (a, o2) = m.addingReportingOverflow(UInt64(c.hexDigitValue ?? 0))
            if o1 || o2 { overflow = true }
            v = a
        }
        let rest = s.dropFirst(digits.count)
        if overflow { return (UInt64.max, true, rest) }
        return (negative ? 0 &- v : v, false, rest)
    }

    /// xtables_strtoui(s, NULL, &v, min, max) with base 0: the whole word, within bounds.
    static func strtoui(_ s: Substring, min: UInt64 = 0, max: UInt64) -> UInt64? {
        guard let r = strtoul(s), !r.overflow, r.value >= min, r.value <= max else { return nil }
        return r.value
    }

    /// A numeric service as getaddrinfo reads it (glibc: strtoul base 10 into an int, a
    /// negative int refused, the port its low 16 bits): `65536` is port 0, `4294967297`
    /// port 1, `2147483648` and `-5` nothing. nil when the word is not all number.
    static func getaddrinfoPort(_ s: Substring) -> UInt16?? {
        guard let r = strtoul(s, base: 10) else { return .none }
        let asInt = Int32(truncatingIfNeeded: r.value)
        guard asInt >= 0 else { return .some(nil) }
        return .some(UInt16(truncatingIfNeeded: asInt))
    }

    /// sscanf(s, "%llu"): leading white space, an optional sign, decimal digits up to the
    /// first other character (`3x` is 3, `0x10` is 0); saturates at 2^64-1; a `-` negates
    /// modulo 2^64. nil when no digit starts the word.
    static func scanUnsigned(_ text: Substring) -> UInt64? {
        var s = text.drop { " \t\n\r\u{0B}\u{0C}".contains($0) }
        if s.first == "+" || s.first == "-" { s = s.dropFirst() }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        let negative = text.drop { " \t\n\r\u{0B}\u{0C}".contains($0) }.first == "-"
        guard let r = strtoul(digits, base: 10) else { return nil }
        if r.overflow { return UInt64.max }
        return negative ? 0 &- r.value : r.value
    }
}
