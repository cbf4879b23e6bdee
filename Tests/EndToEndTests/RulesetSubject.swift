import Foundation
import IptParse
import TestSupport

/// A ruleset file under test and what a namespace needs before the kernel takes it: its
/// companion sets (an `ipset save` file) and empty sets for every other name it references.
struct RulesetSubject {
    var url: URL
    /// The companion `ipset save` file, when there is one.
    var sets: URL?
    var name: String { url.lastPathComponent }
    var text: String { Fixtures.text(url) }

    /// fixtures/rulesets/*.rules (IPv4); the SIP rulesets use fixtures/ipset/sip-edge.ipset.
    static var fixtures: [RulesetSubject] {
        Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
            .filter { !$0.lastPathComponent.hasSuffix(".v6.rules") }
            .map { url in
                let sip = ["sip-edge.rules", "differential.rules"].contains(url.lastPathComponent)
                return RulesetSubject(url: url, sets: sip ? Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset") : nil)
            }
    }

    /// Every IPv4 ruleset of the shared corpus, read in place (never copied), with the
    /// `.ipset` file of the same base name when there is one.
    static var corpus: [RulesetSubject]? {
        guard let dir = Fixtures.corpus else { return nil }
        return Fixtures.files(in: dir, suffix: ".rules").filter { !$0.lastPathComponent.hasSuffix(".v6.rules") }.map { url in
            let companion = url.deletingPathExtension().appendingPathExtension("ipset")
            return RulesetSubject(url: url, sets: FileManager.default.fileExists(atPath: companion.path) ? companion : nil)
        }
    }

    /// Set names the text references (`--match-set`, `--add-set`, `--del-set`), with the
    /// number of dimensions each is used with at most.
    var referencedSets: [(name: String, dimensions: Int)] {
        let re = try? NSRegularExpression(pattern: "--(?:match-set|add-set|del-set) (\\S+) (\\S+)")
        let t = text
        let ns = t as NSString
        var seen: [String: Int] = [:]
        for m in re?.matches(in: t, range: NSRange(location: 0, length: ns.length)) ?? [] {
            let name = ns.substring(with: m.range(at: 1))
            seen[name] = max(seen[name] ?? 0, ns.substring(with: m.range(at: 2)).split(separator: ",").count)
        }
        return seen.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// `ipset` commands that make the sets the text needs: the companion file's, then an
    /// empty one for each other name referenced.
    var setCommands: (restore: String?, create: [[String]]) {
        let companion = sets.map { Fixtures.text($0) }
        let defined = Set((companion ?? "").split(separator: "\n").compactMap { line -> String? in
            let w = line.split(separator: " ")
            return w.count >= 2 && (w[0] == "create" || w[0] == "-N") ? String(w[1]) : nil
        })
        let create = referencedSets.filter { !defined.contains($0.name) }.map { s in
            ["create", s.name, s.dimensions > 1 ? "hash:ip,port" : "hash:ip", "family", "inet"]
        }
        return (companion, create)
    }

    /// Matches whose answer for a packet depends on time or on the packets before it: the
    /// kernel itself may answer two runs differently, so a second reference is needed.
    var hasNondeterministicMatches: Bool {
        let words = ["-m limit", "-m hashlimit", "-m recent", "-m statistic", "-j SET", "-m connlimit", "-m quota",
                     "--update-counters", "--packets-gt", "--packets-lt", "--bytes-gt", "--bytes-lt", "-m time"]
        let t = text
        return words.contains { t.contains($0) }
    }

    /// The input interface the ruleset names most (a wildcard `eth+` as `eth0`), so its
    /// `-i` rules meet the probes; rx0 when it names none but lo.
    var interface: String {
        var count: [String: Int] = [:]
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        for (i, w) in words.enumerated() where (w == "-i" || w == "--in-interface") && i + 1 < words.count {
            if i > 0 && words[i - 1] == "!" { continue }
            var name = words[i + 1]
            if name == "lo" || name.hasPrefix("!") { continue }
            if name.hasSuffix("+") { name = String(name.dropLast()) + "0" }
            guard name.count <= 15, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else { continue }
            count[name, default: 0] += 1
        }
        return count.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.first?.key ?? "rx0"
    }

    /// Unicast destinations the ruleset's rules test (`-d`), one address each, so probes can
    /// be aimed at them once they are made local: at most `limit`.
    func destinations(limit: Int = 6) -> [UInt32] {
        guard let rs = try? RestoreParser.parse(text, options: .init(file: name)) else { return [] }
        var out: [UInt32] = []
        for t in rs.tables {
            for c in t.chains {
                for r in c.rules {
                    guard let d = r.destination, !d.negated, d.value.family == .ipv4, let len = d.value.prefixLength, len >= 8 else { continue }
                    let b = d.value.address
                    guard b.count == 4 else { continue }
                    var a = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
                    if len < 31 { a += 1 }
                    let first = a >> 24
                    guard first != 0, first != 127, first < 224, a != FirewallLab.address, !out.contains(a) else { continue }
                    out.append(a)
                    if out.count == limit { return out }
                }
            }
        }
        return out
    }
}
