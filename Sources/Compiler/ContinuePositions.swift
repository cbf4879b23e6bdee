import IptParse

/// Why a position continues: its rule matches, iptables counts the packet on it (and applies
/// a side effect XDP does not need to see) and goes on to the next rule (ipt_do_table: a
/// target returning XT_CONTINUE, or no target at all). The program matches the position as
/// any other, records it, and scans on; it is counted with the position that finally
/// decides the packet when that decision is XDP's (bpf/ebpf_iptables.bpf.c
/// `eipt_fb_continues`, `CompiledTables.decide`).
public enum ContinueKind: Equatable, Sendable {
    /// No target: the kernel only counts the packet.
    case countsOnly
    /// MARK, or CONNMARK --restore-mark: they set skb->mark only. A packet XDP drops never
    /// carries it anywhere; one XDP passes is judged again by the kernel, which sets it. A
    /// later `-m mark` test stays one XDP cannot answer.
    case mark(String)
    /// CONNMARK writing the connection's mark (--set-xmark, --save-mark, ...): the mark of an
    /// existing connection outlives a packet XDP drops (xt_connmark writes ct->mark before the
    /// verdict), so only packets without a conntrack entry go on in XDP (their unconfirmed
    /// entry dies with the dropped packet); the others go to the kernel at this position.
    case connmark
    /// A stateful test (limit, hashlimit, ...) on a jump, goto or RETURN: iptables charges it
    /// once, when a packet reaches the rule with its other tests true. This position charges
    /// it there; the positions it leads to (or, for RETURN, the ones after it) read the
    /// answer from the per-packet memo (bpf/ext_stateful.h) instead of charging again.
    case charge(String)
    /// No target, and a recent test on a list XDP keeps (RecentLists): XDP acts on the list as
    /// the kernel does, and counts the rule when the test holds (the kernel counts the rule
    /// when its matches hold: `--set` always, a check on a hit). The test answers as the
    /// kernel's (not EIPT_RECENT_F_ACT_ONLY's constant no): the position records a yes.
    case recent(String)
}

extension ContinueKind {
    /// For the report: what XDP does with the rule's packets.
    public var detail: String {
        switch self {
        case .countsOnly:
            "no target: XDP counts its packets and goes on, as the kernel does"
        case .mark(let t):
            "\(t) sets only the packet's mark: XDP counts and goes on (a packet it passes up gets the mark from the kernel)"
        case .connmark:
            "CONNMARK writes the connection's mark: XDP counts and goes on for packets without a conntrack entry, and passes the others up"
        case .charge(let kind):
            "its \(kind) test is charged here once per packet, and the rules it leads to read that answer; XDP counts it and goes on"
        case .recent(let list):
            "no target: XDP records its packets in recent list \(list) as the kernel does, counts the rule when its test holds, and goes on"
        }
    }
}

extension CompiledTables.Verdict {
    /// A position the walk goes on after (`continue`, `continueWithoutEntry`).
    public var continues: Bool { self == .continue || self == .continueWithoutEntry }
}

extension ContinueKind {
    /// The target whose side effect only the kernel's INPUT performs (nil: none): with
    /// `--xdp-only` that INPUT is empty.
    var sideEffect: String? {
        switch self {
        case .countsOnly, .charge, .recent: nil
        case .mark(let t): t
        case .connmark: "CONNMARK"
        }
    }
}

extension ChainFlattener {
    /// How a rule whose target lets iptables' walk go on is matched in XDP (nil: it is not
    /// such a rule, or XDP cannot stand in for it: a `KERNEL` position). With `--xdp-only` the
    /// kernel's INPUT is empty and nobody would set a mark: MARK and CONNMARK positions block
    /// it (`xdpOnlyBlockers`), as REJECT does.
    func continuation(_ target: Target?) -> (CompiledTables.Verdict, ContinueKind)? {
        switch target {
        case nil:
            return (.continue, .countsOnly)
        case .opaque(let e)?:
            switch e.name {
            case "MARK":
                return (.continue, .mark("MARK"))
            case "CONNMARK":
                // --restore-mark: ct->mark into skb->mark; every other mode writes ct->mark.
                if e.options.contains(where: { $0.name == "restore-mark" }) { return (.continue, .mark("CONNMARK --restore-mark")) }
                return (.continueWithoutEntry, .connmark)
            default:
                return nil
            }
        default:
            return nil
        }
    }

    /// A rule without a target acting on a recent list XDP keeps: its recent tests answer as
    /// the kernel's match does (the CONTINUE position records a yes), not the act-only no.
    static func answering(_ own: [Atom]) -> (atoms: [Atom], list: String?) {
        var list: String?
        let atoms = own.map { a -> Atom in
            guard case .ext(.recent(var t)) = a, t.actOnly else { return a }
            list = list ?? t.name
            t.actOnly = false
            return .ext(.recent(t))
        }
        return (atoms, list)
    }

    /// The stateful tests of a rule's own tests, in order.
    static func statefulTests(_ own: [Atom]) -> [ExtTest] {
        own.compactMap { if case .ext(let e) = $0, e.isStateful { e } else { nil } }
    }

    /// A jump, goto or RETURN holding a stateful test: emits its charging position (the
    /// rule's tests, stateful ones included, counted on the rule: iptables counts a jump or
    /// RETURN whose matches held). false when it holds none.
    mutating func charge(_ own: [Atom], _ conds: [[Atom]], _ ref: RuleRef) -> Bool {
        guard let first = Self.statefulTests(own).first else { return false }
        emitContinue(.continue, conds, ref, .charge(first.kind))
        return true
    }

    /// The packets a charged RETURN (or goto falling through) keeps in its chain: those for
    /// which one of its tests fails, `!a or (a and !L)`: a fixed test's negation, or, for a
    /// stateful test, every fixed test with the stateful ones before it and the complement
    /// of its memoised answer (the charging position evaluated it for every such packet: XDP
    /// tests an entry's fixed fields before its ext tests, and StatefulOrder keeps every
    /// fixed test of the rule before its stateful ones). nil: a test with no negation.
    static func chargedNegations(_ own: [Atom]) -> [[Atom]]? {
        let fixed = own.filter { if case .ext(let e) = $0, e.isStateful { false } else { true } }
        var before: [Atom] = []
        var out: [[Atom]] = []
        for a in own {
            if case .ext(let e) = a, e.isStateful {
                out.append(fixed + before + [.ext(.memoNegation(e))])
                before.append(a)
            } else if let n = a.negation {
                out.append([n])
            } else {
                return nil
            }
        }
        return out
    }

    mutating func emitContinue(_ v: CompiledTables.Verdict, _ conds: [[Atom]], _ ref: RuleRef, _ kind: ContinueKind) {
        let conds = conds.map { keepingStateful($0, v, nil) }
        events[ref, default: RuleEvents()].positions.append(flat.count)
        var f = FlatRule(alternatives: conds, verdict: v, origin: ref, via: via)
        f.continues = kind
        flat.append(f)
    }
}
