/// Splits one restore-file line into words the way iptables-restore does
/// (xtables-restore's add_param_to_argv): blanks separate words, a double quote
/// opens and closes a quoted part, a backslash escapes only inside quotes,
/// and `\r` is an ordinary character.
enum RestoreTokenizer {
    struct Failure: Error { var column: Int; var message: String }

    static func words(_ line: String) -> Result<[Word], Failure> {
        var out: [Word] = []
        var buf = ""
        var start = 0
        var inWord = false
        var quoted = false
        var escaped = false
        var quoteColumn = 0
        var col = 0
        for c in line {
            col += 1
            if quoted {
                if escaped {
                    buf.append(c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    quoted = false
                    out.append(Word(buf, column: start, length: col - start + 1))
                    buf = ""
                    inWord = false
                } else {
                    buf.append(c)
                }
                continue
            }
            if c == "\"" {
                quoted = true
                quoteColumn = col
                if !inWord { start = col; inWord = true }
                continue
            }
            if c == " " || c == "\t" || c == "\n" {
                if inWord {
                    out.append(Word(buf, column: start, length: col - start))
                    buf = ""
                    inWord = false
                }
                continue
            }
            if !inWord { start = col; inWord = true }
            buf.append(c)
        }
        if quoted { return .failure(Failure(column: quoteColumn, message: "unterminated quote")) }
        if inWord { out.append(Word(buf, column: start, length: col - start + 1)) }
        return .success(out)
    }
}
