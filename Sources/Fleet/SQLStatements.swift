import Foundation

/// Splits a migration file into statements at the `;` that end them, as psql does: not inside
/// a quoted string, a quoted identifier, a comment or a dollar-quoted body (`$$ ... $$`,
/// `$tag$ ... $tag$`). PostgresNIO sends each query with the extended protocol, which takes
/// one statement at a time.
enum SQLStatements {
    static func split(_ text: String) -> [String] {
        let c = Array(text.unicodeScalars)
        var out: [String] = []
        var current = String.UnicodeScalarView()
        var i = 0
        func flush() {
            let s = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty && !s.split(separator: "\n").allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") || $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                out.append(s)
            }
            current = String.UnicodeScalarView()
        }
        while i < c.count {
            let ch = c[i]
            if ch == "-", i + 1 < c.count, c[i + 1] == "-" {
                while i < c.count, c[i] != "\n" { current.append(c[i]); i += 1 }
                continue
            }
            if ch == "/", i + 1 < c.count, c[i + 1] == "*" {
                current.append(ch); current.append(c[i + 1]); i += 2
                while i < c.count, !(c[i] == "*" && i + 1 < c.count && c[i + 1] == "/") { current.append(c[i]); i += 1 }
                if i < c.count { current.append(c[i]); current.append(c[i + 1]); i += 2 }
                continue
            }
            if ch == "'" || ch == "\"" {
                current.append(ch); i += 1
                while i < c.count {
                    current.append(c[i])
                    if c[i] == ch {
                        if i + 1 < c.count, c[i + 1] == ch { current.append(c[i + 1]); i += 2; continue }
                        i += 1
                        break
                    }
                    i += 1
                }
                continue
            }
            if ch == "$" {
                // $tag$: the tag is letters, digits and underscores (not starting with a digit).
                var j = i + 1
                while j < c.count, c[j] == "_" || c[j].properties.isAlphabetic || (j > i + 1 && ("0"..."9").contains(c[j])) { j += 1 }
                if j < c.count, c[j] == "$" {
                    let tag = Array(c[i...j])
                    current.append(contentsOf: tag); i = j + 1
                    while i < c.count {
                        if c[i] == "$", i + tag.count <= c.count, Array(c[i..<(i + tag.count)]) == tag {
                            current.append(contentsOf: tag); i += tag.count
                            break
                        }
                        current.append(c[i]); i += 1
                    }
                    continue
                }
            }
            if ch == ";" { flush(); i += 1; continue }
            current.append(ch); i += 1
        }
        flush()
        return out
    }
}
