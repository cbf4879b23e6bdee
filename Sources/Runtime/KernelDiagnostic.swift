import Foundation

/// Turns a kernel tool's refusal ("iptables-restore v1.8.9 (nf_tables): Chain 'X' does not
/// exist\nError occurred at line: 3") into our located form: file:line:column, the line,
/// and carets under the word the message quotes (or the whole line).
enum KernelDiagnostic {
    static func locate(stderr: String, text: String, source: String) -> String? {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let at = lines.firstIndex(where: { $0.hasPrefix("Error occurred at line: ") }),
              let n = Int(lines[at].dropFirst("Error occurred at line: ".count).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let message = lines[..<at].map(stripProgram).filter { !$0.isEmpty }.joined(separator: " ")
        let textLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard n >= 1, n <= textLines.count else { return "\(source):\(n): error: \(message)" }
        let line = String(textLines[n - 1])
        var lo = 1, hi = max(line.count, 1)
        if let word = quoted(message), let r = line.range(of: word) {
            lo = line.distance(from: line.startIndex, to: r.lowerBound) + 1
            hi = lo + word.count - 1
        }
        let carets = String(repeating: " ", count: lo - 1) + String(repeating: "^", count: max(hi - lo + 1, 1))
        return "\(source):\(n):\(lo)-\(hi): error: \(message)\n\(line)\n\(carets)"
    }

    /// "iptables-restore v1.8.9 (nf_tables): msg" -> "msg".
    static func stripProgram(_ line: String) -> String {
        if let r = line.range(of: #"^[A-Za-z0-9_-]+ v[0-9.]+( \([^)]*\))?: "#, options: .regularExpression) {
            return String(line[r.upperBound...])
        }
        return line
    }

    /// The first word the message quotes: 'X', "X" or `X'.
    static func quoted(_ message: String) -> String? {
        for pattern in [#"'([^']+)'"#, #"\"([^\"]+)\""#, #"`([^']+)'"#] {
            if let r = message.range(of: pattern, options: .regularExpression) {
                let inner = message[r].dropFirst().dropLast()
                if !inner.isEmpty { return String(inner) }
            }
        }
        return nil
    }
}
