/// Splits one restore-file line into words the way iptables-restore does
/// (xtables-restore's add_param_to_argv): blanks separate words, a double quote
/// opens and closes a quoted part, a backslash escapes only inside quotes,
/// and `\r` is an ordinary character.
///
/// Works on UTF-8 bytes (restores of 100,000 rules spend their time here);
/// columns count characters, i.e. bytes that do not continue a UTF-8 sequence.
enum RestoreTokenizer {
    struct Failure: Error { var column: Int; var message: String }

    static func words(_ line: String) -> Result<[Word], Failure> {
        var out: [Word] = []
        out.reserveCapacity(16)
        var buf: [UInt8] = []
        var start = 0
        var inWord = false
        var quoted = false
        var escaped = false
        var quoteColumn = 0
        var col = 0
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n")
        func flush(_ endColumn: Int) {
            out.append(Word(String(decoding: buf, as: UTF8.self), column: start, length: max(1, endColumn - start)))
            buf.removeAll(keepingCapacity: true)
            inWord = false
        }
        for c in line.utf8 {
            if c & 0xC0 != 0x80 { col += 1 }
            if quoted {
                if escaped {
                    buf.append(c)
                    escaped = false
                } else if c == backslash {
                    escaped = true
                } else if c == quote {
                    quoted = false
                    flush(col + 1)
                } else {
                    buf.append(c)
                }
                continue
            }
            if c == quote {
                quoted = true
                quoteColumn = col
                if !inWord { start = col; inWord = true }
                continue
            }
            if c == space || c == tab || c == newline {
                if inWord { flush(col) }
                continue
            }
            if !inWord { start = col; inWord = true }
            buf.append(c)
        }
        if quoted { return .failure(Failure(column: quoteColumn, message: "unterminated quote")) }
        if inWord { flush(col + 1) }
        return .success(out)
    }
}
