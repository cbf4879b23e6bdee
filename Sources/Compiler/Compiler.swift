import IptParse

public struct CompileOptions: Equatable, Sendable, Codable {
    /// `--reject-as-drop`: compile REJECT as DROP; the report says so for each rule.
    public var rejectAsDrop: Bool
    /// `--xdp-only`: the kernel's filter INPUT is left empty and XDP decides alone, which
    /// is only installable when nothing needs the kernel (no `KERNEL` position, no NAT).
    public var xdpOnly: Bool
    public init(rejectAsDrop: Bool = false, xdpOnly: Bool = false) {
        self.rejectAsDrop = rejectAsDrop
        self.xdpOnly = xdpOnly
    }
}

/// Where a position of the compiled tables came from: the rule that holds it, or INPUT's
/// policy reached through a RETURN or the end of a goto'd chain (`isPolicy`).
public struct PositionOrigin: Equatable, Sendable {
    public var rule: RuleRef
    public var isPolicy: Bool
    /// The jumps and gotos on the way to it (the kernel counts the packet on those too).
    public var via: [RuleRef] = []
    /// A `reject` position: the OUTPUT/POSTROUTING rules and policies the kernel would count
    /// its reply on (XDP counts the replies it sends apart, `Dataplane.replyCounters`).
    public var replyPlaces: [ReplyCountPlace] = []
}

public struct CompileResult: Equatable, Sendable {
    public var tables: CompiledTables
    /// One per position of `tables.verdicts`.
    public var origins: [PositionOrigin]
    public var report: CompileReport
    /// Whether the tables may be installed: always, unless `xdpOnly` was asked and XDP
    /// cannot decide alone (`xdpOnlyBlockers`).
    public var installable: Bool
    /// What keeps XDP from deciding alone, in position order: rules holding `KERNEL`
    /// positions (INPUT's and the ones before INPUT), and the nat table.
    public var xdpOnlyBlockers: [XDPOnlyBlocker]

    public var qualifiesForXdpOnly: Bool { xdpOnlyBlockers.isEmpty }
}

/// Lowers what a packet for this host meets on its way to filter INPUT, for one
/// interface, to tables for the XDP program. A pure function of its inputs: no kernel,
/// no files. It never fails: whatever XDP cannot decide exactly becomes a `KERNEL`
/// position that passes the packet to the kernel, which holds the whole ruleset.
public enum Compiler {
    public static func compile(_ ruleset: Ruleset, sets: IpsetScript? = nil, interface: String,
                               options: CompileOptions = CompileOptions()) -> CompileResult {
        guard ruleset.family == .ipv4 else { return otherFamily(ruleset, interface: interface, options: options) }
        var setByName: [String: IpsetSet] = [:]
        for s in sets?.sets ?? [] { setByName[s.name] = s }
        var lowering = AtomLowering(interface: interface, sets: DynamicSets.trust(sets: sets, ruleset: ruleset))
        lowering.hashlimitUses = AtomLowering.hashlimitUses(ruleset)
        lowering.conntrackInXDP = true
        lowering.newConnectionNATUnknown = ConntrackContext.natMayRewriteDestination(ruleset)
        lowering.recent = RecentLists.candidates(ruleset, lowering: lowering)
        let filter = ruleset.table("filter") ?? Table(name: "filter")
        let policy: CompiledTables.Verdict = filter.chain("INPUT")?.policy == "DROP" ? .drop : .accept
        var pre: PreInputRules.Result
        var flattener: ChainFlattener
        var builder: TableBuilder
        // Recent lists XDP keeps depend on the positions before theirs; each list refused
        // turns its rules into KERNEL positions, so walk again until none is (RecentLists).
        repeat {
            pre = PreInputRules.collect(ruleset, lowering: lowering)
            flattener = ChainFlattener(table: filter, lowering: lowering, options: options, policy: policy, after: pre.flat)
            // --xdp-only leaves the kernel's INPUT empty: a REJECTed packet XDP passes up (one it
            // cannot be sure of the reply for) would be accepted there, so REJECT stays a blocker.
            flattener.replyRuleset = options.xdpOnly ? nil : ruleset
            flattener.walk("INPUT", context: [[]], topLevel: true)
            if let fold = pre.notrack { flattener.flat = fold.apply(to: flattener.flat) }
            builder = TableBuilder(sets: setByName)
            builder.build(flattener.flat, policy: policy)
        } while lowering.recent.refine(flat: builder.flat, cut: builder.cut)

        let natRules = ruleset.table("nat")?.chains.reduce(0) { $0 + $1.rules.count } ?? 0
        builder.tables.natCheck = natRules > 0
        builder.tables.xdpOnly = options.xdpOnly

        let statuses = StatusAssembly(ruleset: ruleset, builder: builder, preInput: pre, flattener: flattener)
        var notes: [String] = []
        if let c = builder.cut, let why = builder.flat[c].kernelReason {
            notes.append("\(builder.flat[c].origin.spoken): \(why.detail)")
        }
        if natRules > 0 {
            notes.append("the nat table has rules: before dropping, XDP passes packets of NATed connections to the kernel")
        }
        let report = CompileReport(interface: interface, rules: statuses.reports(family: ruleset.family), notes: notes)

        var blockers: [XDPOnlyBlocker] = statuses.kernelPositions().map { .kernelRule($0.0, $0.1) }
        // Answered from XDP, but only where XDP can be sure of the reply; the rest needs the
        // kernel's REJECT (not there with --xdp-only).
        for f in builder.flat where f.verdict == .reject { blockers.append(.kernelRule(f.origin, .reject)) }
        // MARK and CONNMARK continue in XDP; the mark itself is set by the kernel's INPUT.
        var marking: Set<RuleRef> = []
        for f in builder.flat where f.verdict.continues {
            if let t = f.continues?.sideEffect, marking.insert(f.origin).inserted { blockers.append(.kernelRule(f.origin, .target(t))) }
        }
        if natRules > 0 { blockers.append(.natTable(rules: natRules)) }
        // A CONTINUE position counts its own rule only: the jumps on its way are counted with
        // the position that decides the packet (whose `via` names them when it is in the
        // same chain), never twice.
        let origins = builder.flat.map { PositionOrigin(rule: $0.origin, isPolicy: $0.isPolicy, via: $0.verdict.continues ? [] : $0.via, replyPlaces: $0.replyPlaces) }
        return CompileResult(tables: builder.tables, origins: origins, report: report,
                             installable: !options.xdpOnly || blockers.isEmpty, xdpOnlyBlockers: blockers)
    }

    /// The XDP program judges IPv4 only and passes every other packet up: an ip6tables
    /// ruleset compiles to tables that decide nothing, and all of it is the kernel's.
    static func otherFamily(_ ruleset: Ruleset, interface: String, options: CompileOptions) -> CompileResult {
        var tables = CompiledTables()
        tables.xdpOnly = options.xdpOnly
        var rules: [RuleReport] = []
        for table in ruleset.tables {
            for chain in table.chains {
                for (i, rule) in chain.rules.enumerated() {
                    rules.append(RuleReport(ref: RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line),
                                            text: RulePrinter.save(rule, chain: chain.name, family: ruleset.family),
                                            status: .kernel(.otherFamily), scope: .elsewhere))
                }
            }
        }
        let report = CompileReport(interface: interface, rules: rules, notes: ["the XDP program judges IPv4 packets only; this ruleset is the kernel's"])
        return CompileResult(tables: tables, origins: [], report: report, installable: true, xdpOnlyBlockers: [])
    }

    /// Mirrors EIPT_MAX_FALLBACK in bpf/ebpf_iptables.h (checked by a Loader test).
    public static let maxFallback: UInt32 = 512
    /// Mirrors EIPT_MAX_RULES in bpf/ebpf_iptables.h: positions per generation.
    public static let maxRules: UInt32 = 65_536
}
