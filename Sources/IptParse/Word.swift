/// One argument of a rule, with the place it came from. On a command line
/// `line` is 0 and `column` is the argv index, so diagnostics can point at the word.
public struct Word: Equatable, Sendable {
    public var text: String
    public var column: Int
    public var length: Int

    public init(_ text: String, column: Int, length: Int? = nil) {
        self.text = text
        self.column = column
        self.length = length ?? max(1, text.characterCount)
    }
}

/// Where the words being parsed live: a file line or an argv vector.
public struct WordSource: Sendable, Equatable {
    public var file: String
    public var line: Int
    public var text: String

    public init(file: String, line: Int, text: String) {
        self.file = file
        self.line = line
        self.text = text
    }

    /// Argv has no lines: show the words joined, and point at the word's offset in that string.
    public static func argv(_ words: [String], program: String = "ebpf-iptables") -> (WordSource, [Word]) {
        var col = 1
        var out: [Word] = []
        for w in words {
            out.append(Word(w, column: col, length: max(1, w.count)))
            col += w.count + 1
        }
        return (WordSource(file: "<command line>", line: 1, text: words.joined(separator: " ")), out)
    }

    func diagnostic(_ id: String, _ message: String, at word: Word?) -> Diagnostic {
        let col = word?.column ?? (text.count + 1)
        let len = word?.length ?? 1
        return Diagnostic(id: id, message, at: SourceLocation(file: file, line: line, column: col, length: len), line: text)
    }
}
