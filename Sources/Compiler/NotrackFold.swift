import IptParse

/// raw PREROUTING's NOTRACK rules, folded into the state tests of the positions after them.
///
/// `-j NOTRACK` and `-j CT --notrack` only attach the untracked template to the packet
/// (net/netfilter/xt_CT.c, notrack_tg: `nf_ct_set(skb, NULL, IP_CT_UNTRACKED)`, then
/// XT_CONTINUE): conntrack (priority -200, after raw's -300) leaves such a packet alone, and
/// every `--ctstate`/`--state` test after it answers as for UNTRACKED (xt_state.c,
/// xt_conntrack.c: `ctinfo == IP_CT_UNTRACKED`). Nothing else of the packet changes. So when
/// raw PREROUTING holds only such rules, ACCEPTs/RETURNs (which end the chain for their
/// packets, so later NOTRACKs miss them), DROPs (the kernel drops those packets whatever XDP
/// says), counting rules and rules with `KERNEL` positions of their own, the set of packets
/// made untracked is a disjunction `untracked` of conjunctions of atoms, and a position
/// `A and state-test` is exactly `(untracked and A[state-test := its answer for UNTRACKED])
/// or (not untracked and A)`.
///
/// In raw there is no conntrack entry yet: a state test there sees INVALID (or UNTRACKED
/// after a NOTRACK), not the state INPUT sees, so a NOTRACK or ACCEPT with one is not folded.
struct NotrackFold {
    /// Packets the NOTRACK rules make untracked; [] none, [[]] every packet.
    var untracked: [[Atom]]
    /// The NOTRACK rules folded (no position of their own).
    var folded: [RuleRef]

    /// nil: the chain is not only such rules (user chains, a test that does not lower on a
    /// NOTRACK or ACCEPT, a state test in raw, too many alternatives); every rule there then
    /// gets the usual `KERNEL` position.
    static func fold(_ table: Table, lowering: AtomLowering) -> NotrackFold? {
        guard table.name == "raw", let chain = table.chain("PREROUTING"), table.reach(from: "PREROUTING") == ["PREROUTING"] else { return nil }
        var staying: [[Atom]] = [[]]
        var out = NotrackFold(untracked: [], folded: [])
        for (i, rule) in chain.rules.enumerated() {
            let ref = RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line)
            guard let target = rule.target else { continue } // counts only
            switch target {
            case .jump, .goto: return nil
            default: break
            }
            let own: [Atom]
            switch lowering.lower(rule, ref: ref) {
            case .never:
                continue
            case .tests(let atoms, let unsupported):
                guard isNotrack(target) || target == .accept || target == .return else { continue }
                guard unsupported.isEmpty, !testsState(rule) else { return nil }
                own = atoms
            }
            if isNotrack(target) {
                out.untracked = Disjunction.pruned(out.untracked + Disjunction.and(staying, [own]))
                out.folded.append(ref)
                guard out.untracked.count <= Disjunction.maxAlternatives else { return nil }
                continue
            }
            // ACCEPT, RETURN: the chain ends for these packets. When none stays, the rules
            // after it untrack nothing (they are still folded: no packet reaches them).
            if own.isEmpty { staying = []; continue }
            let negations = own.compactMap(\.negation)
            guard negations.count == own.count else { return nil }
            staying = Disjunction.and(staying, negations.map { [$0] })
            guard staying.count <= Disjunction.maxAlternatives else { return nil }
        }
        return out
    }

    /// `-j NOTRACK`, or `-j CT --notrack` with no other option (a zone, helper or timeout
    /// policy changes what conntrack does, not only the state).
    static func isNotrack(_ t: Target) -> Bool {
        guard case .opaque(let e) = t else { return false }
        if e.name == "NOTRACK" { return e.options.isEmpty }
        return e.name == "CT" && e.options.map(\.name) == ["notrack"] && !e.options[0].negated
    }

    static func testsState(_ rule: Rule) -> Bool {
        rule.matches.contains { m in
            switch m {
            case .conntrack, .state: true
            default: false
            }
        }
    }

    /// The positions with the fold applied: each alternative with a state test splits into
    /// its untracked and tracked cases. A position that would need more than
    /// `Disjunction.maxAlternatives` becomes `KERNEL` over its tests without the state test.
    func apply(to flat: [FlatRule]) -> [FlatRule] {
        guard !untracked.isEmpty else { return flat }
        // not untracked = and over its alternatives of (one of its tests fails); nil when a
        // test has no negation atom.
        var tracked: [[Atom]]? = [[]]
        for alt in untracked {
            let negations = alt.compactMap(\.negation)
            guard let t = tracked, negations.count == alt.count else { tracked = nil; break }
            let next = Disjunction.and(t, negations.map { [$0] })
            tracked = next.count <= Disjunction.maxAlternatives * 4 ? next : nil
        }
        return flat.map { f in
            guard f.alternatives.contains(where: { $0.contains(where: Self.isState) }) else { return f }
            var g = f
            var alts: [[Atom]] = []
            var exact = tracked != nil
            for a in f.alternatives {
                guard a.contains(where: Self.isState) else { alts.append(a); continue }
                let rest = a.filter { !Self.isState($0) }
                if a.allSatisfy({ !Self.isState($0) || Self.holdsUntracked($0) }) {
                    alts += Disjunction.and(untracked, [rest])
                }
                if let tracked { alts += Disjunction.and(tracked, [a]) } else { exact = false }
            }
            alts = Disjunction.pruned(alts)
            if !exact || alts.count > Disjunction.maxAlternatives {
                // Without the state tests: every packet the position may match, tracked or not.
                g.alternatives = f.alternatives.map { $0.filter { !Self.isState($0) } }
                if g.verdict != .kernel {
                    g.verdict = .kernel
                    g.kernelReason = .untrackedSplit(limit: Disjunction.maxAlternatives)
                    g.isPolicy = false
                    g.rejectAsDrop = false
                }
                return g
            }
            // No alternative left: no packet matches (the builder reports it so).
            let withState = f.alternatives.first { $0.contains(where: Self.isState) } ?? f.alternatives[0]
            g.alternatives = alts.isEmpty ? [withState + [.conntrack([], negated: false)]] : alts
            return g
        }
    }

    static func isState(_ a: Atom) -> Bool {
        if case .conntrack = a { return true }
        if case .ext(.conntrack) = a { return true }
        return false
    }

    /// A state test's answer for an untracked packet.
    static func holdsUntracked(_ a: Atom) -> Bool {
        if case .ext(.conntrack(let t)) = a { return t.holdsUntracked }
        guard case .conntrack(let s, let n) = a else { return true }
        return s.contains(.untracked) != n
    }
}
