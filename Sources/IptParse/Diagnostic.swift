/// Where a piece of input came from: 1-based line and column, and how many
/// characters the offending word spans (for the caret line).
public struct SourceLocation: Equatable, Sendable, Hashable {
    public var file: String
    public var line: Int
    public var column: Int
    public var length: Int

    public init(file: String, line: Int, column: Int, length: Int = 1) {
        self.file = file
        self.line = line
        self.column = column
        self.length = max(1, length)
    }

    /// `file:line:col` or `file:line:col-end`, the way nftables names a span.
    public var description: String {
        length > 1 ? "\(file):\(line):\(column)-\(column + length - 1)" : "\(file):\(line):\(column)"
    }
}

/// One finding about the input, kept as data so the parser can collect many
/// before giving up and tests can compare them exactly.
public struct Diagnostic: Equatable, Sendable, Error, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning, note }

    public var severity: Severity
    /// Stable identifier for tests and for tooling (`unknown-match`, `bad-port`, ...).
    public var id: String
    public var message: String
    public var location: SourceLocation
    /// The source line the location points into, shown under the message.
    public var sourceLine: String

    public init(_ severity: Severity = .error, id: String, _ message: String,
                at location: SourceLocation, line sourceLine: String) {
        self.severity = severity
        self.id = id
        self.message = message
        self.location = location
        self.sourceLine = sourceLine
    }

    /// Compiler-style rendering:
    /// ```
    /// rules.v4:12:18-22: error: unknown match 'tcpp'
    /// -A INPUT -p tcp -m tcpp --dport 22 -j ACCEPT
    ///                    ^^^^
    /// ```
    public var description: String {
        let shown = sourceLine.replacingTabsAndControls()
        let pad = String(repeating: " ", count: max(0, location.column - 1))
        let carets = String(repeating: "^", count: location.length)
        return "\(location.description): \(severity.rawValue): \(message)\n\(shown)\n\(pad)\(carets)"
    }
}

/// The error type of IptParse: every diagnostic found, in input order.
public struct IptParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension String {
    /// The text with control characters spelled out (`raw\r`), for quoting names in messages.
    var visible: String {
        var out = ""
        for u in unicodeScalars {
            switch u {
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7f: out += "\\x" + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// Columns are counted in characters; a tab or a control character (a stray
    /// `\r` from a CRLF file) would shift the caret, so each shows as one cell.
    func replacingTabsAndControls() -> String {
        String(map { c -> Character in
            if c == "\t" { return " " }
            if let a = c.asciiValue, a < 0x20 || a == 0x7f { return "?" }
            return c
        })
    }
}
