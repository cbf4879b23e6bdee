import IptParse

/// One position of the compiled tables: a rule after user chains were inlined, with the
/// tests on the way to it. Order is iptables' evaluation order.
///
/// The tests are a disjunction of conjunctions (`alternatives`): a RETURN with several
/// tests keeps in its chain the packets for which not all of them hold, `!a or !b or ...`,
/// and every later position of the chain carries that. The program says a disjunction by
/// giving each alternative its own entries at the same position (a keyed lookup or a
/// fallback entry that finds the position takes it), as it already does for a multiport list.
struct FlatRule: Equatable {
    /// The position matches a packet when any one of these conjunctions holds. Never empty.
    var alternatives: [[Atom]]
    var verdict: CompiledTables.Verdict
    /// The rule that holds the position.
    var origin: RuleRef
    /// INPUT's policy, reached through a RETURN or the end of a goto'd chain.
    var isPolicy = false
    /// Why the position is `KERNEL`; nil for ACCEPT/DROP decided exactly by `atoms`.
    var kernelReason: KernelReason?
    var rejectAsDrop = false
    /// A `reject` position: the reply XDP sends.
    var reject: RejectReply?
    /// A `reject` position: where the kernel would have counted the reply (ReplyPath).
    var replyPlaces: [ReplyCountPlace] = []
    /// The jumps and gotos that led here: the kernel counts a packet on each of them too.
    var via: [RuleRef] = []
    /// The `KERNEL` position of a REJECT answered from XDP for some original states only
    /// (ReplyStateSplit): the report's detail on the states that go up.
    var rejectStateUp: String?
    /// A `continue` position: why (ContinuePositions.swift).
    var continues: ContinueKind?

    init(atoms: [Atom], verdict: CompiledTables.Verdict, origin: RuleRef, isPolicy: Bool = false,
         kernelReason: KernelReason? = nil, rejectAsDrop: Bool = false, via: [RuleRef] = []) {
        self.init(alternatives: [atoms], verdict: verdict, origin: origin, isPolicy: isPolicy, kernelReason: kernelReason,
                  rejectAsDrop: rejectAsDrop, via: via)
    }

    init(alternatives: [[Atom]], verdict: CompiledTables.Verdict, origin: RuleRef, isPolicy: Bool = false,
         kernelReason: KernelReason? = nil, rejectAsDrop: Bool = false, via: [RuleRef] = []) {
        self.alternatives = alternatives.isEmpty ? [[]] : alternatives
        self.verdict = verdict
        self.origin = origin
        self.isPolicy = isPolicy
        self.kernelReason = kernelReason
        self.rejectAsDrop = rejectAsDrop
        self.via = via
    }
}

/// A disjunction of conjunctions of atoms, as the walk builds it.
enum Disjunction {
    /// Alternatives per position at most: each one is its own keyed or fallback entries, and
    /// a RETURN multiplies the alternatives of every position after it. Beyond this the
    /// RETURN or goto is a `KERNEL` position.
    static let maxAlternatives = 16

    /// `x and y`, alternatives that no packet satisfies left out, and those another one
    /// already covers (a subset of its tests). Empty: no packet.
    static func and(_ x: [[Atom]], _ y: [[Atom]]) -> [[Atom]] {
        var out: [[Atom]] = []
        for a in x {
            for b in y {
                guard AtomNormalization.normalize(a + b) != nil else { continue }
                out.append(a + b.filter { !a.contains($0) })
            }
        }
        return pruned(out)
    }

    /// Drops alternatives implied by another (their tests a superset of its tests): the
    /// disjunction is the same.
    static func pruned(_ alts: [[Atom]]) -> [[Atom]] {
        var out: [[Atom]] = []
        for (i, a) in alts.enumerated() {
            let covered = alts.enumerated().contains { j, b in
                j != i && b.allSatisfy(a.contains) && (b.count < a.count || j < i)
            }
            if !covered { out.append(a) }
        }
        return out
    }
}

/// What the walk saw of one written rule; its final status is read from this.
struct RuleEvents {
    /// Positions it holds (indices into the flat list).
    var positions: [Int] = []
    /// A jump, goto or RETURN that was inlined, and how many positions came before it.
    var inlined: (XDPPlacement.Inlined, at: Int)?
    var noEffect = false
    var neverOnInterface: String?
}

/// Inlines the chains INPUT reaches. A jump conjoins its tests with the callee's rules; a
/// RETURN (or a goto that falls through) excludes the rest of its chain for the packets it
/// matched: the packets that stay are those for which one of its tests fails, a
/// disjunction of the tests' negations (De Morgan) conjoined with every later position of
/// the chain. A test without a one-atom negation, or more alternatives than
/// `Disjunction.maxAlternatives`, makes the RETURN a `KERNEL` position instead.
///
/// Every rule that cannot be decided exactly becomes a `KERNEL` position over the tests
/// that lower (with the context of the jumps that lead to it): it keeps its place in
/// first-match order, and every packet it may match is passed to the kernel there. So a
/// rule after it is only ever reached in XDP by packets the uncertain rule cannot have
/// taken, and the walk goes on as if the rule did not match. This is why nothing needs to
/// remember "which rules may have been reached differently" (the former taint and
/// depends-on-unsupported bookkeeping): the `KERNEL` position already answers for every
/// packet that could have gone another way. A jump whose own tests do not lower is such a
/// position too, and its callee is not walked for that path: the position covers every
/// packet that could enter.
struct ChainFlattener {
    let table: Table
    let lowering: AtomLowering
    let options: CompileOptions
    let policy: CompiledTables.Verdict
    /// Positions so far (the ones before INPUT come first).
    var flat: [FlatRule]
    var events: [RuleRef: RuleEvents] = [:]
    /// Chains walked at least once.
    var walked: Set<String> = []
    /// Chains a rule that runs in the kernel leads into (not walked for that path), with that
    /// rule. The tables do not need it (that rule's position covers every packet that could
    /// enter); the report does, so as not to call a rule there shadowed or contradictory
    /// when iptables may bring it packets by that way.
    var enteredThrough: [String: RuleRef] = [:]
    /// The jumps and gotos that led to the chain being walked (each walk restores its own
    /// after a nested one returns).
    var via: [RuleRef] = []
    /// The walk stopped because the positions reached what the program holds.
    var stopped = false
    /// Stateful match instances the positions so far hold (ChainFlattener+Stateful.swift).
    var instances: Set<ExtInstance> = []
    /// The recent tests among them (their budget is RecentLists').
    var recentInstances: Set<ExtInstance> = []
    /// hashlimit tables (names) the positions so far hold.
    var hashlimitTables: Set<String> = []
    /// The whole ruleset, when REJECT may be answered from XDP: each REJECT whose reply's way
    /// out is proven untouched (`ReplyPath`) becomes a `reject` position. Nil: none is.
    var replyRuleset: Ruleset?

    /// iptables itself allows deep nesting; inlining beyond this would grow without bound.
    static let maxDepth = 64

    init(table: Table, lowering: AtomLowering, options: CompileOptions, policy: CompiledTables.Verdict, after flat: [FlatRule]) {
        self.table = table
        self.lowering = lowering
        self.options = options
        self.policy = policy
        self.flat = flat
    }

    /// Walks `chainName` for packets that satisfy `context`. `topLevel`: the chain is INPUT,
    /// whose RETURN and fall-through mean "apply the policy".
    /// `context`: the packets that enter, as alternatives (see `FlatRule.alternatives`).
    mutating func walk(_ chainName: String, context: [[Atom]], topLevel: Bool, depth: Int = 0, via: [RuleRef] = []) {
        self.via = via
        guard !stopped, let chain = table.chain(chainName) else { return }
        walked.insert(chainName)
        // The packets still in the chain, within `context`: none of the RETURNs so far took them.
        var staying: [[Atom]] = context
        for (i, rule) in chain.rules.enumerated() {
            // A diamond of jumps can multiply positions; past what the program holds the
            // table builder cuts anyway, so the walk need not go on.
            if flat.count > Int(Compiler.maxRules) {
                stopped = true
                return
            }
            let ref = RuleRef(table: table.name, chain: chainName, index: i + 1, line: rule.location?.line)
            let own: [Atom]
            switch lowering.lower(rule, ref: ref) {
            case .never(let name):
                events[ref, default: RuleEvents()].neverOnInterface = name
                continue
            case .tests(let atoms, let lowered):
                own = atoms
                let unsupported = lowered + statefulProblems(rule, own)
                guard let target = rule.target else {
                    // It only counts: a CONTINUE position XDP counts when it decides the
                    // packet. With a test XDP cannot evaluate (or a recent list it acts on,
                    // RecentLists), every packet it may match goes to the kernel, which counts.
                    if unsupported.isEmpty, let (v, kind) = continuation(nil) {
                        let (acting, list) = Self.answering(own)
                        emitContinue(v, with(staying, acting), ref, list.map { .recent($0) } ?? kind)
                    } else {
                        emit(.kernel, with(staying, own), ref, kernel: RecentLists.actOnlyReason(own) ?? .countsOnly)
                    }
                    continue
                }
                if !unsupported.isEmpty {
                    switch target {
                    case .jump(let callee), .goto(let callee): enter(callee, through: ref)
                    default: break
                    }
                    emit(.kernel, with(staying, own), ref, kernel: .unsupportedTests(unsupported))
                    continue
                }
            }
            let conds = with(staying, own)
            switch rule.target {
            case nil:
                break // handled above
            case .accept?:
                emit(.accept, conds, ref)
            case .drop?:
                emit(.drop, conds, ref)
            case .reject?:
                if options.rejectAsDrop {
                    emit(.drop, conds, ref, rejectAsDrop: true)
                } else if let ruleset = replyRuleset, case .reject(let r)? = rule.target, let reply = RejectReply(with: r.with),
                          case let path = ReplyPath.prove(ReplyShape(reply: reply, rule: rule, interface: lowering.interface), in: ruleset),
                          path.refusal == nil {
                    emit(.reject, conds, ref)
                    flat[flat.count - 1].reject = reply
                    flat[flat.count - 1].replyPlaces = path.places
                } else if let ruleset = replyRuleset, case .reject(let r)? = rule.target, let reply = RejectReply(with: r.with),
                          let why = ReplyPath.prove(ReplyShape(reply: reply, rule: rule, interface: lowering.interface), in: ruleset).refusal {
                    if let split = stateSplit(reply, rule, own, ruleset) {
                        emitStateSplit(split, reply, conds, ref, why: why)
                    } else {
                        emit(.kernel, conds, ref, kernel: .rejectPath(why))
                    }
                } else {
                    emit(.kernel, conds, ref, kernel: .reject)
                }
            case .return?:
                if topLevel {
                    emit(policy, conds, ref, isPolicy: true)
                    if own.isEmpty { return }
                } else if !leave(own, conds, ref, as: "RETURN", inlined: .return, staying: &staying) {
                    return
                }
            case .jump(let callee)?:
                guard canEnter(callee, conds, ref, depth: depth) else { continue }
                // A stateful test is charged at the jump; the charge counts the jump itself.
                let charged = charge(own, conds, ref)
                events[ref, default: RuleEvents()].inlined = (.jump(callee), flat.count)
                walk(callee, context: conds, topLevel: false, depth: depth + 1, via: charged ? via : via + [ref])
                self.via = via
            case .goto(let callee)?:
                guard canEnter(callee, conds, ref, depth: depth) else { continue }
                let charged = charge(own, conds, ref)
                events[ref, default: RuleEvents()].inlined = (.goto(callee), flat.count)
                walk(callee, context: conds, topLevel: false, depth: depth + 1, via: charged ? via : via + [ref])
                self.via = via
                if topLevel {
                    // Falling off the end of a chain entered by goto from INPUT applies INPUT's policy.
                    emit(policy, conds, ref, isPolicy: true)
                    if own.isEmpty { return }
                } else if !leave(own, conds, ref, as: "goto", inlined: .goto(callee), staying: &staying, charged: charged) {
                    return
                }
            case .log?:
                emit(.kernel, conds, ref, kernel: .target("LOG"))
            case .queue?:
                emit(.kernel, conds, ref, kernel: .target("QUEUE"))
            case .opaque(let e)?:
                if let (v, kind) = continuation(rule.target) {
                    emitContinue(v, conds, ref, kind)
                } else {
                    emit(.kernel, conds, ref, kernel: .target(e.name))
                }
            }
        }
    }

    /// The alternatives of a rule's position: each staying alternative with the rule's own tests.
    private func with(_ staying: [[Atom]], _ own: [Atom]) -> [[Atom]] {
        staying.map { $0 + own }
    }

    private mutating func emit(_ v: CompiledTables.Verdict, _ conds: [[Atom]], _ ref: RuleRef, isPolicy: Bool = false,
                               kernel: KernelReason? = nil, rejectAsDrop: Bool = false) {
        let conds = conds.map { keepingStateful($0, v, kernel) }
        events[ref, default: RuleEvents()].positions.append(flat.count)
        flat.append(FlatRule(alternatives: conds, verdict: v, origin: ref, isPolicy: isPolicy, kernelReason: kernel,
                             rejectAsDrop: rejectAsDrop, via: via))
    }

    /// The REJECT's reply proven for some classes of originals only (ReplyStateSplit), when
    /// its tests hold no stateful test but a pending draw (a limit or recent test split by
    /// state would be charged in XDP for some packets and in the kernel for others).
    private func stateSplit(_ reply: RejectReply, _ rule: Rule, _ own: [Atom], _ ruleset: Ruleset) -> ReplyStateSplit? {
        let stateful = own.contains { if case .ext(let e) = $0 { e.isStateful && !e.isPendingDraw } else { false } }
        guard !stateful else { return nil }
        return ReplyStateSplit.prove(reply: reply, rule: rule, interface: lowering.interface, in: ruleset)
    }

    /// One `reject` position per group of original states (its reply's count places), then a
    /// `KERNEL` position for every other state: the kernel's REJECT matches whatever the
    /// state, so no packet the rule matches walks past it. The state is a fixed test, tested
    /// before the rule's extension tests (its pending draw): a packet whose reply XDP cannot
    /// send goes up undrawn, and the kernel draws once.
    private mutating func emitStateSplit(_ split: ReplyStateSplit, _ reply: RejectReply, _ conds: [[Atom]], _ ref: RuleRef, why: String) {
        var sent: ConntrackStates = []
        for g in split.groups {
            emit(.reject, conds.map { $0 + [.conntrack(g.states, negated: false)] }, ref)
            flat[flat.count - 1].reject = reply
            flat[flat.count - 1].replyPlaces = g.places
            sent.formUnion(g.states)
        }
        emit(.kernel, conds.map { $0 + [.conntrack(sent, negated: true)] }, ref, kernel: .rejectPath(why))
        flat[flat.count - 1].rejectStateUp = split.detail
    }

    private mutating func enter(_ callee: String, through ref: RuleRef) {
        if enteredThrough[callee] == nil { enteredThrough[callee] = ref }
    }

    /// Whether a jump or goto can be inlined; if not, it is a `KERNEL` position over its tests.
    private mutating func canEnter(_ callee: String, _ conds: [[Atom]], _ ref: RuleRef, depth: Int) -> Bool {
        guard table.chain(callee) != nil else {
            emit(.kernel, conds, ref, kernel: .missingChain(callee))
            return false
        }
        guard depth + 1 < Self.maxDepth else {
            enter(callee, through: ref)
            emit(.kernel, conds, ref, kernel: .nestedTooDeep(limit: Self.maxDepth))
            return false
        }
        return true
    }

    /// A RETURN, or the fall-through of a goto, in a user chain: the packets it matched leave
    /// the rest of the chain, the others stay: `staying and (!a or !b or ...)`. false: no
    /// packet stays (the rule has no test).
    private mutating func leave(_ own: [Atom], _ conds: [[Atom]], _ ref: RuleRef, as name: String,
                                inlined: XDPPlacement.Inlined, staying: inout [[Atom]], charged: Bool = false) -> Bool {
        if own.isEmpty {
            events[ref, default: RuleEvents()].inlined = (inlined, flat.count)
            return false
        }
        // A stateful test: charged at the rule's place (ContinuePositions.swift), and the
        // packets staying are read from the memo it leaves.
        if !Self.statefulTests(own).isEmpty, let alts = Self.chargedNegations(own) {
            let kept = Disjunction.and(staying, alts)
            guard kept.count <= Disjunction.maxAlternatives else {
                emit(.kernel, conds, ref, kernel: .multiTestReturn(target: name, tests: own.count,
                                                                   why: .tooManyAlternatives(limit: Disjunction.maxAlternatives)))
                return true
            }
            if !charged { _ = charge(own, conds, ref) }
            events[ref, default: RuleEvents()].inlined = (inlined, flat.count)
            staying = kept.isEmpty ? [staying[0] + alts[0]] : kept
            return true
        }
        let negations = own.compactMap(\.negation)
        guard negations.count == own.count else {
            // No atom says "not this test" (a set with counters, a stateful extension): the
            // position passes every packet that may leave here to the kernel, so the rest of
            // the chain may go on unexcluded: the packets it would have excluded never reach
            // a later position.
            let kind = own.first { $0.negation == nil }?.kind ?? "test"
            emit(.kernel, conds, ref, kernel: .multiTestReturn(target: name, tests: own.count, why: .notInvertible(kind)))
            return true
        }
        let kept = Disjunction.and(staying, negations.map { [$0] })
        guard kept.count <= Disjunction.maxAlternatives else {
            emit(.kernel, conds, ref, kernel: .multiTestReturn(target: name, tests: own.count,
                                                               why: .tooManyAlternatives(limit: Disjunction.maxAlternatives)))
            return true
        }
        events[ref, default: RuleEvents()].inlined = (inlined, flat.count)
        // No packet stays: the positions after it keep one contradictory alternative, so the
        // report calls them so (as a single contradictory exclusion did before).
        staying = kept.isEmpty ? [staying[0] + negations] : kept
        return true
    }
}
