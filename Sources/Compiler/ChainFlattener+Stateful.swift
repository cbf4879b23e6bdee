import IptParse

/// Where the positions may hold stateful tests (limit, statistic, ...): the kernel
/// evaluates every rule of the ruleset again for the packets XDP passes up, so a stateful
/// test XDP also evaluates is charged twice unless XDP's answer decides the packet's way.
extension ChainFlattener {
    /// Tables XDP keeps for hashlimit (bpf/ext_hashlimit.h: 8 of 8192 entries each).
    static let maxHashlimitTables = 8

    /// Why a rule whose tests lowered still cannot hold its stateful tests in XDP.
    mutating func statefulProblems(_ rule: Rule, _ own: [Atom]) -> [UnsupportedTest] {
        let stateful = own.compactMap { a -> ExtTest? in
            if case .ext(let e) = a, e.isStateful { e } else { nil }
        }
        guard !stateful.isEmpty else { return [] }
        // On a jump, goto or RETURN the state is charged by a CONTINUE position at the rule's
        // place (ContinuePositions.swift: `charge`), not per inlined position.
        for case .hashlimit(let h, _, _) in stateful where !hashlimitTables.contains(h.name) {
            guard hashlimitTables.count < Self.maxHashlimitTables else {
                return [.statefulOptions("hashlimit", "more than \(Self.maxHashlimitTables) tables")]
            }
        }
        // recent's lists take what this leaves of the budget (RecentLists.refine).
        let counted = instances.filter { !recentInstances.contains($0) }
        let new = Set(stateful.filter { if case .recent = $0 { false } else { true } }.compactMap(\.instance)).subtracting(counted)
        if counted.count + new.count > ExtTest.maxStatefulInstances {
            return [.statefulInstances(limit: ExtTest.maxStatefulInstances)]
        }
        return []
    }

    /// The tests a position keeps. A `KERNEL` position passes its packets up, where iptables
    /// evaluates the rule with its own state: its stateful tests stay in XDP only for LOG and
    /// NFLOG rules that lowered whole (their answer sends the packet up or lets XDP go on,
    /// and the kernel's own bucket then sees only what XDP's let through, as ufw's
    /// `-m limit -j LOG` needs). Every other `KERNEL` position treats them as "may match"
    /// and touches no state.
    mutating func keepingStateful(_ conds: [Atom], _ v: CompiledTables.Verdict, _ kernel: KernelReason?) -> [Atom] {
        var conds = conds
        let logs: Bool
        switch kernel {
        // A target-less rule acting on a recent list XDP keeps: its test records the packet and
        // answers "no" (RecentLists), so the walk goes on in XDP and nothing goes up for it.
        case .target("LOG")?, .target("NFLOG")?, .recentActs?: logs = true
        default: logs = false
        }
        if v == .kernel && !logs {
            conds.removeAll { if case .ext(let e) = $0 { e.isStateful } else { false } }
        }
        for case .ext(let e) in conds {
            if let i = e.instance { instances.insert(i) }
            if case .recent = e, let i = e.instance { recentInstances.insert(i) }
            if case .hashlimit(let h, _, _) = e { hashlimitTables.insert(h.name) }
        }
        return conds
    }
}
