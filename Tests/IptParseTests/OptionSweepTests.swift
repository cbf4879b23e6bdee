import Foundation
import IptParse
@testable import Runtime
import TestSupport
import XCTest

/// The option sweep (scripts/option-sweep): every option and value form iptables-extensions(8)
/// documents, as one `iptables -A` each, recorded from iptables 1.8.9 (nf_tables) in a
/// namespace into fixtures/option-sweep/cases.tsv. Here, offline, our command parser and
/// printers must give what the kernel's iptables gave for every row: the refusal (stderr and
/// exit status) or the rule's `-S`, `iptables-save` and `-L -n -v -x` lines. Differences we
/// keep on purpose are in fixtures/option-sweep/known.tsv with their reason, and are asserted
/// to still differ, so a fix shows up there.
final class OptionSweepTests: XCTestCase {
    static let dir = OptionSweepCase.directory
    static let sets: Set<String> = ["sweep4", "sweep4net"]

    /// Cases that agree today, per group: a change that loses one fails here. Raise these as
    /// fixes land (m-z and the core options are fixed on the `values` branch).
    static let agreeing: [String: Int] = ["core": 131, "a-l": 1820, "m-z": 2284]

    func testEveryRecordedCaseMatchesOurParserAndPrinters() throws {
        let cases = OptionSweepCase.load(Self.dir.appendingPathComponent("cases.tsv"))
        XCTAssertGreaterThan(cases.count, 4000, "fixtures/option-sweep/cases.tsv: run scripts/option-sweep --record")
        let known = OptionSweepCase.known(Self.dir.appendingPathComponent("known.tsv"))
        var tally: [String: [String: Int]] = [:]
        var fixedKnown: [String] = []
        var differing: [String: [String]] = [:]
        for c in cases {
            let diff = OptionSweepCase.difference(c, sets: Self.sets)
            let outcome: String
            if known[c.argvJSON] != nil {
                if diff == nil {
                    fixedKnown.append("#\(c.id) \(c.argv.joined(separator: " "))")
                    outcome = "fail"
                } else {
                    outcome = "known"
                }
            } else if let diff {
                outcome = "fail"
                differing[c.group, default: []].append("#\(c.id) iptables \(c.argv.joined(separator: " ")): \(diff)")
            } else {
                outcome = "agree"
            }
            tally[c.group, default: [:]][outcome, default: 0] += 1
        }
        for g in ["core", "a-l", "m-z"] {
            let t = tally[g] ?? [:]
            print("option sweep \(g): \(t["agree"] ?? 0) agree, \(t["known"] ?? 0) known, \(t["fail"] ?? 0) fail")
        }
        // The a-l differences still open, for whoever fixes them next.
        for f in differing["a-l", default: []].prefix(100) { print("option sweep a-l differs: \(f)") }
        // OPTION_SWEEP_ALL=1 prints the core and m-z ones too (all of them).
        if ProcessInfo.processInfo.environment["OPTION_SWEEP_ALL"] != nil {
            for g in ["core", "m-z"] { for f in differing[g, default: []] { print("option sweep \(g) differs: \(f)") } }
        }
        for k in known.keys where !cases.contains(where: { $0.argvJSON == k }) {
            XCTFail("known.tsv names a case that is not in cases.tsv: \(k)")
        }
        XCTAssertEqual(fixedKnown, [], "listed in known.tsv but agreeing now: remove them from known.tsv")
        for (g, floor) in Self.agreeing {
            XCTAssertGreaterThanOrEqual(tally[g]?["agree"] ?? 0, floor, "option-sweep cases of \(g) that agree with iptables 1.8.9")
        }
    }
}

extension OptionSweepCase {
    /// What our parser and printers make of the case, against the recording; nil when equal.
    static func difference(_ c: OptionSweepCase, sets: Set<String>) -> String? {
        let (source, words) = WordSource.argv(c.argv)
        let context = CommandContext(family: .ipv4, setExists: { sets.contains($0) })
        let parsed: CommandParser.Parsed
        do {
            parsed = try CommandParser.parse(words, source: source, context: context)
        } catch {
            guard c.status != 0 else { return "iptables takes it, we refuse: \(error.message)" }
            let kind = words.lazy.compactMap { IptCommand.Kind(rawValue: IptablesMessages.short($0.text)) }.first
            let r = IptablesMessages.refusal(for: error, words: words, kind: kind, chain: c.chain)
            if r.status != c.status || r.text != c.stderr {
                return "refusal differs: ours \(r.status) \(r.text.debugDescription), iptables \(c.status) \(c.stderr.debugDescription)"
            }
            return nil
        }
        guard c.status == 0 else { return "iptables refuses (\(c.status) \(c.stderr.debugDescription)), we accept" }
        guard case .command(let cmd) = parsed else { return "we skip the line" }
        var table = Table(name: c.table)
        do { try table.apply(cmd) } catch { return "our edit refuses it: \(error)" }
        let s = ListRulesPrinter.rules(table, family: .ipv4, chain: c.chain, ruleNumber: nil, verbose: false)
            .split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined(separator: "\n")
        let save = SavePrinter.save(table, family: .ipv4).split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined(separator: "\n")
        var diffs: [String] = []
        if s != c.listRules { diffs.append("-S: ours \(s.debugDescription), iptables \(c.listRules.debugDescription)") }
        if save != c.save { diffs.append("save: ours \(save.debugDescription), iptables \(c.save.debugDescription)") }
        // `-c PKTS BYTES` is stored with the rule; the kernel's counters start from it.
        let snapshot = table
        let counters = ListPrinter.CounterSource(
            rule: { chain, n in
                let rules = snapshot.chains.first { $0.name == chain }?.rules ?? []
                return (n >= 1 && n <= rules.count ? rules[n - 1].counters : nil) ?? Counters(packets: 0, bytes: 0)
            },
            policy: { _ in Counters(packets: 0, bytes: 0) })
        do {
            let l = try ListPrinter.list(table, chain: c.chain, ruleNumber: nil, options: .init(numeric: true, verbose: true, exact: true),
                                         counters: counters, resolver: NumericResolver())
            let lines = l.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2)
            let body = lines.joined(separator: "\n").trimmingSuffixNewlines()
            if body != c.list { diffs.append("-L: ours \(body.debugDescription), iptables \(c.list.debugDescription)") }
        } catch {
            diffs.append("-L: we refuse to list it (\(error.what))")
        }
        if !c.stderr.isEmpty { diffs.append("iptables warns \(c.stderr.debugDescription)") }
        return diffs.isEmpty ? nil : diffs.joined(separator: "; ")
    }
}

private extension String {
    func trimmingSuffixNewlines() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
