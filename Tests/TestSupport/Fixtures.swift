import Foundation

/// Where the package's fixtures and the shared corpus live, from this file's path.
public enum Fixtures {
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var fixtures: URL { packageRoot.appendingPathComponent("fixtures") }

    /// ../shared/corpus beside the checkout, or nil when it is not there.
    public static var corpus: URL? {
        let u = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    public static func files(in dir: URL, suffix: String) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { dir.appendingPathComponent($0) }
    }

    public static func text(_ url: URL) -> String {
        (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Golden files are re-recorded, never hand-edited: EBPF_IPTABLES_RECORD=1 swift test.
    public static var recording: Bool { ProcessInfo.processInfo.environment["EBPF_IPTABLES_RECORD"] == "1" }
}

/// One malformed-input case of fixtures/diagnostics/malformed.cases.
public struct MalformedCase: Sendable {
    public var title: String
    public var text: String
    /// Why we refuse what iptables accepts, for cases tagged [stricter].
    public var stricterBecause: String?

    public static func load() -> [MalformedCase] {
        let raw = Fixtures.text(Fixtures.fixtures.appendingPathComponent("diagnostics/malformed.cases"))
        var out: [MalformedCase] = []
        var title: String?
        for line in raw.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                title = String(line.dropFirst(3))
                continue
            }
            guard let t = title else { continue }
            title = nil
            var stricter: String?
            var name = t
            if let r = t.range(of: " [stricter]") {
                name = String(t[..<r.lowerBound])
                stricter = String(t[r.upperBound...]).trimmingCharacters(in: .whitespaces)
            }
            let text: String
            if line.hasPrefix("RAW:") {
                text = String(line.dropFirst(4)).replacingOccurrences(of: "\\n", with: "\n")
                    .replacingOccurrences(of: "\\r", with: "\r").replacingOccurrences(of: "\\t", with: "\t")
            } else {
                text = "*filter\n\(line)\nCOMMIT\n"
            }
            out.append(MalformedCase(title: name, text: text, stricterBecause: stricter))
        }
        return out
    }
}
