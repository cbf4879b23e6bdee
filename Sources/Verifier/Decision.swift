import Compiler
import IptParse

/// What decided one probe: a rule (chain and 1-based index) or INPUT's policy, and the verdict.
public struct Decision: Equatable, Sendable, CustomStringConvertible {
    public var rule: String
    public var accepted: Bool
    public var description: String { "\(rule) (\(accepted ? "accept" : "drop"))" }

    /// The kernel's: the terminal rule whose counter moved, else the policy if its counter moved.
    public static func kernel(before: KernelCounters, after: KernelCounters, filter: Table) -> Decision? {
        for chain in filter.chains {
            let b = before.rules[chain.name] ?? [], a = after.rules[chain.name] ?? []
            for (i, rule) in chain.rules.enumerated() where i < a.count && a[i] > (i < b.count ? b[i] : 0) {
                switch rule.target {
                case .accept?: return Decision(rule: "\(chain.name) \(i + 1)", accepted: true)
                case .drop?, .reject?: return Decision(rule: "\(chain.name) \(i + 1)", accepted: false)
                default: continue
                }
            }
        }
        if (after.policies["INPUT"] ?? 0) > (before.policies["INPUT"] ?? 0) {
            return Decision(rule: "policy", accepted: filter.chain("INPUT")?.policy != "DROP")
        }
        return nil
    }

    /// The XDP program's: the position whose counter moved, mapped back to its rule.
    public static func xdp(before: [UInt64], after: [UInt64], compiled: CompileResult) -> Decision? {
        guard let pos = zip(before, after).enumerated().first(where: { $0.element.1 > $0.element.0 })?.offset else { return nil }
        if pos >= compiled.origins.count || compiled.origins[pos].isPolicy {
            return Decision(rule: "policy", accepted: compiled.tables.policy == .accept)
        }
        let o = compiled.origins[pos].rule
        // ACCEPT and KERNEL positions both pass the packet up.
        return Decision(rule: "\(o.chain) \(o.index)", accepted: compiled.tables.verdicts[pos] != .drop)
    }
}
