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
/// What is compared after normalising (IpsetConformanceScript.normalise, TestSupport), and why:
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
    typealias Step = IpsetConformanceScript.Step
    typealias Script = IpsetConformanceScript.Script

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("ipset conformance: skipped, \(why)")
            throw XCTSkip(why)
        }
    }

    func testScriptsMatchRealIpset() throws {
        let start = ContinuousClock.now
        let dir = Fixtures.fixtures.appendingPathComponent("conformance/ipset")
        let all = try IpsetConformanceScript.scripts(in: dir)
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
            where !IpsetConformanceScript.equivalent(a, b) {
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
        XCTAssertTrue(IpsetConformanceScript.equivalent(refSets, oursSets), "\(script.name): the kernel's sets differ\n--- reference\n\(refSets)--- ours\n\(oursSets)")
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
}
