import IptParse

/// One position of the compiled tables: a rule after user chains were inlined, with the
/// conjunction of the tests on the way to it. Order is iptables' evaluation order.
struct FlatRule: Equatable {
    var atoms: [Atom]
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
    /// The jumps and gotos that led here: the kernel counts a packet on each of them too.
    var via: [RuleRef] = []
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
/// RETURN (or a goto that falls through) with one test excludes the rest of its chain for
/// the packets it matched, through that test's negation.
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
    /// Nothing on the kernel's way out can touch a REJECT reply (`RejectReply.replyPathClear`):
    /// REJECT positions are answered from XDP.
    var rejectInXDP = false

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
    mutating func walk(_ chainName: String, context: [Atom], topLevel: Bool, depth: Int = 0, via: [RuleRef] = []) {
        self.via = via
        guard !stopped, let chain = table.chain(chainName) else { return }
        walked.insert(chainName)
        var excluded: [Atom] = []
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
                    // It only counts; the kernel counts only the packets it sees, so every
                    // packet this rule may match goes there, and its counter stays exact.
                    emit(.kernel, context + excluded + own, ref, kernel: RecentLists.actOnlyReason(own) ?? .countsOnly)
                    continue
                }
                if !unsupported.isEmpty {
                    switch target {
                    case .jump(let callee), .goto(let callee): enter(callee, through: ref)
                    default: break
                    }
                    emit(.kernel, context + excluded + own, ref, kernel: .unsupportedTests(unsupported))
                    continue
                }
            }
            let conds = context + excluded + own
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
                } else if rejectInXDP, case .reject(let r)? = rule.target, let reply = RejectReply(with: r.with) {
                    emit(.reject, conds, ref)
                    flat[flat.count - 1].reject = reply
                } else {
                    emit(.kernel, conds, ref, kernel: .reject)
                }
            case .return?:
                if topLevel {
                    emit(policy, conds, ref, isPolicy: true)
                    if own.isEmpty { return }
                } else if !leave(own, conds, ref, as: "RETURN", inlined: .return, excluded: &excluded) {
                    return
                }
            case .jump(let callee)?:
                guard canEnter(callee, conds, ref, depth: depth) else { continue }
                events[ref, default: RuleEvents()].inlined = (.jump(callee), flat.count)
                walk(callee, context: conds, topLevel: false, depth: depth + 1, via: via + [ref])
                self.via = via
            case .goto(let callee)?:
                guard canEnter(callee, conds, ref, depth: depth) else { continue }
                events[ref, default: RuleEvents()].inlined = (.goto(callee), flat.count)
                walk(callee, context: conds, topLevel: false, depth: depth + 1, via: via + [ref])
                self.via = via
                if topLevel {
                    // Falling off the end of a chain entered by goto from INPUT applies INPUT's policy.
                    emit(policy, conds, ref, isPolicy: true)
                    if own.isEmpty { return }
                } else if !leave(own, conds, ref, as: "goto", inlined: .goto(callee), excluded: &excluded) {
                    return
                }
            case .log?:
                emit(.kernel, conds, ref, kernel: .target("LOG"))
            case .queue?:
                emit(.kernel, conds, ref, kernel: .target("QUEUE"))
            case .opaque(let e)?:
                emit(.kernel, conds, ref, kernel: .target(e.name))
            }
        }
    }

    private mutating func emit(_ v: CompiledTables.Verdict, _ conds: [Atom], _ ref: RuleRef, isPolicy: Bool = false,
                               kernel: KernelReason? = nil, rejectAsDrop: Bool = false) {
        let conds = keepingStateful(conds, v, kernel)
        events[ref, default: RuleEvents()].positions.append(flat.count)
        flat.append(FlatRule(atoms: conds, verdict: v, origin: ref, isPolicy: isPolicy, kernelReason: kernel, rejectAsDrop: rejectAsDrop,
                             via: via))
    }

    private mutating func enter(_ callee: String, through ref: RuleRef) {
        if enteredThrough[callee] == nil { enteredThrough[callee] = ref }
    }

    /// Whether a jump or goto can be inlined; if not, it is a `KERNEL` position over its tests.
    private mutating func canEnter(_ callee: String, _ conds: [Atom], _ ref: RuleRef, depth: Int) -> Bool {
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
    /// the rest of the chain. false: no packet stays (the rule has no test).
    private mutating func leave(_ own: [Atom], _ conds: [Atom], _ ref: RuleRef, as name: String,
                                inlined: XDPPlacement.Inlined, excluded: inout [Atom]) -> Bool {
        if own.isEmpty {
            events[ref, default: RuleEvents()].inlined = (inlined, flat.count)
            return false
        }
        if own.count == 1, let n = own[0].negation {
            events[ref, default: RuleEvents()].inlined = (inlined, flat.count)
            excluded.append(n)
            return true
        }
        // No single atom says "not all of these". The position passes every packet that
        // leaves here to the kernel, so the rest of the chain may go on unexcluded: the
        // packets it would have excluded never reach a later position.
        emit(.kernel, conds, ref, kernel: .multiTestReturn(target: name, tests: own.count))
        return true
    }
}
