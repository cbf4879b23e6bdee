import Foundation
import IptParse

/// The stateful matches XDP evaluates itself (limit, statistic): their tests, and the
/// checks that they act on exactly the packets iptables charges them for.
extension AtomLowering {
    static func isStateful(_ m: Match) -> Bool {
        switch m {
        case .limit: true
        case .opaque(let e): e.name == "statistic"
        default: false
        }
    }

    /// The ext test of stateful match `m`, the `index`-th of rule `ref`.
    func stateful(_ m: Match, match index: Int, ref: RuleRef?) throws(UnsupportedTest) -> ExtTest {
        // Without the rule's place there is no state to name (rules before INPUT, tests).
        guard let ref else { throw .match(m.name) }
        let instance = ExtInstance(rule: ref, match: index)
        switch m {
        case .limit(let l):
            // limit_mt_check refuses these; such a rule never loads in the kernel.
            guard l.burst > 0 else { throw .statefulOptions("limit", "--limit-burst 0") }
            return .limit(average: l.average, burst: l.burst, instance: instance)
        case .opaque(let e) where e.name == "statistic":
            let (mode, negated) = try Self.statistic(e)
            return .statistic(mode, negated: negated, instance: instance)
        default:
            throw .match(m.name)
        }
    }

    /// libxt_statistic's parse: the probability as lround(2^31 * p), --every n stored as
    /// n - 1, the counter starting at every - packet; any `!` sets XT_STATISTIC_INVERT.
    static func statistic(_ e: ExtensionCall) throws(UnsupportedTest) -> (StatisticMode, Bool) {
        func arg(_ name: String) -> String? { e.options.first { $0.name == name }?.args.first }
        let negated = e.options.contains { $0.negated }
        switch arg("mode") {
        case "random":
            guard let text = arg("probability"), let p = Double(text), p >= 0, p <= 1 else {
                throw .statefulOptions("statistic", "random mode without a probability")
            }
            return (.random(probability: UInt32(clamping: lround(Double(0x8000_0000) * p))), negated)
        case "nth":
            guard let everyText = arg("every"), let n = UInt32(everyText), n >= 1 else {
                throw .statefulOptions("statistic", "nth mode without --every")
            }
            let packet = arg("packet").flatMap { UInt32($0) } ?? 0
            guard packet <= n - 1 else { throw .statefulOptions("statistic", "--packet beyond --every") }
            return (.nth(every: n - 1, count: n - 1 - packet), negated)
        default:
            throw .statefulOptions("statistic", "mode '\(arg("mode") ?? "")'")
        }
    }
}

/// iptables evaluates a rule's matches in order and stops at the first that fails; XDP
/// evaluates the fixed tests of a position first and its ext tests after, in order. The
/// two agree on which packets charge a stateful match only when every test after it is
/// an ext test too.
struct StatefulOrder {
    private var seenStateful: String?
    private(set) var problem: UnsupportedTest?

    mutating func saw(_ m: Match, added: ArraySlice<Atom>, l4: Bool) {
        if let first = seenStateful, problem == nil {
            let fixed = added.contains { if case .ext = $0 { false } else { true } }
            if fixed || l4 { problem = .statefulBeforeTests(first, later: m.name) }
        }
        if seenStateful == nil, added.contains(where: { if case .ext(let e) = $0 { e.isStateful } else { false } }) {
            seenStateful = m.name
        }
    }
}
