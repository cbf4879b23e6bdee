import Foundation

/// The bearer tokens `serve --tokens FILE` accepts, one per line: `TOKEN` may do anything,
/// `TOKEN read-only` may only read (GET: status, rules, sets, the migration report,
/// /metrics); its writes get 403. Blank lines and `#` comments are ignored.
public struct BearerTokens: Sendable, Equatable {
    public enum Access: String, Sendable, Equatable { case full, readOnly = "read-only" }

    public struct Entry: Sendable, Equatable {
        var token: [UInt8]
        var access: Access
    }

    public var entries: [Entry]

    public struct FormatError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "tokens file, line \(line): \(message)" }
    }

    init(entries: [Entry]) { self.entries = entries }

    public init(text: String) throws(FormatError) {
        var out: [Entry] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            switch words.count {
            case 1: out.append(Entry(token: Array(words[0].utf8), access: .full))
            case 2 where words[1] == Access.readOnly.rawValue: out.append(Entry(token: Array(words[0].utf8), access: .readOnly))
            default: throw FormatError(line: i + 1, message: "expected 'TOKEN' or 'TOKEN read-only'")
            }
        }
        entries = out
    }

    public static func load(_ path: String) throws -> BearerTokens {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(line: 0, message: "cannot read '\(path)'")
        }
        let tokens = try BearerTokens(text: String(decoding: data, as: UTF8.self))
        if tokens.entries.isEmpty { throw FormatError(line: 0, message: "'\(path)' holds no token: nobody could use the API") }
        return tokens
    }

    /// The access `presented` grants, or nil for an unknown token. Every entry is compared,
    /// each in time that depends on the lengths only, so timing tells nothing of a token's bytes.
    public func access(for presented: String) -> Access? {
        let p = Array(presented.utf8)
        var found: Access? = nil
        for e in entries where Self.constantTimeEqual(e.token, p) && found == nil {
            found = e.access
        }
        return found
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
