import Compiler
import IptParse
import TestSupport
import XCTest

/// The compiler's promise, checked on random rulesets against a reference of iptables:
/// whenever the XDP program (modelled by `CompiledTables.decide`) answers DROP, iptables
/// drops the packet whatever the matches nobody can decide answer; whenever it answers
/// ACCEPT (or its policy), iptables accepts. Only a KERNEL answer may leave the question
/// open, and a ruleset built only of exactly compilable rules has none.
final class FirstMatchPropertyTests: XCTestCase {
    typealias Outcome = ReferenceIptables.Outcome

    struct Tally {
        var rulesets = 0, packets = 0, drops = 0, accepts = 0, kernel = 0, choiceRuns = 0
        var rulesetsWithoutKernel = 0
        /// What a program that dropped at KERNEL positions would get wrong.
        var brokenIfKernelDropped = 0
        /// Why exact rulesets still got KERNEL positions (tests one table entry cannot hold).
        var layout: [String: Int] = [:]
    }

    /// Checks one ruleset on `packets` random packets; nil after a reported failure.
    func check(_ g: RandomRulesets.Generated, seed: UInt64, gen: inout RandomRulesets, packets: Int,
               tally: inout Tally) throws -> CompileResult? {
        let ruleset = try RestoreParser.parse(g.text, options: .init(file: "random-\(seed).rules"))
        let sets = try IpsetParser.parse(RandomRulesets.setsText, file: "random.ipset")
        let r = Compiler.compile(ruleset, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: g.rejectAsDrop))
        XCTAssertTrue(r.installable)
        let reference = ReferenceIptables(ruleset: ruleset, interface: "eth0", staticSets: g.staticSets)
        var silent: [String: RuleStatus] = [:]
        for rule in r.report.rules {
            switch rule.status {
            case .shadowed, .neverMatches, .unreachable: silent["\(rule.ref.table)/\(rule.ref.chain)#\(rule.ref.index)"] = rule.status
            default: break
            }
        }
        tally.rulesets += 1
        if !r.tables.verdicts.contains(.kernel) { tally.rulesetsWithoutKernel += 1 }
        for _ in 0..<packets {
            let p = gen.packet()
            let d = r.tables.decide(p.facts, conntrack: p.state)
            let (outcomes, runs, deciders) = reference.outcomes(p)
            // A rule the report says never decides must not decide in iptables either.
            for key in deciders {
                guard let status = silent[key] else { continue }
                XCTFail("seed \(seed): \(key) is reported \(status.name) (\(status.detail)) but decides \(p.facts) state \(p.state)\n\(g.text)")
                return nil
            }
            tally.packets += 1
            tally.choiceRuns += runs
            var allowed: Set<Outcome>
            switch d.verdict {
            case .kernel:
                tally.kernel += 1
                if !outcomes.isSubset(of: [.drop, .droppedBeforeInput]) { tally.brokenIfKernelDropped += 1 }
                continue
            case .drop:
                tally.drops += 1
                allowed = [.drop, .droppedBeforeInput]
                if g.rejectAsDrop { allowed.insert(.reject) }
            case .reject:
                // Answered from XDP with the kernel's reply: the kernel must reach that REJECT.
                tally.drops += 1
                allowed = [.reject, .droppedBeforeInput]
            case .accept:
                tally.accepts += 1
                // A DROP before INPUT only means the kernel drops what XDP passed.
                allowed = [.accept, .droppedBeforeInput]
            case .continue, .continueWithoutEntry:
                XCTFail("seed \(seed): a CONTINUE position decided \(p.facts)")
                return nil
            }
            if !outcomes.isSubset(of: allowed) {
                XCTFail("""
                    seed \(seed): XDP says \(d.verdict) at \(d.position.map(String.init) ?? "policy"), iptables may reach \(outcomes)
                    packet \(p.facts) state \(p.state)
                    reject-as-drop \(g.rejectAsDrop)
                    \(g.text)
                    """)
                return nil
            }
        }
        return r
    }

    func run(exact: Bool, seeds: Range<UInt64>, packets: Int, returnHeavy: Bool = false) throws -> Tally {
        var tally = Tally()
        for seed in seeds {
            var gen = RandomRulesets(rng: SplitMix(seed: seed), exact: exact)
            gen.returnHeavy = returnHeavy
            let g = gen.ruleset()
            guard let r = try check(g, seed: seed, gen: &gen, packets: packets, tally: &tally) else { break }
            if exact {
                // In rulesets of exactly compilable rules, the only KERNEL positions allowed are
                // the ones whose tests do not fit one table entry.
                for b in r.xdpOnlyBlockers {
                    if case .kernelRule(_, let why) = b { tally.layout[why.detail, default: 0] += 1 }
                    // A RETURN past the bound on alternatives is a layout limit too.
                    if case .kernelRule(_, .multiTestReturn(_, _, .tooManyAlternatives)) = b { continue }
                    if case .kernelRule(_, .untrackedSplit) = b { continue }
                    guard case .kernelRule(_, .unsupportedTests(let tests)) = b,
                          tests.allSatisfy({ if case .layout = $0 { true } else { false } })
                    else {
                        XCTFail("seed \(seed): an exact ruleset needs the kernel: \(b.detail)\n\(g.text)")
                        break
                    }
                }
            }
        }
        return tally
    }

    func testDropsOnlyWhatIptablesCertainlyDrops() throws {
        let t = try run(exact: false, seeds: 1..<2501, packets: 40)
        print("first-match property (mixed): \(t.rulesets) rulesets, \(t.packets) packets, \(t.choiceRuns) reference runs; XDP drop \(t.drops), accept \(t.accepts), kernel \(t.kernel); a program dropping at KERNEL positions would be wrong on \(t.brokenIfKernelDropped)")
        // The property has teeth only if XDP decides a fair share and the KERNEL positions matter.
        XCTAssertGreaterThan(t.drops, t.packets / 10)
        XCTAssertGreaterThan(t.brokenIfKernelDropped, 0)
    }

    func testExactRulesetsAgreeExactly() throws {
        let t = try run(exact: true, seeds: 100_001..<102_001, packets: 40)
        print("first-match property (exact): \(t.rulesets) rulesets (\(t.rulesetsWithoutKernel) without any KERNEL position), \(t.packets) packets; XDP drop \(t.drops), accept \(t.accepts), kernel \(t.kernel)")
        print("  KERNEL positions for layout: " + t.layout.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
        XCTAssertGreaterThan(t.rulesetsWithoutKernel, t.rulesets * 85 / 100)
        XCTAssertLessThan(t.kernel, t.packets / 50)
    }

    /// RETURN and goto with any number of tests and negations, in deeper chains: inlined as
    /// disjunctions, they must decide as iptables does for every packet.
    func testMultiTestReturnsAgreeExactly() throws {
        let t = try run(exact: true, seeds: 200_001..<202_001, packets: 40, returnHeavy: true)
        print("first-match property (RETURN-heavy, exact): \(t.rulesets) rulesets (\(t.rulesetsWithoutKernel) without any KERNEL position), \(t.packets) packets; XDP drop \(t.drops), accept \(t.accepts), kernel \(t.kernel)")
        print("  KERNEL positions for layout: " + t.layout.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
        XCTAssertGreaterThan(t.rulesetsWithoutKernel, t.rulesets * 75 / 100)
        XCTAssertLessThan(t.kernel, t.packets / 20)
        XCTAssertGreaterThan(t.drops, t.packets / 10)
        XCTAssertGreaterThan(t.accepts, t.packets / 10)
    }

    /// The same, mixed with what needs the kernel (a RETURN over limit or string, LOG, sets
    /// with timeouts): XDP never decides otherwise than iptables may.
    func testMultiTestReturnsMixed() throws {
        let t = try run(exact: false, seeds: 300_001..<301_501, packets: 40, returnHeavy: true)
        print("first-match property (RETURN-heavy, mixed): \(t.rulesets) rulesets, \(t.packets) packets; XDP drop \(t.drops), accept \(t.accepts), kernel \(t.kernel)")
        XCTAssertGreaterThan(t.drops + t.accepts, t.packets / 5)
    }
}
