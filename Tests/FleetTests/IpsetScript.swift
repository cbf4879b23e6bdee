import Foundation

/// fixtures/conformance/ipset's script format (README there) and the comparison of outputs
/// after masking what only the kernel knows (the same rules as IpsetConformanceTests).
enum IpsetScript {
    struct Step {
        var argv: [String]
        var stdin: String?
        var line: Int
    }

    static func parse(_ text: String) -> [Step] {
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

    static func words(_ line: String) -> [String] {
        var out: [String] = [], cur = ""
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

    static func equivalent(_ a: String, _ b: String) -> Bool {
        let x = normalise(a), y = normalise(b)
        return x.count == y.count && zip(x, y).allSatisfy { sameLine($0, $1) }
    }

    /// initval and memory size masked; the members of each set sorted (hash order follows the
    /// kernel's random initval), except bitmap and list:set sets, which list in their own order.
    static func normalise(_ s: String) -> [String] {
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var l = String(line)
            if let r = l.range(of: "initval[ >]0x[0-9a-f]{8}", options: .regularExpression) { l.replaceSubrange(r, with: "initval 0x-") }
            if l.hasPrefix("Size in memory: ") { l = "Size in memory: -" }
            if l.hasPrefix("<memsize>") { l = "<memsize>-</memsize>" }
            return l
        }
        var i = 0
        while i < lines.count {
            let inList = i > 0 && lines[i - 1] == "Members:"
            let prefix = lines[i].hasPrefix("<member>") ? "<member>" : "add "
            guard inList || lines[i].hasPrefix(prefix) else { i += 1; continue }
            var j = i
            while j < lines.count && !lines[j].isEmpty && (inList ? !lines[j].hasPrefix("Name: ") : lines[j].hasPrefix(prefix)) { j += 1 }
            let header = lines[..<i].last { $0.hasPrefix("Type: ") || $0.hasPrefix("create ") || $0.hasPrefix("<type>") } ?? ""
            if !(header.contains("bitmap:") || header.contains("list:set")) { lines[i..<j].sort { withoutTimeout($0) < withoutTimeout($1) } }
            i = max(j, i + 1)
        }
        return lines
    }

    static let timeoutPattern = " timeout [0-9]+|<timeout>[0-9]+</timeout>"

    static func withoutTimeout(_ l: String) -> String {
        l.replacingOccurrences(of: timeoutPattern, with: "", options: .regularExpression)
    }

    static func sameLine(_ a: String, _ b: String) -> Bool {
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
}
