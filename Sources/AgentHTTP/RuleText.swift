import IptParse

/// A rule given as text in a request (`-s 198.18.0.9 -p tcp --dport 22 -j DROP`): split into
/// words as iptables-restore splits a line, then read by IptParse's command parser — the
/// parser the CLI and restore files go through — so a bad rule gets the same diagnostic,
/// pointed at its word in the text, before anything reaches the kernel.
enum RuleText {
    /// Splits `text` into words; columns count characters from 1. Double quotes group, a
    /// backslash escapes inside them only (xtables-restore's add_param_to_argv).
    static func words(_ text: String, field: String) throws(APIError) -> [Word] {
        var out: [Word] = []
        var buf = ""
        var start = 0, col = 0
        var inWord = false, quoted = false, escaped = false
        var quoteColumn = 0
        func flush(_ end: Int) {
            out.append(Word(buf, column: start, length: max(1, end - start)))
            buf = ""
            inWord = false
        }
        for c in text {
            col += 1
            if c.isNewline || (c.asciiValue.map { $0 < 0x20 && $0 != 0x09 } ?? false) {
                var e = APIError.badField(field, "a rule is one line: control character at column \(col)")
                e.position = ErrorPosition(line: nil, column: col, word: out.count + 1, length: 1)
                throw e
            }
            if quoted {
                if escaped { buf.append(c); escaped = false }
                else if c == "\\" { escaped = true }
                else if c == "\"" { quoted = false; flush(col + 1) }
                else { buf.append(c) }
                continue
            }
            if c == "\"" {
                quoted = true
                quoteColumn = col
                if !inWord { start = col; inWord = true }
                continue
            }
            if c == " " || c == "\t" {
                if inWord { flush(col) }
                continue
            }
            if !inWord { start = col; inWord = true }
            buf.append(c)
        }
        if quoted {
            var e = APIError.badField(field, "unterminated quote")
            e.error = "bad-rule"
            e.position = ErrorPosition(line: nil, column: quoteColumn, word: out.count + 1, length: 1)
            throw e
        }
        if inWord { flush(col + 1) }
        return out
    }

    /// The iptables argv for `verb` (`-A`, `-I`, `-D`, `-R`) on `table`/`chain`, with the rule
    /// read by IptParse first. `userChains` decides `-j NAME` (a jump or a target), as in
    /// iptables. Throws a located `bad-rule` error when our parser refuses the rule.
    static func argv(verb: IptCommand.Kind, table: String, chain: String, number: Int?, rule: String,
                     family: Family, userChains: Set<String>) throws(APIError) -> [String] {
        let ruleWords = try words(rule, field: "rule")
        if verb != .delete || number == nil, ruleWords.isEmpty {
            throw APIError.badField("rule", "the rule is empty (give at least its target, e.g. '-j DROP')")
        }
        let flag: String
        switch verb {
        case .append: flag = "-A"
        case .insert: flag = "-I"
        case .delete: flag = "-D"
        case .replace: flag = "-R"
        default: flag = "-C"
        }
        // The words the API adds sit before the rule's, at columns below 1, so a diagnostic
        // about them is told apart from one about the rule text.
        var prefix = [Word("-t", column: -5), Word(table, column: -4), Word(flag, column: -3), Word(chain, column: -2)]
        if let number { prefix.append(Word(String(number), column: -1)) }
        let source = WordSource(file: "rule", line: 1, text: rule)
        let context = CommandContext(family: family, chainExists: { t, c in t == table && userChains.contains(c) })
        let parsed: CommandParser.Parsed
        do {
            parsed = try CommandParser.parse(prefix + ruleWords, source: source, context: context)
        } catch {
            let column = error.location.column
            if column < 1 {
                let field = column <= -4 ? "table" : column == -1 ? "number" : "chain"
                throw APIError.badField(field, error.message)
            }
            let index = ruleWords.firstIndex { $0.column == column }.map { $0 + 1 }
            throw APIError.badRule("rule", error, wordIndex: index)
        }
        guard case .command(let c) = parsed, c.kind == verb else {
            throw APIError.badField("rule", "the rule text holds a command of its own; give only the rule's matches and target")
        }
        return prefix.map(\.text) + ruleWords.map(\.text)
    }
}
