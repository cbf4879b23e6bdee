/// Finds rules that never decide because an earlier rule matches every packet they match.
/// Quadratic, so it runs only on rulesets of a human size; whitelists belong in sets.
enum Shadowing {
    static let maxRules = 4000

    static func find(_ flat: [FlatRule], placements: [Int: RuleStatus]) -> [(RuleRef, RuleRef)] {
        guard flat.count <= maxRules else { return [] }
        let atoms = flat.map { AtomNormalization.normalize($0.atoms) }
        var out: [(RuleRef, RuleRef)] = []
        for j in flat.indices {
            guard let b = atoms[j], placements[j].map({ $0.severity < 6 }) ?? false else { continue }
            for i in 0..<j {
                guard let a = atoms[i], placements[i].map({ $0.severity < 6 }) ?? false else { continue }
                if flat[i].origin != flat[j].origin && a.allSatisfy({ implied($0, by: b) }) {
                    out.append((flat[j].origin, flat[i].origin))
                    break
                }
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
