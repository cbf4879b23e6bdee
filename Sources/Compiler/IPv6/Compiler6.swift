import IptParse

/// Where an IPv6 position came from: the rule that holds it (with the jumps on its way),
/// or the policy of filter INPUT.
public struct PositionOrigin6: Equatable, Sendable {
    public var rule: RuleRef?
    public var via: [RuleRef]
    /// INPUT's policy, reached after the jumps in `via` let the packet in and their chains
    /// fell through (`rule` is nil then).
    public var isPolicy = false
    public var verdict: CompiledTables6.Verdict
    /// Why a `kernel` position is the kernel's; empty for exact positions.
    public var reason: String
}

public struct CompileResult6: Equatable, Sendable {
    public var tables: CompiledTables6
    /// One per position; the policy's is not among them.
    public var origins: [PositionOrigin6]
    public var notes: [String]

    /// Positions XDP decides exactly (accept and drop), and the rest.
    public var exactPositions: Int { origins.filter { $0.verdict != .kernel }.count }
}

/// An ip6tables ruleset (read back from the kernel with ip6tables-save) -> the IPv6 tables of
/// the XDP program, in the two-layer model (docs/two-layers.md, docs/ipv6.md): a pure
/// function that never fails; whatever XDP cannot decide exactly becomes a `kernel` entry
/// over an over-approximation of its packets.
public enum Compiler6 {
    /// Jumps followed into user chains; deeper ones are `kernel` entries.
    static let maxDepth = 8

    public static func compile(_ ruleset: Ruleset, sets: IpsetScript? = nil, interface: String) -> CompileResult6 {
        var byName: [String: IpsetSet] = [:]
        for s in sets?.sets ?? [] { byName[s.name] = s }
        var c = Compiler6Walk(lowering: Lowering6(interface: interface, sets: byName,
                                                  writtenSets: Set(DynamicSets.writtenSets(ruleset).keys)))
        var notes: [String] = []
        let natRules = ruleset.table("nat")?.chains.reduce(0) { $0 + $1.rules.count } ?? 0
        if natRules > 0 {
            c.tables.passAll = true
            notes.append("the ip6tables nat table has rules: XDP passes every IPv6 packet")
        }
        c.tables.firstFragmentsUp = usesConntrack(ruleset)
        if c.tables.firstFragmentsUp { notes.append("the ruleset loads conntrack: first fragments go to the kernel, which reassembles them") }
        c.preInput(ruleset)
        let filter = ruleset.table("filter") ?? Table(name: "filter")
        c.tables.policy = filter.chain("INPUT")?.policy == "DROP" ? .drop : .accept
        if let input = filter.chain("INPUT") {
            c.walk(input, table: filter, context: CompiledTables6.Tests(), via: [], depth: 0)
        }
        if c.cut { notes.append("more rules than the program holds: the rest goes to the kernel") }
        c.tables.positions = UInt32(c.origins.count)
        c.fillSets(byName)
        return CompileResult6(tables: c.tables, origins: c.origins, notes: notes)
    }

    /// Whether some rule makes the kernel track IPv6 connections in this namespace (xt_state,
    /// xt_conntrack and the CT target take a reference on conntrack, which enables
    /// nf_defrag_ipv6). Other users of conntrack in the namespace (nftables tables of other
    /// tools) are not seen here: see docs/ipv6.md.
    static func usesConntrack(_ ruleset: Ruleset) -> Bool {
        for table in ruleset.tables {
            for chain in table.chains {
                for rule in chain.rules {
                    if rule.matches.contains(where: { m in
                        switch m {
                        case .state, .conntrack: true
                        case .opaque(let e): ["connbytes", "connlabel", "connlimit", "connmark", "helper", "cluster", "nat"].contains(e.name)
                        default: false
                        }
                    }) { return true }
                    if case .opaque(let e)? = rule.target, ["CT", "NOTRACK", "CONNMARK", "CONNSECMARK", "SYNPROXY"].contains(e.name) { return true }
                }
            }
        }
        return !(ruleset.table("nat")?.chains.allSatisfy { $0.rules.isEmpty } ?? true)
    }
}

struct Compiler6Walk {
    var lowering: Lowering6
    var tables = CompiledTables6()
    var origins: [PositionOrigin6] = []
    /// The program's room ran out: one `kernel` catch-all was written and nothing after it.
    var cut = false

    /// Rules before filter INPUT that may change the packet or what INPUT sees of it:
    /// a `kernel` entry over each one's own tests, in front of INPUT's (PreInputRules).
    mutating func preInput(_ ruleset: Ruleset) {
        for (tableName, hook) in PreInputRules.hooks {
            guard let table = ruleset.table(tableName) else { continue }
            for chainName in table.reach(from: hook) {
                guard let chain = table.chain(chainName) else { continue }
                for (i, rule) in chain.rules.enumerated() {
                    guard let target = rule.target, PreInputRules.changesPacket(target) else { continue }
                    let ref = RuleRef(table: tableName, chain: chainName, index: i + 1, line: rule.location?.line)
                    guard case .tests(var alts, _) = lowering.lower(rule) else { continue }
                    // raw runs before conntrack and NAT binds a whole connection from its first
                    // packet: their state tests say nothing of this packet (PreInputRules).
                    if tableName == "raw" || tableName == "nat" { for i in alts.indices { alts[i].conntrack = nil } }
                    emit(alts, verdict: .kernel, rule: ref, via: [],
                         reason: "\(tableName) \(chainName) -j \(target.name) runs before filter INPUT")
                }
            }
        }
    }

    mutating func walk(_ chain: Chain, table: Table, from start: Int = 0, context: CompiledTables6.Tests, via: [RuleRef], depth: Int) {
        for (i, rule) in chain.rules.enumerated() where i >= start && !cut {
            let ref = RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line)
            guard case .tests(let alts, let unsupported) = lowering.lower(rule) else { continue }
            let inContext = alts.map { context.and($0) }
            guard inContext.allSatisfy({ $0 != nil }) else {
                // One entry cannot hold the jump's tests and this rule's: everything the
                // jump let in goes to the kernel from here on.
                emit([context], verdict: .kernel, rule: ref, via: via, reason: "its tests and the jump's do not fit one entry")
                return
            }
            let tests = inContext.compactMap { $0 }
            let exact = unsupported.isEmpty
            let why = unsupported.joined(separator: ", ")
            switch rule.target {
            case .accept?, .drop?:
                let v: CompiledTables6.Verdict = rule.target == .accept ? .accept : .drop
                emit(tests, verdict: exact ? v : .kernel, rule: ref, via: via, reason: exact ? "" : "not decided in XDP: \(why)")
            case .jump(let callee)? where exact && tests.count == 1 && depth < Compiler6.maxDepth:
                if let c = table.chain(callee), !c.isBuiltin {
                    walk(c, table: table, context: tests[0], via: via + [ref], depth: depth + 1)
                    // A packet the chain lets fall through comes back here, and the kernel has
                    // counted it on the jump. From INPUT itself, once: the rest of INPUT again
                    // for those packets, with the jump among the rules each position counts,
                    // then the policy. Deeper, or within such a copy: those packets go up.
                    if depth == 0 && via.isEmpty {
                        walk(chain, table: table, from: i + 1, context: tests[0], via: [ref], depth: 0)
                        emitPolicy(tests[0], via: [ref])
                    } else {
                        emit(tests, verdict: .kernel, rule: ref, via: via,
                             reason: "packets -j \(callee) lets fall through (the kernel counts the jump)")
                    }
                } else {
                    emit(tests, verdict: .kernel, rule: ref, via: via, reason: "-j \(callee)")
                }
            case .return? where depth > 0:
                // The rest of this chain is skipped for these packets: not one entry's worth.
                emit(tests, verdict: .kernel, rule: ref, via: via, reason: "RETURN")
            default:
                // REJECT (answered by the kernel), LOG and other targets, counting rules,
                // goto, RETURN from INPUT, jumps XDP does not follow.
                let what = rule.target.map { "-j \($0.name)" } ?? "no target (counts)"
                emit(tests, verdict: .kernel, rule: ref, via: via, reason: exact ? what : "\(what); \(why)")
            }
        }
    }

    /// One position with an entry per alternative; past the program's room, a `kernel`
    /// catch-all at the first rule that does not fit, and nothing after it.
    mutating func emit(_ alts: [CompiledTables6.Tests], verdict: CompiledTables6.Verdict, rule: RuleRef, via: [RuleRef], reason: String) {
        guard !cut else { return }
        let pos = UInt32(origins.count)
        if tables.entries.count + alts.count > CompiledTables6.maxEntries - 1 || origins.count + 1 > CompiledTables6.maxPositions - 1 {
            cut = true
            origins.append(PositionOrigin6(rule: rule, via: via, verdict: .kernel, reason: "beyond the program's room"))
            tables.entries.append(.init(position: pos, verdict: .kernel, tests: CompiledTables6.Tests()))
            return
        }
        origins.append(PositionOrigin6(rule: rule, via: via, verdict: verdict, reason: reason))
        for t in alts { tables.entries.append(.init(position: pos, verdict: verdict, tests: t)) }
    }

    /// INPUT's policy for the packets of `context`, counted with the jumps in `via`.
    mutating func emitPolicy(_ context: CompiledTables6.Tests, via: [RuleRef]) {
        guard !cut else { return }
        if tables.entries.count + 1 > CompiledTables6.maxEntries - 1 || origins.count + 1 > CompiledTables6.maxPositions - 1 {
            emit([context], verdict: .kernel, rule: via[0], via: [], reason: "beyond the program's room")
            return
        }
        let pos = UInt32(origins.count)
        origins.append(PositionOrigin6(rule: nil, via: via, isPolicy: true, verdict: tables.policy, reason: ""))
        tables.entries.append(.init(position: pos, verdict: tables.policy, tests: context))
    }

    /// The members of every set an entry tests.
    mutating func fillSets(_ sets: [String: IpsetSet]) {
        tables.setIDs = lowering.setIDs
        for (name, id) in lowering.setIDs.sorted(by: { $0.value < $1.value }) {
            guard let s = sets[name] else { continue }
            let netmask = UInt8(clamping: s.create.netmask ?? 128)
            for e in s.entries {
                var addr: IPBits?
                var len: UInt8 = 128
                var port: IpsetPort?
                for el in e.elements {
                    switch el {
                    case .address(let a): addr = IPBits(hi: a.hi, lo: a.lo); len = netmask
                    case .prefix(let a, let l): addr = IPBits(hi: a.hi, lo: a.lo); len = UInt8(clamping: l)
                    case .port(let p): port = p
                    default: break
                    }
                }
                guard let addr else { continue }
                tables.setMembers.append(.init(set: id, address: addr, prefixLength: len, port: port, nomatch: e.nomatch))
            }
        }
    }
}
