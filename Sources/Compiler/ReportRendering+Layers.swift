import IptParse

/// Where a rule runs, in the words `migrate` and `status -v` share.
extension RuleStatus {
    /// `xdp`, `kernel`, or `none` for a rule that never decides.
    public var layerName: String { layer?.rawValue ?? "none" }

    /// What the layer is qualified with: how XDP decides (`keyed`, `fallback`, ...), why the
    /// kernel does (the reason id: `unsupported-test`, `target`, ...), or why the rule never
    /// decides (`shadowed`, ...).
    public var qualifier: String {
        if case .kernel(let why) = self { return why.id }
        return name
    }

    /// `xdp (keyed)`, `kernel (unsupported-test)`, `none (shadowed)`.
    public var placement: String { "\(layerName) (\(qualifier))" }
}

/// How many rules of one chain run where.
public struct ChainSummary: Equatable, Sendable {
    public var table: String
    public var chain: String
    public var scope: RuleReport.Scope
    /// The chain's rules, in order.
    public var rules: [RuleReport]

    public func count(_ layer: RuleStatus.Layer?) -> Int { rules.filter { $0.status.layer == layer }.count }
    public var name: String { "\(table)/\(chain)" }
}

/// Rules that run in the kernel for one reason.
public struct KernelGroup: Equatable, Sendable {
    /// The reason id (`unsupported-test`, `target`, ...).
    public var reason: String
    public var title: String
    public var rules: [RuleReport]
}

extension MigrationReport {
    /// Every chain with rules, in the order its first rule appears: filter INPUT and its chains
    /// first, then the chains before INPUT, then the rest.
    public var chains: [ChainSummary] {
        var order: [String] = []
        var byName: [String: ChainSummary] = [:]
        for r in result.report.rules {
            let key = "\(r.ref.table)/\(r.ref.chain)"
            if byName[key] == nil {
                order.append(key)
                byName[key] = ChainSummary(table: r.ref.table, chain: r.ref.chain, scope: r.scope, rules: [])
            }
            byName[key]?.rules.append(r)
        }
        let rank: [RuleReport.Scope: Int] = [.input: 0, .beforeInput: 1, .elsewhere: 2]
        return order.enumerated().compactMap { i, k in byName[k].map { (i, $0) } }
            .sorted { (rank[$0.1.scope] ?? 3, $0.0) < (rank[$1.1.scope] ?? 3, $1.0) }
            .map(\.1)
    }

    /// The rules that run in the kernel, grouped by reason (most rules first). Rules in
    /// chains no arriving packet passes (FORWARD, OUTPUT, ...) are left out: they are the
    /// kernel's by nature (`elsewhereKernelRules`).
    public var kernelGroups: [KernelGroup] {
        var order: [String] = []
        var groups: [String: KernelGroup] = [:]
        for r in result.report.rules where r.scope != .elsewhere {
            guard case .kernel(let why) = r.status else { continue }
            if groups[why.id] == nil {
                order.append(why.id)
                groups[why.id] = KernelGroup(reason: why.id, title: why.groupTitle, rules: [])
            }
            groups[why.id]?.rules.append(r)
        }
        return order.enumerated().compactMap { i, id in groups[id].map { (i, $0) } }
            .sorted { ($1.1.rules.count, $0.0) < ($0.1.rules.count, $1.0) }
            .map(\.1)
    }

    /// Rules in chains that arriving packets do not pass: they run in the kernel as they always did.
    public var elsewhereKernelRules: [RuleReport] {
        result.report.rules.filter { $0.scope == .elsewhere && $0.status.layer == .kernel }
    }
}

extension KernelReason {
    /// A heading for the rules that run in the kernel for this reason.
    var groupTitle: String {
        switch self {
        case .unsupportedTests:
            id == "dynamic-set" ? "Sets whose members change inside the kernel (timeouts, -j SET)" : "Tests XDP does not evaluate"
        case .target: "Targets XDP does not perform (LOG, MARK, SET, NFQUEUE, ...)"
        case .reject, .rejectPath: "REJECT: the kernel sends the reply (--reject-as-drop drops in XDP instead)"
        case .countsOnly: "Rules without a target: only the kernel counts them"
        case .recentActs: "Rules without a target that update a recent list XDP keeps"
        case .multiTestReturn: "RETURN or goto whose tests cannot be inlined"
        case .nestedTooDeep: "Chains nested too deep to inline"
        case .untrackedSplit: "State tests after a conditional NOTRACK"
        case .missingChain: "Jumps to chains that do not exist"
        case .beforeInput: "Before filter INPUT, acting on the packet (NAT, marks, conntrack, logging)"
        case .capacity: "The capacity cut: the first rule that did not fit the program"
        case .afterCapacityCut: "After the capacity cut"
        case .reachedThrough: "In chains entered through a rule that runs in the kernel"
        case .coveredBy: "Covered by an earlier rule that runs in the kernel"
        case .otherFamily: "IPv6: XDP judges IPv4 only"
        case .kernelOnly: "Not on the way of arriving packets (FORWARD, OUTPUT, POSTROUTING)"
        }
    }
}
