/// Splits one restore-file line into words the way iptables-restore does
/// (xtables-restore's add_param_to_argv): blanks separate words, a double quote
/// opens and closes a quoted part, a backslash escapes only inside quotes,
/// and `\r` is an ordinary character.
///
/// Works on the line's UTF-8 bytes in place (restores of 100,000 rules spend their time
/// here): a word without quotes becomes its String straight from the line's bytes, and
/// only a word with quotes is assembled in a buffer. Columns count characters, i.e. bytes
/// that do not continue a UTF-8 sequence.
enum RestoreTokenizer {
    struct Failure: Error { var column: Int; var message: String }

    static func words(_ line: String) -> Result<[Word], Failure> {
        if let r = line.utf8.withContiguousStorageIfAvailable({ words(bytes: $0) }) { return r }
        return Array(line.utf8).withUnsafeBufferPointer { words(bytes: $0) }
    }

    static func words(bytes: UnsafeBufferPointer<UInt8>) -> Result<[Word], Failure> {
        var out: [Word] = []
        out.reserveCapacity(16)
        /// The word's bytes once a quote was met in it (quotes removed, escapes resolved).
        var buf: [UInt8] = []
        var buffered = false
        var start = 0
        var startByte = 0
        var inWord = false
        var quoted = false
        var escaped = false
        var quoteColumn = 0
        var col = 0
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), newline = UInt8(ascii: "\n")
        func flush(_ endColumn: Int, endByte: Int) {
            let text: String
            if buffered {
                text = String(decoding: buf, as: UTF8.self)
                buf.removeAll(keepingCapacity: true)
                buffered = false
            } else {
                text = String(decoding: UnsafeBufferPointer(rebasing: bytes[startByte..<endByte]), as: UTF8.self)
            }
            out.append(Word(text, column: start, length: max(1, endColumn - start)))
            inWord = false
        }
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            defer { i += 1 }
            if c & 0xC0 != 0x80 { col += 1 }
            if quoted {
                if escaped {
                    buf.append(c)
                    escaped = false
                } else if c == backslash {
                    escaped = true
                } else if c == quote {
                    quoted = false
                    flush(col + 1, endByte: i)
                } else {
                    buf.append(c)
                }
                continue
            }
            if c == quote {
                quoted = true
                quoteColumn = col
                if !inWord {
                    start = col
                    inWord = true
                } else if !buffered {
                    // Unquoted bytes before the quote belong to the same word.
                    buf.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[startByte..<i]))
                }
                buffered = true
                continue
            }
            if c == space || c == tab || c == newline {
                if inWord { flush(col, endByte: i) }
                continue
            }
            if !inWord {
                start = col
                startByte = i
                inWord = true
            }
            if buffered { buf.append(c) }
        }
        if quoted { return .failure(Failure(column: quoteColumn, message: "unterminated quote")) }
        if inWord { flush(col + 1, endByte: n) }
        return .success(out)
    }
}
