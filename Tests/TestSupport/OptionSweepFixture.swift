import Foundation

/// fixtures/option-sweep (scripts/option-sweep --record): one `iptables -A` per row, as
/// iptables 1.8.9 (nf_tables) answered it in a namespace. Read by the offline printer test
/// (IptParseTests) and the privileged one (EndToEndTests).

public struct OptionSweepCase: Sendable {
    public var id: String
    public var section: String
    public var kind: String
    public var option: String
    public var table: String
    public var chain: String
    public var argv: [String]
    public var argvJSON: String
    public var status: Int32
    public var stderr: String
    public var listRules: String
    public var save: String
    public var list: String

    /// "core" (iptables(8)'s own options), "a-l" or "m-z" by the extension's name.
    public var group: String {
        if section == "core" { return "core" }
        let first = section.lowercased().first ?? "a"
        return first <= "l" ? "a-l" : "m-z"
    }

    public static func unescape(_ s: Substring) -> String {
        var out = ""
        var it = s.makeIterator()
        while let c = it.next() {
            guard c == "\\", let n = it.next() else { out.append(c); continue }
            switch n {
            case "n": out.append("\n")
            case "t": out.append("\t")
            default: out.append(n)
            }
        }
        return out
    }

    public static func load(_ url: URL) -> [OptionSweepCase] {
        var out: [OptionSweepCase] = []
        for line in Fixtures.text(url).split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("id\t") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 12, let data = String(f[6]).data(using: .utf8),
                  let argv = try? JSONDecoder().decode([String].self, from: data), let status = Int32(f[7]) else { continue }
            out.append(OptionSweepCase(id: String(f[0]), section: String(f[1]), kind: String(f[2]), option: String(f[3]),
                                       table: String(f[4]), chain: String(f[5]), argv: argv, argvJSON: String(f[6]),
                                       status: status, stderr: unescape(f[8]), listRules: unescape(f[9]),
                                       save: unescape(f[10]), list: unescape(f[11])))
        }
        return out
    }

    /// known.tsv: argv (the JSON of cases.tsv) TAB reason.
    public static func known(_ url: URL) -> [String: String] {
        var out: [String: String] = [:]
        for line in Fixtures.text(url).split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: "\t", maxSplits: 1)
            if f.count == 2 { out[String(f[0])] = String(f[1]) }
        }
        return out
    }
}

extension OptionSweepCase {
    public static var directory: URL { Fixtures.fixtures.appendingPathComponent("option-sweep") }
    public static func loadAll() -> [OptionSweepCase] { load(directory.appendingPathComponent("cases.tsv")) }
}
