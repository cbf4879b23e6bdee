import IptParse

/// The final word on each written rule, from what the walks saw of it and where its
/// positions ended up. A rule reached along several paths takes the most cautious answer:
/// `kernel` if any of its positions passes packets up, else `xdp`, else shadowed or
/// never matching when all of its positions are.
struct StatusAssembly {
    let ruleset: Ruleset
    let builder: TableBuilder
    let events: [RuleRef: RuleEvents]
    let shadowed: [Int: RuleRef]
    let covered: [Int: RuleRef]
    /// filter chains INPUT reaches, statically (whatever the interface).
    let inputReach: Set<String>
    let preInputChains: [String: Set<String>]
    let walked: Set<String>
    /// filter chains a rule that runs in the kernel leads into (transitively), with that
    /// rule: iptables may run their rules for packets no walk brought there.
    let kernelEntered: [String: RuleRef]
    let stopped: Bool

    init(ruleset: Ruleset, builder: TableBuilder, preInput: PreInputRules.Result, flattener: ChainFlattener) {
        self.ruleset = ruleset
        self.builder = builder
        events = preInput.events.merging(flattener.events) { a, _ in a }
        let flat = builder.flat
        let never = builder.neverMatching
        let found = Shadowing.find(flat) { !never.contains($0) }
        shadowed = found.shadowed
        covered = found.covered
        let filter = ruleset.table("filter") ?? Table(name: "filter")
        inputReach = Set(filter.reach(from: "INPUT"))
        preInputChains = preInput.chains
        walked = flattener.walked
        stopped = flattener.stopped
        var entered: [String: RuleRef] = [:]
        for (chain, by) in flattener.enteredThrough.sorted(by: { $0.key < $1.key }) {
            for c in filter.reach(from: chain) where entered[c] == nil { entered[c] = by }
        }
        kernelEntered = entered
    }

    /// Rules holding a KERNEL position some packet can reach, in position order.
    func kernelPositions() -> [(RuleRef, KernelReason)] {
        var out: [(RuleRef, KernelReason)] = []
        var seen: Set<RuleRef> = []
        for (p, f) in builder.flat.enumerated() where f.verdict == .kernel && !builder.neverMatching.contains(p) && shadowed[p] == nil {
            if let why = f.kernelReason, seen.insert(f.origin).inserted { out.append((f.origin, why)) }
        }
        return out
    }

    func reports(family: Family) -> [RuleReport] {
        var out: [RuleReport] = []
        for table in ruleset.tables {
            let builtinReach = table.chains.filter(\.isBuiltin).map { ($0.name, Set(table.reach(from: $0.name))) }
            for chain in table.chains {
                let scope: RuleReport.Scope
                if table.name == "filter" && inputReach.contains(chain.name) {
                    scope = .input
                } else if preInputChains[table.name]?.contains(chain.name) == true {
                    scope = .beforeInput
                } else {
                    scope = .elsewhere
                }
                let builtins = builtinReach.filter { $0.1.contains(chain.name) }.map(\.0)
                for (i, rule) in chain.rules.enumerated() {
                    let ref = RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line)
                    let status = events[ref].map { self.status(of: $0, entered: table.name == "filter" ? kernelEntered[chain.name] : nil) }
                        ?? unseen(table: table.name, chain: chain.name, scope: scope, builtins: builtins)
                    out.append(RuleReport(ref: ref, text: RulePrinter.save(rule, chain: chain.name, family: family),
                                          status: status, scope: scope))
                }
            }
        }
        return out
    }

    var cutRef: RuleRef? { builder.cut.map { builder.flat[$0].origin } }

    /// `entered`: a kernel rule that leads into the rule's chain, by which iptables may
    /// bring it packets the walks did not: then it is not called shadowed or contradictory.
    func status(of e: RuleEvents, entered: RuleRef?) -> RuleStatus {
        var kernel: KernelReason?
        var xdp: XDPPlacement?
        var shadow: RuleRef?
        var allShadowed = true
        var anyLive = false
        var stateUp: (String, KernelReason?)?
        for p in e.positions {
            if let c = builder.cut, p > c, let r = cutRef {
                kernel = kernel ?? .afterCapacityCut(r)
                continue
            }
            let f = builder.flat[p]
            if builder.neverMatching.contains(p) { continue }
            // A shadowed position never sees a packet, in XDP or in iptables: even a KERNEL
            // one passes nothing up.
            anyLive = true
            if let by = shadowed[p] {
                shadow = shadow ?? by
            } else if f.verdict == .kernel, let up = f.rejectStateUp, case .rejectPath? = f.kernelReason {
                // The originals a state-split REJECT passes up (ReplyStateSplit): a runtime
                // answer of the rule XDP decides, unless none of its reject positions is live.
                allShadowed = false
                stateUp = stateUp ?? (up, f.kernelReason)
            } else if f.verdict == .kernel {
                allShadowed = false
                kernel = kernel ?? f.kernelReason
            } else if let by = covered[p] {
                allShadowed = false
                kernel = kernel ?? .coveredBy(by)
            } else {
                allShadowed = false
                if let placed = builder.placements[p], let kind = f.continues, f.verdict.continues {
                    xdp = xdp ?? .continues(kind, placed)
                } else if let placed = builder.placements[p] {
                    xdp = xdp ?? (f.rejectAsDrop ? .rejectAsDrop(placed) : f.reject.map { .rejectReply($0, placed) } ?? placed)
                }
            }
        }
        if let split = stateUp {
            let (up, why) = split
            if case .rejectReply(let r, let p)? = xdp {
                xdp = .rejectReplyByState(r, goingUp: up, p)
            } else {
                kernel = kernel ?? why
            }
        }
        if let kernel { return .kernel(kernel) }
        if let xdp { return .xdp(xdp) }
        if let inlined = e.inlined {
            if let c = builder.cut, inlined.at > c, let r = cutRef { return .kernel(.afterCapacityCut(r)) }
            return .xdp(.inlined(inlined.0))
        }
        if e.noEffect { return .noEffect }
        if let name = e.neverOnInterface { return .neverMatches(.interface(name)) }
        if let entered { return .kernel(.reachedThrough(entered)) }
        if anyLive && allShadowed, let shadow { return .shadowed(by: shadow) }
        if !e.positions.isEmpty { return .neverMatches(.contradiction) }
        return .unreachable
    }

    /// A rule no walk saw: after the capacity stop, in a chain only a kernel rule enters,
    /// in a chain that runs in the kernel only, or in none a packet can reach.
    func unseen(table: String, chain: String, scope: RuleReport.Scope, builtins: [String]) -> RuleStatus {
        if table == "filter" && scope == .input {
            if stopped, let r = cutRef { return .kernel(.afterCapacityCut(r)) }
            if let by = kernelEntered[chain], !walked.contains(chain) { return .kernel(.reachedThrough(by)) }
            if walked.contains(chain) || !builtins.contains(where: { $0 != "INPUT" }) { return .unreachable }
        }
        if builtins.isEmpty { return .unreachable }
        return .kernel(.kernelOnly(table: table, builtins: builtins))
    }
}
