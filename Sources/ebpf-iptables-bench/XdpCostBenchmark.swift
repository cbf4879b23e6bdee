import Foundation
import Compiler
import IptParse
import Loader
import Verifier

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

/// Per-packet cost of the whitelist against the set size, with BPF_PROG_TEST_RUN in plain
/// mode (no network: the kernel's mean time per run of the program on one frame), plus the
/// time to parse+compile each ruleset and to write it as a generation. Repetitions are
/// interleaved (every size once, then again), each into a freshly loaded Dataplane.
struct XdpCostBenchmark {
    var sizes: [Int]
    var repetitions = 3
    var runsPerMeasurement: UInt32 = 1_000_000
    /// The target: the largest set's figure within this factor of the smallest's.
    var targetRatio = 1.3

    struct Samples {
        var hit: [Double] = []
        var miss: [Double] = []
        /// The same on the program specialised to the whitelist's shape (ProgramShape).
        var shapedHit: [Double] = []
        var shapedMiss: [Double] = []
        var parseCompile: [Double] = []
        var write: [Double] = []
    }

    func run() throws {
        let rulesets = sizes.map { WhitelistRuleset(members: $0) }
        let texts = rulesets.map { (rules: $0.rulesText, sets: $0.ipsetText) }
        var samples = [Samples](repeating: Samples(), count: sizes.count)
        for rep in 1...repetitions {
            for (k, ruleset) in rulesets.enumerated() {
                log("repetition \(rep)/\(repetitions), \(grouped(ruleset.members)) members")
                let (tables, compileSeconds) = try timed {
                    try Self.parseAndCompile(rules: texts[k].rules, sets: texts[k].sets)
                }
                samples[k].parseCompile.append(compileSeconds)
                let dp = try Dataplane.load()
                let start = monotonicSeconds()
                try dp.write(tables, generation: 0)
                samples[k].write.append(monotonicSeconds() - start)
                try dp.activate(generation: 0)
                try dp.setFlags(.allDestinations) // judge test-run frames whatever their destination
                let hit = UDPFrame(source: ruleset.hitSource).bytes
                let miss = UDPFrame(source: ruleset.missSource).bytes
                samples[k].hit.append(try measure(dp, hit, expect: XDPAction.pass, what: "member \(Probe.dotted(ruleset.hitSource))"))
                samples[k].miss.append(try measure(dp, miss, expect: XDPAction.drop, what: "non-member \(Probe.dotted(ruleset.missSource))"))
                let shaped = try Dataplane.load(shape: ProgramShape(tables))
                try shaped.write(tables, generation: 0)
                try shaped.activate(generation: 0)
                try shaped.setFlags(.allDestinations)
                samples[k].shapedHit.append(try measure(shaped, hit, expect: XDPAction.pass, what: "member (specialised)"))
                samples[k].shapedMiss.append(try measure(shaped, miss, expect: XDPAction.drop, what: "non-member (specialised)"))
            }
        }
        report(samples)
    }

    /// The bytes as the CLI would read them: ipset save text, iptables-save text, compile.
    static func parseAndCompile(rules: String, sets: String) throws -> CompiledTables {
        let script = try IpsetParser.parse(sets, file: "whitelist.ipset")
        let ruleset = try RestoreParser.parse(rules, options: .init(file: "whitelist.rules"))
        let result = Compiler.compile(ruleset, sets: script, interface: "bench0")
        guard result.installable else {
            throw BenchError(description: "the whitelist ruleset does not compile: \(result.report.notes)")
        }
        return result.tables
    }

    /// ns/packet of one BPF_PROG_TEST_RUN (after a short warm-up), checking the verdict.
    func measure(_ dp: borrowing Dataplane, _ frame: [UInt8], expect: UInt32, what: String) throws -> Double {
        _ = try dp.testRun(packet: frame, repeat: 10_000)
        let r = try dp.testRun(packet: frame, repeat: runsPerMeasurement)
        guard r.action == expect else {
            throw BenchError(description: "\(what): XDP action \(r.action), expected \(expect) (1 DROP, 2 PASS)")
        }
        return Double(r.nanosecondsPerRun)
    }

    func report(_ samples: [Samples]) {
        let hit = samples.map { Spread($0.hit) }
        let miss = samples.map { Spread($0.miss) }
        print("XDP cost per packet: BPF_PROG_TEST_RUN, plain mode, repeat \(grouped(Int(runsPerMeasurement))); "
            + "ns/packet as min/median/max of \(repetitions) interleaved repetitions, each on a fresh Dataplane")
        print("hit = whitelisted source, UDP 5060 (expects PASS); miss = other 10.0.0.0/8 source (expects DROP)")
        print("\(pad("N", 10))  \(pad("hit ns/packet", 18))  \(pad("miss ns/packet", 18))  \(pad("hit ratio", 9))  \(pad("miss ratio", 10))")
        for k in sizes.indices {
            let hr = hit[k].median / hit[0].median
            let mr = miss[k].median / miss[0].median
            print("\(pad(grouped(sizes[k]), 10))  \(pad(hit[k].text(digits: 0), 18))  \(pad(miss[k].text(digits: 0), 18))  "
                + "\(pad(fixed(hr, 2) + "x", 9))  \(pad(fixed(mr, 2) + "x", 10))")
        }
        print("(ratio: median over the median at N = \(grouped(sizes[0])), all verdicts as expected)")
        print("")
        print("The same on the program specialised to the whitelist's shape (loaded with ProgramShape of its tables):")
        print("\(pad("N", 10))  \(pad("hit ns/packet", 18))  \(pad("miss ns/packet", 18))  \(pad("miss full/specialised", 21))")
        for k in sizes.indices {
            let sh = Spread(samples[k].shapedHit), sm = Spread(samples[k].shapedMiss)
            print("\(pad(grouped(sizes[k]), 10))  \(pad(sh.text(digits: 0), 18))  \(pad(sm.text(digits: 0), 18))  "
                + "\(pad(fixed(miss[k].median / sm.median, 2) + "x", 21))")
        }
        if sizes.count > 1, let last = sizes.indices.last {
            let ratio = max(hit[last].median / hit[0].median, miss[last].median / miss[0].median)
            let verdict = ratio <= targetRatio ? "met" : "missed"
            print("Target: \(grouped(sizes[last]))-entry figure within \(fixed(targetRatio, 1))x of the \(grouped(sizes[0]))-entry one: "
                + "\(verdict) (\(fixed(ratio, 2))x, the worse of hit \(fixed(hit[last].median / hit[0].median, 2))x "
                + "and miss \(fixed(miss[last].median / miss[0].median, 2))x)")
        }
        print("")
        print("Loading cost per N, seconds as min/median/max of \(repetitions):")
        print("  parse+compile = ipset save text + iptables-save text -> CompiledTables (text already in memory)")
        print("  write = Dataplane.write of that generation into a freshly loaded Dataplane (activate not included)")
        print("\(pad("N", 10))  \(pad("parse+compile s", 23))  \(pad("write s", 23))")
        for k in sizes.indices {
            print("\(pad(grouped(sizes[k]), 10))  \(pad(Spread(samples[k].parseCompile).text(digits: 3), 23))  "
                + "\(pad(Spread(samples[k].write).text(digits: 3), 23))")
        }
    }

    /// Progress, on a terminal only (the script's output stays the report).
    private func log(_ message: String) {
        guard isatty(2) != 0 else { return }
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
