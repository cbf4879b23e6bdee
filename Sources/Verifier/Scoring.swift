import Compiler

/// How the two layers' answer for a probe compares with the kernel's alone. The two-layer
/// verdict is XDP's DROP when XDP drops, else the kernel's own (the same ruleset is behind
/// XDP). So the layers can only disagree where XDP decides itself: it drops what the kernel
/// accepts, or drops by another rule than the kernel's (the counters would then differ).
/// With `--xdp-only` XDP also accepts alone, and an accept must match too.
public struct Scoring: Equatable, Sendable {
    public var probes = 0
    public var agreements = 0
    public var disagreements: [MigrationReport.Disagreement] = []
    public var kernelDrops = 0
    public var xdpDrops = 0

    public init() {}

    public mutating func add(packet: String, xdp: XDPAnswer, kernel: KernelAnswer, xdpOnly: Bool,
                             drawn: [Decision.Decider] = []) {
        probes += 1
        if !kernel.accepted { kernelDrops += 1 }
        if let why = Self.disagreement(xdp: xdp, kernel: kernel, xdpOnly: xdpOnly, drawn: drawn) {
            disagreements.append(MigrationReport.Disagreement(
                packet: packet,
                iptables: (kernel.decision.map { "\($0)" } ?? "no rule named") + (kernel.accepted ? ", accepted" : ", not accepted"),
                xdp: xdp.decision.map { "\($0)" } ?? (xdp.dropped ? "dropped, no position counted" : "passed"),
                why: why))
            return
        }
        agreements += 1
        if xdp.dropped { xdpDrops += 1 }
    }

    /// nil when the two layers decide the probe as the kernel alone does, else why not.
    /// `drawn`: the rules XDP decides by a pending draw (statistic random, PendingDraws.swift).
    /// Where XDP's decider or the kernel's is one, each side drew for itself (with the same
    /// chances), and another deciding rule with the same verdict is that variation.
    public static func disagreement(xdp: XDPAnswer, kernel: KernelAnswer, xdpOnly: Bool,
                                    drawn: [Decision.Decider] = []) -> String? {
        if xdp.dropped {
            if kernel.accepted { return "XDP drops a packet the kernel accepts" }
            guard let x = xdp.decision, x.verdict == .drop else { return "XDP drops a packet at no DROP position" }
            if kernel.decision?.decider != x.decider {
                let varies = drawn.contains(x.decider) || kernel.decision.map { drawn.contains($0.decider) } == true
                if !varies { return "XDP drops it by another rule than the kernel" }
            }
            return nil
        }
        guard xdpOnly, let x = xdp.decision, x.verdict == .accept else { return nil }
        // --xdp-only: the kernel's filter INPUT is empty, so XDP's accept is final.
        if !kernel.accepted { return "XDP alone accepts a packet the kernel drops" }
        if kernel.decision?.decider != x.decider { return "XDP alone accepts it by another rule than the kernel" }
        return nil
    }

    public var verification: MigrationReport.Verification {
        MigrationReport.Verification(probes: probes, agreements: agreements, disagreements: disagreements,
                                     kernelDrops: kernelDrops, xdpDrops: xdpDrops)
    }
}
