/// Byte-level splitting of an ipset file into lines and words. It works on
/// UTF-8 bytes and makes no Strings in the common case, because a save file
/// of a blocklist has hundreds of thousands of lines.

/// One word of a line: byte offsets into the file buffer. `unquoted` holds the
/// text only when the word had quotes (ipset removes them, keeps the rest).
struct IpsetToken {
    var start: Int
    var end: Int
    var unquoted: [UInt8]?
}

/// One line of the file: its byte span without the line terminator.
struct IpsetLine {
    var number: Int
    var start: Int
    var end: Int
}

struct IpsetLexer {
    let bytes: [UInt8]
    let file: String

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        // `ipset restore` accepts CRLF files, so `\r` is just more blank.
        b == 0x20 || b == 0x09 || b == 0x0d || b == 0x0b || b == 0x0c
    }

    /// Splits a line into words. A `"` toggles quoting (so `comment "a b"` is one
    /// word and `"ab"c` is `abc`, as ipset does); there are no escapes.
    /// Returns false on an unterminated quote; `badQuote` is then its offset.
    func tokenize(_ line: IpsetLine, into out: inout [IpsetToken], badQuote: inout Int) -> Bool {
        out.removeAll(keepingCapacity: true)
        var i = line.start
        while i < line.end {
            let b = bytes[i]
            if IpsetLexer.isSpace(b) { i += 1; continue }
            let start = i
            var quoted: [UInt8]? = nil
            var inQuote = false
            var quoteAt = 0
            while i < line.end {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    if quoted == nil { quoted = Array(bytes[start..<i]) }
                    inQuote.toggle()
                    quoteAt = i
                } else if !inQuote && IpsetLexer.isSpace(c) {
                    break
                } else if quoted != nil {
                    quoted?.append(c)
                }
                i += 1
            }
            if inQuote {
                badQuote = quoteAt
                return false
            }
            out.append(IpsetToken(start: start, end: i, unquoted: quoted))
        }
        return true
    }

    func text(_ t: IpsetToken) -> String {
        if let u = t.unquoted { return String(decoding: u, as: UTF8.self) }
        return String(decoding: bytes[t.start..<t.end], as: UTF8.self)
    }

    /// The word's bytes (quotes removed).
    func slice(_ t: IpsetToken) -> ArraySlice<UInt8> {
        if let u = t.unquoted { return u[...] }
        return bytes[t.start..<t.end]
    }

    func equals(_ t: IpsetToken, _ s: StaticString) -> Bool {
        let w = slice(t)
        guard w.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        var k = 0
        for b in w {
            if b != p[k] { return false }
            k += 1
        }
        return true
    }

    /// Columns and lengths count characters, not bytes (UTF-8 continuation
    /// bytes are skipped), so a caret lines up under a non-ASCII comment.
    func location(line: IpsetLine, start: Int, end: Int) -> SourceLocation {
        var col = 1
        var i = line.start
        while i < start && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        var len = 0
        i = start
        while i < end && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { len += 1 }
            i += 1
        }
        return SourceLocation(file: file, line: line.number, column: col, length: len)
    }

    func lineText(_ line: IpsetLine) -> String {
        var e = line.end
        while e > line.start && bytes[e - 1] == 0x0d { e -= 1 }
        return String(decoding: bytes[line.start..<e], as: UTF8.self)
    }

    /// Calls `body` for each line; `\n` ends a line (a `\r` before it is blank).
    func forEachLine(_ body: (IpsetLine) -> Void) {
        var start = 0
        var number = 1
        let n = bytes.count
        while start < n {
            var e = start
            while e < n && bytes[e] != 0x0a { e += 1 }
            body(IpsetLine(number: number, start: start, end: e))
            number += 1
            start = e + 1
        }
    }
}

/// Number parsing on bytes: decimal, or hex with `0x` where ipset allows it.
enum IpsetNumber {
    static func parse(_ w: ArraySlice<UInt8>, allowHex: Bool = true) -> UInt64? {
        guard !w.isEmpty else { return nil }
        var v: UInt64 = 0
        var i = w.startIndex
        var radix: UInt64 = 10
        if allowHex, w.count > 2, w[i] == UInt8(ascii: "0"), w[i + 1] | 0x20 == UInt8(ascii: "x") {
            radix = 16
            i += 2
        }
        while i < w.endIndex {
            let b = w[i]
            let d: UInt64
            switch b {
            case 48...57: d = UInt64(b - 48)
            case 97...102 where radix == 16: d = UInt64(b - 87)
            case 65...70 where radix == 16: d = UInt64(b - 55)
            default: return nil
            }
            let (m, o1) = v.multipliedReportingOverflow(by: radix)
            let (s, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = s
            i += 1
        }
        return v
    }

    static func hexOnly(_ w: ArraySlice<UInt8>) -> UInt64? {
        guard w.count > 2, w[w.startIndex] == UInt8(ascii: "0"),
              w[w.startIndex + 1] | 0x20 == UInt8(ascii: "x") else { return nil }
        return parse(w)
    }
}
