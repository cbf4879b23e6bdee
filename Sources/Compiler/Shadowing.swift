/// Finds positions that never decide because an earlier exact ACCEPT or DROP matches every
/// packet they match. Only exact positions shadow: a `KERNEL` position's tests are an
/// over-approximation, so covering a later rule with them proves nothing about iptables.
///
/// The flat list is iptables' order only for packets no `KERNEL` position may take: a
/// packet an earlier `KERNEL` position may match can reach the later rule in iptables by
/// a way the list does not show (a RETURN that was not inlined, a target that continues).
/// So a position is shadowed only when no earlier `KERNEL` position can share a packet
/// with it (the one piece of the former "depends on unsupported" overlap check still
/// needed, and only for the report).
/// Quadratic, so it runs only on rulesets of a human size; whitelists belong in sets.
enum Shadowing {
    static let maxRules = 4000

    struct Found {
        /// Position -> the rule of the exact position that decides all of its packets first.
        var shadowed: [Int: RuleRef] = [:]
        /// ACCEPT/DROP position -> the rule of an earlier `KERNEL` position that takes every
        /// packet it matches: in XDP it never decides, the kernel does.
        var covered: [Int: RuleRef] = [:]
    }

    static func find(_ flat: [FlatRule], live: (Int) -> Bool) -> Found {
        guard flat.count <= maxRules else { return Found() }
        // Each position's alternatives that some packet may satisfy; nil: none.
        let atoms: [[[Atom]]?] = flat.map { f in
            let alts = f.alternatives.compactMap(AtomNormalization.normalize)
            return alts.isEmpty ? nil : alts
        }
        var out = Found()
        var kernel: [(atoms: [Atom], rule: RuleRef)] = []
        for j in flat.indices {
            // A shadowed KERNEL position passes nothing: an exact one before it decides all of
            // its packets, in XDP and in iptables alike.
            defer {
                if flat[j].verdict == .kernel, live(j), out.shadowed[j] == nil, let alts = atoms[j] {
                    for a in alts { kernel.append((a, flat[j].origin)) }
                }
            }
            guard let bs = atoms[j], live(j) else { continue }
            for i in 0..<j {
                // A CONTINUE position decides nothing: the walk goes on after it.
                guard let as_ = atoms[i], live(i), flat[i].kernelReason == nil, flat[i].verdict != .kernel,
                      !flat[i].verdict.continues else { continue }
                // Every alternative of j lies inside some alternative of i.
                if flat[i].origin != flat[j].origin && bs.allSatisfy({ b in as_.contains { a in a.allSatisfy { implied($0, by: b) } } }) {
                    if !kernel.contains(where: { k in bs.contains { AtomNormalization.normalize(k.atoms + $0) != nil } }) {
                        out.shadowed[j] = flat[i].origin
                    }
                    break
                }
            }
            if out.shadowed[j] == nil, flat[j].verdict != .kernel,
               bs.allSatisfy({ b in kernel.contains { k in k.atoms.allSatisfy { implied($0, by: b) } } }),
               let k = kernel.first(where: { k in k.atoms.allSatisfy { implied($0, by: bs[0]) } }) {
                out.covered[j] = k.rule
            }
        }
        return out
    }

    /// Whether every packet satisfying all of `tests` satisfies `a`.
    static func implied(_ a: Atom, by tests: [Atom]) -> Bool {
        tests.contains { b in
            if a == b { return true }
            switch (a, b) {
            case (.source(let pa, false), .source(let pb, false)), (.destination(let pa, false), .destination(let pb, false)):
                return pa.contains(pb)
            case (.destinationPorts(let ra, false), .destinationPorts(let rb, false)),
                 (.sourcePorts(let ra, false), .sourcePorts(let rb, false)):
                return rb.allSatisfy { r in ra.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound } }
            case (.conntrack(let sa, false), .conntrack(let sb, false)):
                return sa.isSuperset(of: sb)
            case (.fragment(false), .destinationPorts), (.fragment(false), .sourcePorts), (.fragment(false), .eitherPorts):
                return true
            default:
                return false
            }
        }
    }
}
