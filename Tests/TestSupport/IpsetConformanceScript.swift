import Foundation

/// fixtures/conformance/ipset's script format (README there) and the comparison of ipset's
/// outputs after masking what only the kernel knows. IpsetConformanceTests says what is
/// masked and why; the fleet's tests compare `ebpf-ipset --database` with ipset by the same rules.
public enum IpsetConformanceScript {
    public struct Step {
        public var argv: [String]
        public var stdin: String?
        public var line: Int
        public init(argv: [String], stdin: String?, line: Int) {
            self.argv = argv
            self.stdin = stdin
            self.line = line
        }
    }

    public struct Script {
        public var name: String
        public var steps: [Step]
        public init(name: String, steps: [Step]) {
            self.name = name
            self.steps = steps
        }
    }

    // MARK: normalisation

    /// Equal after masking what only the kernel can know (what and why: IpsetConformanceTests).
    public static func equivalent(_ a: String, _ b: String) -> Bool {
        let x = normalise(a), y = normalise(b)
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { sameLine($0, $1) }
    }

    public static func normalise(_ s: String) -> [String] {
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var l = String(line)
            if let r = l.range(of: "initval[ >]0x[0-9a-f]{8}", options: .regularExpression) { l.replaceSubrange(r, with: "initval 0x-") }
            if l.hasPrefix("Size in memory: ") { l = "Size in memory: -" }
            if l.hasPrefix("<memsize>") { l = "<memsize>-</memsize>" }
            return l
        }
        // Members of one set: the lines after "Members:" up to a blank line, or a run of `add` lines.
        var i = 0
        while i < lines.count {
            let inList = i > 0 && lines[i - 1] == "Members:"
            let prefix = lines[i].hasPrefix("<member>") ? "<member>" : "add "
            guard inList || lines[i].hasPrefix(prefix) else { i += 1; continue }
            var j = i
            while j < lines.count && !lines[j].isEmpty && (inList ? !lines[j].hasPrefix("Name: ") : lines[j].hasPrefix(prefix)) { j += 1 }
            if !Self.listsInOrder(lines[..<i]) { lines[i..<j].sort { withoutTimeout($0) < withoutTimeout($1) } }
            i = max(j, i + 1)
        }
        return lines
    }

    /// Whether the set whose members follow lists them in an order of its own: a bitmap by
    /// address, a list:set by position (the kernel's order, compared as it is).
    public static func listsInOrder(_ before: ArraySlice<String>) -> Bool {
        guard let header = before.last(where: { $0.hasPrefix("Type: ") || $0.hasPrefix("create ") || $0.hasPrefix("<type>") })
        else { return false }
        return header.contains("bitmap:") || header.contains("list:set")
    }

    public static let timeoutPattern = " timeout [0-9]+|<timeout>[0-9]+</timeout>"

    public static func withoutTimeout(_ l: String) -> String {
        l.replacingOccurrences(of: timeoutPattern, with: "", options: .regularExpression)
    }

    /// Lines are equal, or differ only in a member's remaining timeout, by at most one.
    public static func sameLine(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard !a.hasPrefix("Header:") && !a.hasPrefix("create ") && !a.hasPrefix("<header>"),
              withoutTimeout(a) == withoutTimeout(b) else { return false }
        let t = { (l: String) -> Int? in
            guard let r = l.range(of: timeoutPattern, options: .regularExpression) else { return nil }
            return Int(l[r].filter(\.isNumber))
        }
        guard let x = t(a), let y = t(b), x != 0, y != 0 else { return false }
        return abs(x - y) <= 1
    }

    // MARK: scripts

    public static func scripts(in dir: URL) throws -> [Script] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.first?.isNumber ?? false }.sorted()
        return names.map { Script(name: $0, steps: parse(Fixtures.text(dir.appendingPathComponent($0)))) }
    }

    /// One script's steps: a command a line, `> ` lines its standard input, `#` comments.
    public static func parse(_ text: String) -> [Step] {
        var steps: [Step] = []
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.hasPrefix("> "), !steps.isEmpty {
                steps[steps.count - 1].stdin = (steps[steps.count - 1].stdin ?? "") + line.dropFirst(2) + "\n"
            } else if !line.hasPrefix("#"), !line.trimmingCharacters(in: .whitespaces).isEmpty {
                steps.append(Step(argv: words(line), stdin: nil, line: k + 1))
            }
        }
        return steps
    }

    /// Shell-like words: blanks separate, single or double quotes group.
    public static func words(_ line: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quote: Character?
        var inWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { cur.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { out.append(cur) }
                cur = ""
                inWord = false
            } else {
                cur.append(c)
                inWord = true
            }
        }
        if inWord { out.append(cur) }
        return out
    }
}
