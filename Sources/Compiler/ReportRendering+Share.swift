import IptParse

/// How much of what filter INPUT drops XDP drops itself: over rules (static) or over packets
/// (`migrate --verify`). Everything XDP does not drop is decided by the kernel, as before.
public struct XDPShare: Equatable, Sendable {
    public var inXDP: Int
    public var total: Int

    public init(inXDP: Int, total: Int) {
        self.inXDP = inXDP
        self.total = total
    }

    /// Whole percent, rounded down, so 100 % only when all of it is in XDP; "<1 %" rather
    /// than 0 % when some is; "-" when there is nothing to share.
    public var percent: String {
        guard total > 0 else { return "-" }
        let p = inXDP * 100 / total
        return p == 0 && inXDP > 0 ? "<1 %" : "\(p) %"
    }

    /// 0...1, for drawing; 0 when there is nothing to share.
    public var fraction: Double { total > 0 ? Double(inXDP) / Double(total) : 0 }
}

/// A rule of filter INPUT (or its chains) that drops packets, or INPUT's DROP policy, and
/// where it runs.
public struct DropRule: Equatable, Sendable {
    /// nil: INPUT's policy.
    public var rule: RuleRef?
    public var layer: RuleStatus.Layer
}

extension MigrationReport {
    /// The rules on the way of an arriving packet (filter INPUT and its chains, and the
    /// chains before it) that drop (DROP, REJECT) and decide some packet, and INPUT's policy
    /// when it is DROP and some packet reaches it. A DROP before INPUT is always the kernel's:
    /// XDP holds no position for it.
    public var dropRules: [DropRule] {
        var out: [DropRule] = []
        for r in result.report.rules where r.scope != .elsewhere {
            guard let layer = r.status.layer,
                  let rule = ruleset.table(r.ref.table)?.chain(r.ref.chain)?.rules[safe: r.ref.index - 1] else { continue }
            switch rule.target {
            case .drop?, .reject?: out.append(DropRule(rule: r.ref, layer: layer))
            default: break
            }
        }
        if ruleset.table("filter")?.chain("INPUT")?.policy == "DROP", let policy = inputPolicyLayer {
            out.append(DropRule(rule: nil, layer: policy))
        }
        return out
    }

    /// Where filter INPUT's policy decides: in XDP unless a position matches every packet
    /// before it. Behind an ACCEPT or DROP catch-all, or a REJECT one (its tests are exact:
    /// every packet ends there in the kernel too), nothing reaches it (nil); behind any other
    /// `KERNEL` catch-all (an over-approximation, LOG, ...) the kernel may.
    public var inputPolicyLayer: RuleStatus.Layer? {
        guard ruleset.family == .ipv4 else { return .kernel }
        let t = result.tables
        guard let all = t.catchAll.map(Int.init), all < t.verdicts.count else { return .xdp }
        guard t.verdicts[all] == .kernel else { return nil }
        guard all < result.origins.count else { return .kernel }
        let holder = result.origins[all].rule
        let status = result.report.rules.first { $0.ref.table == holder.table && $0.ref.chain == holder.chain && $0.ref.index == holder.index }?.status
        if case .kernel(.reject)? = status { return nil }
        return .kernel
    }

    /// INPUT's policy when it is DROP, with where it decides.
    var dropPolicyLayer: RuleStatus.Layer? {
        ruleset.table("filter")?.chain("INPUT")?.policy == "DROP" ? inputPolicyLayer : nil
    }

    /// The XDP share over rules: of the rules that drop arriving packets (INPUT's DROP policy
    /// counted as one), the ones XDP decides.
    public var ruleShare: XDPShare {
        let d = dropRules
        return XDPShare(inXDP: d.filter { $0.layer == .xdp }.count, total: d.count)
    }

    /// The static share line `migrate` and `status` print.
    public var ruleShareLine: String {
        let s = ruleShare
        let policy = dropPolicyLayer.map { " (INPUT's DROP policy counted as one, \($0 == .xdp ? "in XDP" : "in the kernel"))" } ?? ""
        guard s.total > 0 else { return "XDP share: nothing drops arriving packets (no DROP or REJECT rule on their way to INPUT, policy ACCEPT)" }
        return "XDP share: \(s.inXDP) of \(s.total) dropping rule\(s.total == 1 ? "" : "s") in XDP (\(s.percent))\(policy)"
    }

    /// The share measured on probes, when `--verify` ran.
    public var probeShareLine: String? {
        verification.map { v in
            let s = v.share
            guard s.total > 0 else { return "XDP share on probes: the kernel dropped none of the \(v.probes) probes" }
            return "XDP share on probes: XDP drops \(s.inXDP) of the \(s.total) probes the kernel drops (\(s.percent))"
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
