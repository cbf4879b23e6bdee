import IptParse

/// What became of one rule.
public enum RuleStatus: Equatable, Sendable {
    /// A jump, goto or RETURN whose effect was inlined into the rules it leads to.
    case compiled
    case keyed(table: String, entries: Int)
    case fallback(entries: Int)
    /// Decided with the kernel's help (conntrack lookup).
    case emulated(String)
    /// Compiled with a change the operator asked for (REJECT as DROP).
    case changedOnRequest(String)
    /// Counts packets only; no effect on verdicts.
    case noEffect(String)
    case shadowed(by: RuleRef)
    case neverMatches(String)
    /// Not the XDP program's business: other tables, OUTPUT, FORWARD.
    case notApplicable(String)
    /// In a filter chain INPUT never reaches.
    case unreachable
    case unsupported(String, advice: String)
    /// Compiled, but iptables may reach it differently: an unsupported rule left out before
    /// it (a RETURN or goto it would have taken, a jump into its chain) decides which packets
    /// get here. Exact only once that rule is made compilable.
    case dependsOnUnsupported(RuleRef)

    var severity: Int {
        switch self {
        case .compiled: 0
        case .keyed: 1
        case .fallback: 2
        case .emulated: 3
        case .changedOnRequest: 4
        case .noEffect: 5
        case .shadowed: 6
        case .notApplicable, .unreachable: 7
        case .neverMatches: 8
        case .dependsOnUnsupported: 8
        case .unsupported: 9
        }
    }

    /// Short name used in reports and JSON.
    public var name: String {
        switch self {
        case .compiled: "compiled"
        case .keyed: "compiled"
        case .fallback: "fallback"
        case .emulated: "emulated"
        case .changedOnRequest: "changed-on-request"
        case .noEffect: "no-effect"
        case .shadowed: "shadowed"
        case .neverMatches: "never-matches"
        case .notApplicable: "not-applicable"
        case .unreachable: "unreachable"
        case .unsupported: "unsupported"
        case .dependsOnUnsupported: "depends-on-unsupported"
        }
    }

    public var detail: String {
        switch self {
        case .compiled: "jump/goto/RETURN inlined into the rules it leads to"
        case .keyed(let t, let n): "\(t) table, \(n) entr\(n == 1 ? "y" : "ies")"
        case .fallback(let n): "fallback list, \(n) entr\(n == 1 ? "y" : "ies")"
        case .emulated(let s), .changedOnRequest(let s), .noEffect(let s), .neverMatches(let s), .notApplicable(let s): s
        case .shadowed(let r): "every packet it matches is decided earlier by \(r.chain) rule \(r.index)\(r.line.map { " (line \($0))" } ?? "")"
        case .unreachable: "no jump from INPUT leads to this chain"
        case .unsupported(let s, let a): a.isEmpty ? s : "\(s); \(a)"
        case .dependsOnUnsupported(let r):
            "which packets reach it depends on unsupported \(r.chain) rule \(r.index)\(r.line.map { " (line \($0))" } ?? ""), left out of XDP"
        }
    }
}

public struct RuleReport: Equatable, Sendable {
    public var ref: RuleRef
    /// The rule as iptables-save prints it.
    public var text: String
    public var status: RuleStatus
}

public struct CompileReport: Equatable, Sendable {
    public var interface: String
    public var rules: [RuleReport]
    public var notes: [String]

    /// Rules that make a restore fail: unsupported ones, and rules outside INPUT unless --input-only.
    public func blocking(inputOnly: Bool) -> [RuleReport] {
        rules.filter {
            if case .unsupported = $0.status { return true }
            if case .notApplicable = $0.status { return !inputOnly }
            return false
        }
    }

    /// Whether packets decided by this rule are decided exactly as in iptables: false for
    /// unsupported rules and the rules whose reach depends on one. `migrate --verify`
    /// compares only packets both sides decide with such rules (or the policy).
    public static func isExact(_ s: RuleStatus) -> Bool {
        switch s {
        case .unsupported, .dependsOnUnsupported: false
        default: true
        }
    }

    public func count(_ name: String) -> Int { rules.filter { $0.status.name == name }.count }
}
