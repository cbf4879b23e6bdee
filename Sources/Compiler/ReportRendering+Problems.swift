import IptParse

/// Something an operator should look at before migrating, listed first in every form.
public struct ReportProblem: Equatable, Sendable {
    public enum Severity: String, Equatable, Sendable {
        /// migrate exits 1: a disagreement, or `--xdp-only` asked and impossible.
        case error
        /// Installable, but worth a look: a rule that never decides, a capacity cut.
        case warning
    }

    public enum Kind: String, Equatable, Sendable {
        case disagreement
        case notInstallable = "not-installable"
        case capacity
        case shadowed
        case contradiction
        case unreachable
    }

    public var severity: Severity
    public var kind: Kind
    public var detail: String
    /// The rule it is about, if one.
    public var rule: RuleRef?
}

extension MigrationReport {
    /// Errors first, then warnings, each in rule order.
    public var problems: [ReportProblem] {
        var out: [ReportProblem] = []
        if let v = verification {
            for d in v.disagreements {
                out.append(ReportProblem(severity: .error, kind: .disagreement,
                                         detail: "\(d.why): \(d.packet): the kernel alone: \(d.iptables); XDP: \(d.xdp)"))
            }
        }
        if !result.installable {
            let n = result.xdpOnlyBlockers.count
            out.append(ReportProblem(severity: .error, kind: .notInstallable,
                                     detail: "--xdp-only was asked, but XDP cannot decide filter INPUT alone (\(n) reason\(n == 1 ? "" : "s"), listed under --xdp-only)"))
        }
        var unreachable: [RuleReport] = []
        for r in result.report.rules {
            switch r.status {
            case .kernel(.capacity(let c)):
                out.append(ReportProblem(severity: .warning, kind: .capacity,
                                         detail: "\(r.ref.spoken): \(KernelReason.capacity(c).detail)", rule: r.ref))
            case .shadowed:
                out.append(ReportProblem(severity: .warning, kind: .shadowed,
                                         detail: "\(r.ref.spoken) never decides: \(r.status.detail)", rule: r.ref))
            case .neverMatches(.contradiction):
                out.append(ReportProblem(severity: .warning, kind: .contradiction,
                                         detail: "\(r.ref.spoken) never matches: \(r.status.detail)", rule: r.ref))
            case .unreachable:
                unreachable.append(r)
            default:
                break
            }
        }
        out += Self.unreachableRuns(unreachable).map { run in
            ReportProblem(severity: .warning, kind: .unreachable, detail: "\(Self.spoken(run)) never decide\(run.count == 1 ? "s" : ""): \(run[0].status.detail)",
                          rule: run[0].ref)
        }
        return out.filter { $0.severity == .error } + out.filter { $0.severity == .warning }
    }

    /// Unreachable rules in runs of consecutive rules of one chain: an unused user chain is
    /// one problem, not one per rule.
    static func unreachableRuns(_ rules: [RuleReport]) -> [[RuleReport]] {
        var runs: [[RuleReport]] = []
        for r in rules {
            if let last = runs.last?.last, last.ref.table == r.ref.table, last.ref.chain == r.ref.chain, last.ref.index + 1 == r.ref.index {
                runs[runs.count - 1].append(r)
            } else {
                runs.append([r])
            }
        }
        return runs
    }

    /// `filter/PRIVATE rule 3 (line 39)`, or `filter/PRIVATE rules 1-4 (lines 37-40)` for a run.
    static func spoken(_ run: [RuleReport]) -> String {
        guard let first = run.first, let last = run.last, run.count > 1 else { return run.first?.ref.spoken ?? "" }
        let lines = first.ref.line.flatMap { a in last.ref.line.map { " (lines \(a)-\($0))" } } ?? ""
        return "\(first.ref.table)/\(first.ref.chain) rules \(first.ref.index)-\(last.ref.index)\(lines)"
    }
}
