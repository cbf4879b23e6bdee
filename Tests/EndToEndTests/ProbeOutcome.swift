import Compiler
import Foundation
import Loader

/// What became of one probe in one receiver: delivered (through all of INPUT) or not, the
/// rule that decided, and whether XDP decided it (dropped it) before the kernel saw it.
struct ProbeOutcome: Equatable, CustomStringConvertible {
    var delivered: Bool
    var rule: RuleName?
    var byXDP = false

    var description: String {
        (delivered ? "delivered" : "not delivered") + " by " + (rule.map { "\($0)" } ?? "no rule") + (byXDP ? " (in XDP)" : "")
    }

    /// The same verdict and deciding rule (where it was decided does not matter).
    func agrees(with o: ProbeOutcome) -> Bool { delivered == o.delivered && rule == o.rule }
}

/// XDP's positions named by the rules they stand for, as the running firewall compiled them.
struct PositionNames {
    let result: CompileResult

    /// The rule a drop at `position` belongs to: its rule, or INPUT's policy (reached at the
    /// end, or through a RETURN or a goto's end).
    func name(_ position: Int) -> RuleName {
        guard position < result.origins.count, !result.origins[position].isPolicy else {
            return RuleName(table: "filter", chain: "INPUT", index: nil)
        }
        let r = result.origins[position].rule
        return RuleName(table: r.table, chain: r.chain, index: r.index)
    }

    /// A CONTINUE position: counted with the deciding one, never deciding itself.
    func continues(_ position: Int) -> Bool {
        position < result.tables.verdicts.count && result.tables.verdicts[position].continues
    }

    /// Every rule whose counter a drop at `position` belongs to, as the design counts it:
    /// the rule, the jumps that led to it, and the policy when it applied.
    func counted(_ position: Int) -> [RuleName] {
        guard position < result.origins.count else { return [RuleName(table: "filter", chain: "INPUT", index: nil)] }
        let o = result.origins[position]
        var out = [RuleName(table: o.rule.table, chain: o.rule.chain, index: o.rule.index)]
        out += o.via.map { RuleName(table: $0.table, chain: $0.chain, index: $0.index) }
        if o.isPolicy { out.append(RuleName(table: "filter", chain: "INPUT", index: nil)) }
        return out
    }

    /// A `reject` position: the OUTPUT/POSTROUTING rules and policies the reply XDP sends is
    /// counted on (the kernel counted its own reply there).
    func replyPlaces(_ position: Int) -> Set<RuleName> {
        guard position < result.origins.count else { return [] }
        return Set(result.origins[position].replyPlaces.map { place in
            switch place {
            case .rule(let r): RuleName(table: r.table, chain: r.chain, index: r.index)
            case .policy(let table, let chain): RuleName(table: table, chain: chain, index: nil)
            }
        })
    }
}

/// Waits, bounded, until a probe has been decided in every receiver, and names each outcome.
struct ProbeJudge {
    /// How long a packet that entered netfilter may take to show its end.
    static let settle: TimeInterval = 0.15
    /// How long any probe may take at all.
    static let limit: TimeInterval = 1.0

    /// One receiver's state before the probe.
    struct Before {
        var snapshot: NetfilterSnapshot
        var stats: DataplaneStats?
        var counters: [RuleCounter]?
    }

    /// One receiver's state after: its kernel snapshot and, behind XDP, what XDP did.
    struct After {
        var snapshot: NetfilterSnapshot
        var stats: DataplaneStats?
        var counters: [RuleCounter]?
        var outcome: ProbeOutcome?
        /// What the probe moved in the kernel's counters.
        var moved = NetfilterSnapshot()
        /// The position XDP dropped it at.
        var xdpPosition: Int?
        /// XDP answered it (REJECT, XDP_TX): the reply did not go through the kernel.
        var replySent = false
        /// The CONTINUE positions XDP counted with it.
        var xdpContinued: [Int] = []
    }

    /// Packets XDP decided itself: dropped, or REJECTed with or without a reply.
    static func decided(_ s: DataplaneStats) -> UInt64 { s.dropped + s.rejected + s.rejectLimited }

    let path: InputPath

    /// Whether what moved already shows the end of the packet's walk: delivered, or a drop.
    func finished(_ moved: NetfilterSnapshot) -> Bool {
        if moved.delivered > 0 { return true }
        guard let r = path.decidingRule(moved) else { return false }
        if r.index == nil { return path.policy(r) == "DROP" }
        switch path.target(r) {
        case .drop?, .reject?: return true
        default: return false
        }
    }

    /// Reads each receiver until its outcome is known (or the time is up): `xdp` gives the
    /// data plane of the receivers that run one, `names` its positions' rules.
    func judge(_ receivers: [Receiver], before: [Before], xdp: [DataplaneHandle?], names: [PositionNames?]) throws -> [After] {
        let start = Date()
        var after: [After?] = Array(repeating: nil, count: receivers.count)
        var seenAt: [Date?] = Array(repeating: nil, count: receivers.count)
        while true {
            for i in receivers.indices where after[i] == nil {
                var a = After(snapshot: NetfilterSnapshot())
                if let d = xdp[i] {
                    a.stats = try d.stats()
                    a.counters = try d.counters()
                    if let s = a.stats, let b = before[i].stats, Self.decided(s) > Self.decided(b), let c = a.counters, let bc = before[i].counters {
                        a.replySent = s.rejected > b.rejected
                        let moved = zip(c, bc).enumerated().filter { $0.element.0.packets > $0.element.1.packets }.map(\.offset)
                        let continued = moved.filter { p in names[i]?.continues(p) ?? false }
                        let pos = moved.first { !continued.contains($0) }
                        a.xdpPosition = pos
                        a.xdpContinued = continued
                        a.snapshot = before[i].snapshot
                        a.outcome = ProbeOutcome(delivered: false, rule: pos.flatMap { p in names[i]?.name(p) }, byXDP: true)
                        after[i] = a
                        continue
                    }
                }
                a.snapshot = receivers[i].snapshot()
                a.moved = a.snapshot.delta(from: before[i].snapshot)
                if a.moved.seen > 0, seenAt[i] == nil { seenAt[i] = Date() }
                let settled = seenAt[i].map { Date().timeIntervalSince($0) > Self.settle } ?? false
                if finished(a.moved) || settled || Date().timeIntervalSince(start) > Self.limit {
                    a.outcome = ProbeOutcome(delivered: a.moved.delivered > 0, rule: path.decidingRule(a.moved))
                    after[i] = a
                }
            }
            if after.allSatisfy({ $0 != nil }) { return after.compactMap { $0 } }
            usleep(1000)
        }
    }
}
