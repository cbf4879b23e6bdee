import IptParse

public struct CompileOptions: Equatable, Sendable {
    /// `--reject-as-drop`: compile REJECT as DROP; the report says so for each rule.
    public var rejectAsDrop: Bool
    /// `--input-only`: install the INPUT part even when other chains and tables have rules.
    public var inputOnly: Bool
    public init(rejectAsDrop: Bool = false, inputOnly: Bool = false) {
        self.rejectAsDrop = rejectAsDrop
        self.inputOnly = inputOnly
    }
}

/// Where a position of the compiled tables came from: the rule that decides, or INPUT's
/// policy reached through a RETURN or the end of a goto'd chain.
public struct PositionOrigin: Equatable, Sendable {
    public var rule: RuleRef
    public var isPolicy: Bool
}

public struct CompileResult: Equatable, Sendable {
    public var tables: CompiledTables
    /// One per position of `tables.verdicts`.
    public var origins: [PositionOrigin]
    public var report: CompileReport
    /// Whether the tables may be installed: nothing unsupported, and nothing outside INPUT unless asked.
    public var installable: Bool
}

/// Lowers the filter table's INPUT chain, for one interface, to tables for the XDP
/// program. A pure function of its inputs: no kernel, no files.
public enum Compiler {
    public static func compile(_ ruleset: Ruleset, sets: IpsetScript? = nil, interface: String,
                               options: CompileOptions = CompileOptions()) -> CompileResult {
        var setInfo: [String: AtomLowering.SetInfo] = [:]
        var setByName: [String: IpsetSet] = [:]
        var notes: [String] = []
        for s in sets?.sets ?? [] {
            let kinds = s.create.type.elementKinds
            let usable = kinds.count == 1 && (kinds[0] == .ip || kinds[0] == .net) && s.create.timeout == nil
            setInfo[s.name] = AtomLowering.SetInfo(dimension: usable ? 1 : 2, family: s.create.family.rawValue)
            setByName[s.name] = s
            if s.create.timeout != nil {
                notes.append("set \(s.name) has timeouts: its members expire in the kernel, so it is not compiled")
            }
        }
        let filter = ruleset.table("filter") ?? Table(name: "filter")
        let policy: CompiledTables.Verdict = filter.chain("INPUT")?.policy == "DROP" ? .drop : .accept
        var flattener = ChainFlattener(table: filter, lowering: AtomLowering(interface: interface, sets: setInfo),
                                       options: options, policy: policy)
        flattener.walk("INPUT", context: [], topLevel: true)
        flattener.markEnteredByUnsupported()
        var builder = TableBuilder(sets: setByName)
        builder.build(flattener.flat, policy: policy)

        // Final status of each written rule: the worst over the paths that reach it.
        var statuses = flattener.statuses
        // In position order, so a rule reached along several paths reports deterministically.
        for (i, placement) in builder.placements.sorted(by: { $0.key < $1.key }) {
            let ref = flattener.flat[i].origin
            if let old = statuses[ref], old != .compiled {
                // A rule reached along several paths "never matches" only if it does on all of them.
                if case .neverMatches = placement, !(old.name == "never-matches") { continue }
                if case .neverMatches = old {} else if old.severity >= placement.severity { continue }
            }
            statuses[ref] = placement
        }
        for (ref, by) in Shadowing.find(flattener.flat, placements: builder.placements) where statuses[ref]?.severity ?? 0 < 6 {
            statuses[ref] = .shadowed(by: by)
        }

        var reports: [RuleReport] = []
        for table in ruleset.tables {
            for chain in table.chains {
                for (i, rule) in chain.rules.enumerated() {
                    let ref = RuleRef(table: table.name, chain: chain.name, index: i + 1, line: rule.location?.line)
                    let status: RuleStatus
                    if table.name != "filter" {
                        status = .notApplicable("table \(table.name) is not run by the XDP program; keep it in iptables")
                    } else if chain.name == "FORWARD" {
                        status = .notApplicable("forwarded packets pass the XDP program untouched; FORWARD stays with iptables")
                    } else if chain.name == "OUTPUT" {
                        status = .notApplicable("locally generated packets never reach XDP; OUTPUT stays with iptables")
                    } else if !flattener.reached.contains(chain.name) && statuses[ref] == nil {
                        status = .unreachable
                    } else {
                        status = statuses[ref] ?? .unreachable
                    }
                    reports.append(RuleReport(ref: ref, text: RulePrinter.save(rule, chain: chain.name, family: ruleset.family), status: status))
                }
            }
        }
        if tables(builder.tables) > 0 && builder.tables.fallback.count > Int(maxFallback) {
            notes.append("the fallback list has \(builder.tables.fallback.count) entries, more than the XDP program's \(maxFallback)")
        }
        let report = CompileReport(interface: interface, rules: reports, notes: notes)
        let tooBig = builder.tables.fallback.count > Int(maxFallback)
        let installable = report.blocking(inputOnly: options.inputOnly).isEmpty && !tooBig
        let origins = flattener.flat.map { f -> PositionOrigin in
            let written = filter.chain(f.origin.chain)?.rules[f.origin.index - 1].target
            let viaPolicy: Bool
            switch written {
            case .return?, .goto?: viaPolicy = true
            default: viaPolicy = false
            }
            return PositionOrigin(rule: f.origin, isPolicy: viaPolicy)
        }
        return CompileResult(tables: builder.tables, origins: origins, report: report, installable: installable)
    }

    /// Mirrors EIPT_MAX_FALLBACK in bpf/ebpf_iptables.h (checked by a Loader test).
    public static let maxFallback: UInt32 = 512

    static func tables(_ t: CompiledTables) -> Int { t.verdicts.count }
}
