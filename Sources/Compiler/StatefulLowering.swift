import Foundation
import IptParse

/// The stateful matches XDP evaluates itself (limit, statistic): their tests, and the
/// checks that they act on exactly the packets iptables charges them for.
extension AtomLowering {
    static func isStateful(_ m: Match) -> Bool {
        switch m {
        case .limit: true
        case .opaque(let e): e.name == "statistic" || e.name == "hashlimit"
        default: false
        }
    }

    /// The ext test of stateful match `m`, the `index`-th of rule `ref`.
    func stateful(_ m: Match, match index: Int, ref: RuleRef?) throws(UnsupportedTest) -> ExtTest {
        // Without the rule's place there is no state to name (rules before INPUT, tests).
        guard let ref else { throw .match(m.name) }
        // Without the source line: the same ruleset read back from the kernel (iptables-save)
        // must compile to the same tables.
        let instance = ExtInstance(rule: RuleRef(table: ref.table, chain: ref.chain, index: ref.index, line: nil), match: index)
        switch m {
        case .limit(let l):
            // limit_mt_check refuses these; such a rule never loads in the kernel.
            guard l.burst > 0 else { throw .statefulOptions("limit", "--limit-burst 0") }
            return .limit(average: l.average, burst: l.burst, instance: instance)
        case .opaque(let e) where e.name == "statistic":
            // With both layers the kernel evaluates the rule again, with its own draw or
            // counter, for every packet XDP passes up: the two draws compound (measured: p=0.3
            // dropped 1-(0.7)^2 of the packets, nth --every 3 dropped 1-(2/3)^2). A token bucket
            // fed a subset of the packets agrees with XDP's; a draw does not. So statistic is
            // not decided in XDP while the kernel evaluates the ruleset too.
            // --mode random is decided by a pending draw (PendingDraws.swift): XDP draws only
            // when it carries out every outcome itself, otherwise the packet goes up undrawn
            // and the kernel draws once. --mode nth keeps a counter per rule, which the kernel
            // would advance only for the packets XDP passes up: it stays in the kernel.
            let (mode, negated) = try Self.statistic(e)
            if case .nth = mode, !statisticInXDP {
                throw .statefulOptions("statistic", "--mode nth (one counter per rule, which the kernel would advance only for the packets XDP passes up)")
            }
            return .statistic(mode, negated: negated, instance: instance)
        case .opaque(let e) where e.name == "hashlimit":
            let (h, above) = try Self.hashlimit(e)
            // A table several rules share (here or in another chain or table) is charged by
            // packets XDP may not see: the kernel's one table stays exact.
            if let uses = hashlimitUses[h.name], uses > 1 {
                throw .statefulOptions("hashlimit", "--hashlimit-name \(h.name) shared by \(uses) rules")
            }
            return .hashlimit(h, negated: above, instance: instance)
        default:
            throw .match(m.name)
        }
    }

    /// Rules per --hashlimit-name, over every table and chain.
    static func hashlimitUses(_ ruleset: Ruleset) -> [String: Int] {
        var out: [String: Int] = [:]
        for t in ruleset.tables {
            for c in t.chains {
                for r in c.rules {
                    for case .opaque(let e) in r.matches where e.name == "hashlimit" {
                        if let n = e.options.first(where: { $0.name == "hashlimit-name" })?.args.first { out[n, default: 0] += 1 }
                    }
                }
            }
        }
        return out
    }

    /// libxt_hashlimit (revision 3): the rate as 10^6 * unit / n ("N/sec|min|hour|day", any
    /// prefix of the unit, seconds without one); bytes mode and rate-match stay in the kernel.
    static func hashlimit(_ e: ExtensionCall) throws(UnsupportedTest) -> (Hashlimit, Bool) {
        func arg(_ name: String) -> String? { e.options.first { $0.name == name }?.args.first }
        func num(_ name: String) throws(UnsupportedTest) -> UInt32? {
            guard let t = arg(name) else { return nil }
            guard let v = UInt32(t) else { throw .statefulOptions("hashlimit", "--\(name) \(t)") }
            return v
        }
        if e.options.contains(where: \.negated) { throw .statefulOptions("hashlimit", "a negated option") }
        for unsupported in ["hashlimit-rate-match", "hashlimit-rate-interval"] where arg(unsupported) != nil || e.options.contains(where: { $0.name == unsupported }) {
            throw .statefulOptions("hashlimit", "--\(unsupported)")
        }
        let above = arg("hashlimit-above") != nil
        guard let name = arg("hashlimit-name"), let rate = arg("hashlimit-above") ?? arg("hashlimit-upto") else {
            throw .statefulOptions("hashlimit", "no rate or name")
        }
        let parts = rate.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let digits = parts[0].prefix { $0.isNumber }
        guard digits.count == parts[0].count else { throw .statefulOptions("hashlimit", "bytes mode (\(rate))") }
        var unit: UInt64 = 1
        if parts.count == 2 {
            let u = parts[1].lowercased()
            guard !u.isEmpty else { throw .statefulOptions("hashlimit", "rate \(rate)") }
            if "second".hasPrefix(u) { unit = 1 } else if "minute".hasPrefix(u) { unit = 60 }
            else if "hour".hasPrefix(u) { unit = 3600 } else if "day".hasPrefix(u) { unit = 86400 }
            else { throw .statefulOptions("hashlimit", "rate \(rate)") }
        }
        guard let n = UInt64(digits), n > 0, 1_000_000 * unit / n > 0 else { throw .statefulOptions("hashlimit", "rate \(rate)") }
        var mode: UInt32 = 0
        for m in (arg("hashlimit-mode") ?? "").split(separator: ",") {
            switch m {
            case "srcip": mode |= Hashlimit.srcIP
            case "dstip": mode |= Hashlimit.dstIP
            case "srcport": mode |= Hashlimit.srcPort
            case "dstport": mode |= Hashlimit.dstPort
            default: throw .statefulOptions("hashlimit", "mode \(m)")
            }
        }
        var h = Hashlimit(name: name, average: 1_000_000 * unit / n, burst: try num("hashlimit-burst") ?? 5, mode: mode)
        if let v = try num("hashlimit-srcmask") { h.sourceMask = UInt8(clamping: v) }
        if let v = try num("hashlimit-dstmask") { h.destinationMask = UInt8(clamping: v) }
        if let v = try num("hashlimit-htable-expire") { h.expireMs = v }
        if let v = try num("hashlimit-htable-size") { h.size = v }
        if let v = try num("hashlimit-htable-max") { h.max = v }
        // hashlimit_mt_check_common refuses these; such a rule never loads.
        guard h.burst > 0, h.expireMs > 0, h.sourceMask <= 32, h.destinationMask <= 32,
              (try num("hashlimit-htable-gcinterval")) != 0 else {
            throw .statefulOptions("hashlimit", "options the kernel refuses")
        }
        // user2credits(avg * burst) < user2credits(avg): an overflow the kernel refuses.
        let (product, overflow) = h.average.multipliedReportingOverflow(by: UInt64(h.burst))
        guard !overflow, product / UInt64(h.burst) == h.average else { throw .statefulOptions("hashlimit", "avg * burst overflows") }
        return (h, above)
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
    /// A stateful test came earlier in the rule (later state tests then lower as ext tests).
    var afterStateful: Bool { seenStateful != nil }

    mutating func saw(_ m: Match, added: ArraySlice<Atom>, l4: Bool) {
        if let first = seenStateful, problem == nil {
            let fixed = added.contains { if case .ext = $0 { false } else { true } }
            if fixed || l4 { problem = .statefulBeforeTests(first, later: m.name) }
        }
        // A pending draw changes no state: the tests after it may be fixed ones.
        if seenStateful == nil, added.contains(where: { if case .ext(let e) = $0 { e.isStateful && !e.isPendingDraw } else { false } }) {
            seenStateful = m.name
        }
    }
}
