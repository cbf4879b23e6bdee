import Foundation
import TestSupport
import XCTest

/// `ebpf-ipset` through both layers: every script of fixtures/conformance/ipset runs once with
/// the real ipset (and iptables) in a fresh network namespace and once with our binary in
/// another, where the XDP program is attached to a veth before the script starts (so every
/// set edit goes through the guard, the transition or the read-back). Each command's stdout,
/// stderr and exit status must match, and so must `ipset save` and `iptables -S` at the end.
/// Then the kernel layer in our namespace (the real `ipset save` and `iptables-save`) must
/// equal the reference's, and the state's events log must hold no prediction the kernel
/// contradicted and no interrupted change.
///
/// What is compared after normalising, and why:
/// - `initval 0x...`: the kernel draws it at random for every hash set; we draw our own.
/// - `Size in memory: N` (`<memsize>` in xml): the kernel's allocation, which depends on its hash table.
/// - the order of members in a listing: a hash set lists in hash-bucket order, which
///   follows the random initval; members are compared as a multiset per set. With
///   `-sorted` ipset orders by the first element only and keeps ties in hash order, so
///   the same normalisation applies.
/// - the remaining seconds of a member's timeout may differ by one: both sides run the
///   same command a few milliseconds apart and round down.
/// Everything else (headers, counts, references, messages, program name) must be equal.
final class IpsetConformanceTests: XCTestCase {
    struct Step {
        var argv: [String]
        var stdin: String?
        var line: Int
    }

    struct Script {
        var name: String
        var steps: [Step]
    }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("ipset conformance: skipped, \(why)")
            throw XCTSkip(why)
        }
    }

    func testScriptsMatchRealIpset() throws {
        let start = ContinuousClock.now
        let dir = Fixtures.fixtures.appendingPathComponent("conformance/ipset")
        let all = try Self.scripts(in: dir)
        XCTAssertGreaterThanOrEqual(all.count, 26, "conformance scripts in \(dir.path)")
        // IPSET_CONFORMANCE_SCRIPTS=27,30: only the scripts whose names start with those numbers.
        let only = Self.selected(ProcessInfo.processInfo.environment["IPSET_CONFORMANCE_SCRIPTS"])
        let scripts = only.isEmpty ? all : all.filter { s in only.contains { s.name.hasPrefix($0 + "-") } }
        XCTAssertFalse(scripts.isEmpty, "no script matches IPSET_CONFORMANCE_SCRIPTS")
        var matched = 0, total = 0
        for script in scripts {
            let (m, t) = try run(script)
            matched += m
            total += t
        }
        print("ipset conformance (XDP attached): \(matched)/\(total) commands matched in \(scripts.count) scripts; \(ContinuousClock.now - start)")
        XCTAssertEqual(matched, total)
        if only.isEmpty { XCTAssertGreaterThanOrEqual(total, 400) }
    }

    /// Two-digit script numbers from a comma-separated list.
    static func selected(_ list: String?) -> [String] {
        (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { $0.count == 1 ? "0" + $0 : $0 }
    }

    /// Seeded random add/del/test sequences over small address spaces, so that duplicates,
    /// misses, overlapping prefixes and nomatch exceptions all occur; the seed is printed.
    func testRandomSequencesMatchRealIpset() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["IPSET_CONFORMANCE_SEED"] ?? "") ?? UInt64.random(in: 1...1_000_000)
        var rng = SplitMix(seed: seed)
        let sets = [("RI", "hash:ip"), ("RN", "hash:net"), ("RP", "hash:ip,port"), ("RNP", "hash:net,port"), ("RT", "hash:ip")]
        var steps = sets.map { Step(argv: ["ipset", "create", $0.0, $0.1] + ($0.0 == "RT" ? ["timeout", "100", "counters"] : []),
                                    stdin: nil, line: 0) }
        func addr() -> String { "10.0.\(rng.next() % 2).\(rng.next() % 8)" }
        func member(_ type: String) -> String {
            var a = addr()
            if type.hasPrefix("hash:net") && rng.next() % 2 == 0 { a += "/\([24, 29, 30, 31][Int(rng.next() % 4)])" }
            if !a.contains("/") && rng.next() % 6 == 0 { a += "-10.0.0.\(rng.next() % 8)" }
            if type.hasSuffix(",port") {
                a += ",\(["tcp", "udp"][Int(rng.next() % 2)]):\(5060 + rng.next() % 2)"
                if rng.next() % 6 == 0 { a += "-5062" }
            }
            return a
        }
        for k in 0..<120 {
            let (name, type) = sets[Int(rng.next() % UInt64(sets.count))]
            let verb = ["add", "add", "del", "test", "test"][Int(rng.next() % 5)]
            var argv = ["ipset", verb, name, member(type)]
            if verb == "add" && type.hasPrefix("hash:net") && rng.next() % 4 == 0 { argv.append("nomatch") }
            if verb == "add" && name == "RT" && rng.next() % 2 == 0 {
                argv += ["timeout", "\(rng.next() % 200)", "packets", "\(rng.next() % 9)", "bytes", "\(rng.next() % 999)"]
            }
            if verb != "test" && rng.next() % 5 == 0 { argv.insert("-exist", at: 1) }
            steps.append(Step(argv: argv, stdin: nil, line: k + 1))
        }
        let (matched, total) = try run(Script(name: "random-\(seed)", steps: steps))
        print("ipset random conformance (seed \(seed)): \(matched)/\(total) commands matched")
        XCTAssertEqual(matched, total, "rerun with IPSET_CONFORMANCE_SEED=\(seed)")
    }

    /// Runs one script on both sides, interleaved so that timeouts age alike.
    func run(_ script: Script) throws -> (Int, Int) {
        let ns = try NetworkNamespace(prefix: "ebpt-ipconf-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-ipconf")
        var matched = 0
        var total = 0
        let end = [Step(argv: ["ipset", "save"], stdin: nil, line: 0), Step(argv: ["iptables", "-S"], stdin: nil, line: 0)]
        for step in script.steps + end {
            if step.argv.first == "sleep" {
                let s = min(3.0, Double(step.argv.dropFirst().first ?? "") ?? 0)
                Thread.sleep(forTimeInterval: s)
                continue
            }
            let real = ns.run(step.argv, stdin: step.stdin)
            let mine = fw.ours("ebpf-" + step.argv[0], Array(step.argv.dropFirst()), stdin: step.stdin)
            total += 1
            let where_ = "\(script.name):\(step.line == 0 ? "end" : String(step.line)): \(step.argv.joined(separator: " "))"
            var same = true
            for (what, a, b) in [("stdout", real.stdout, mine.stdout), ("stderr", real.stderr, mine.stderr)]
            where !Self.equivalent(a, b) {
                XCTFail("\(where_): \(what) differs\n--- ipset\n\(a)--- ebpf-ipset\n\(b)")
                same = false
            }
            if real.status != mine.status {
                XCTFail("\(where_): exit status \(real.status) from ipset, \(mine.status) from ebpf-ipset\n\(mine.stderr)")
                same = false
            }
            if same { matched += 1 }
        }
        // The kernel layer in our namespace is what the reference holds.
        let refSets = ns.run(["ipset", "save"]).stdout, oursSets = fw.kernel(["ipset", "save"]).stdout
        XCTAssertTrue(Self.equivalent(refSets, oursSets), "\(script.name): the kernel's sets differ\n--- reference\n\(refSets)--- ours\n\(oursSets)")
        let strip = FirewallUnderTest.withoutComments
        XCTAssertEqual(strip(ns.run(["iptables-save"]).stdout), strip(fw.kernel(["iptables-save"]).stdout), "\(script.name): the kernel's rules differ")
        // Expiring members change the kernel's sets behind our back: drift is expected in a
        // script with timeouts, and nowhere else; a contradicted prediction or an interrupted
        // change never.
        let timeouts = script.steps.contains { $0.argv.contains("timeout") || ($0.stdin ?? "").contains("timeout") }
        for line in fw.events.split(separator: "\n") where !(timeouts && line.contains("changed outside ebpf-iptables")) {
            XCTFail("\(script.name): \(line)")
        }
        return (matched, total)
    }

    // MARK: normalisation

    /// Equal after masking what only the kernel can know (see the type's comment).
    static func equivalent(_ a: String, _ b: String) -> Bool {
        let x = normalise(a), y = normalise(b)
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { sameLine($0, $1) }
    }

    static func normalise(_ s: String) -> [String] {
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
    static func listsInOrder(_ before: ArraySlice<String>) -> Bool {
        guard let header = before.last(where: { $0.hasPrefix("Type: ") || $0.hasPrefix("create ") || $0.hasPrefix("<type>") })
        else { return false }
        return header.contains("bitmap:") || header.contains("list:set")
    }

    static let timeoutPattern = " timeout [0-9]+|<timeout>[0-9]+</timeout>"

    static func withoutTimeout(_ l: String) -> String {
        l.replacingOccurrences(of: timeoutPattern, with: "", options: .regularExpression)
    }

    /// Lines are equal, or differ only in a member's remaining timeout, by at most one.
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

    // MARK: scripts

    static func scripts(in dir: URL) throws -> [Script] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.first?.isNumber ?? false }.sorted()
        return names.map { name in
            let text = Fixtures.text(dir.appendingPathComponent(name))
            var steps: [Step] = []
            for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(raw)
                if line.hasPrefix("> "), !steps.isEmpty {
                    steps[steps.count - 1].stdin = (steps[steps.count - 1].stdin ?? "") + line.dropFirst(2) + "\n"
                } else if !line.hasPrefix("#"), !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    steps.append(Step(argv: words(line), stdin: nil, line: k + 1))
                }
            }
            return Script(name: name, steps: steps)
        }
    }

    /// Shell-like words: blanks separate, single or double quotes group.
    static func words(_ line: String) -> [String] {
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
