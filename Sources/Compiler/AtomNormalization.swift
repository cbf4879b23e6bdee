import IptParse

/// Inlining a jump conjoins the caller's tests with the callee's, which can repeat a
/// test (`-p udp` on both) or narrow it (`--dport 5060` then `--dport 5060:5070`).
/// Those are merged here so each kind of test appears once; a conjunction that no
/// packet satisfies is reported as such instead.
enum AtomNormalization {
    /// nil: no packet can match.
    static func normalize(_ atoms: [Atom]) -> [Atom]? {
        var out: [Atom] = []
        for a in atoms {
            if out.contains(a) { continue }
            switch a {
            case .proto(let p, false):
                if let i = out.firstIndex(where: { if case .proto(_, false) = $0 { true } else { false } }) {
                    if case .proto(let q, false) = out[i], q != p { return nil }
                    continue
                }
            case .source(let p, false):
                if let i = out.firstIndex(where: { if case .source(_, false) = $0 { true } else { false } }),
                   case .source(let q, false) = out[i] {
                    if q.contains(p) { out[i] = a } else if !p.contains(q) { return nil }
                    continue
                }
            case .destination(let p, false):
                if let i = out.firstIndex(where: { if case .destination(_, false) = $0 { true } else { false } }),
                   case .destination(let q, false) = out[i] {
                    if q.contains(p) { out[i] = a } else if !p.contains(q) { return nil }
                    continue
                }
            case .destinationPorts(let r, false):
                if let i = out.firstIndex(where: { if case .destinationPorts(_, false) = $0 { true } else { false } }),
                   case .destinationPorts(let q, false) = out[i] {
                    let both = intersect(q, r)
                    if both.isEmpty { return nil }
                    out[i] = .destinationPorts(both, negated: false)
                    continue
                }
            case .sourcePorts(let r, false):
                if let i = out.firstIndex(where: { if case .sourcePorts(_, false) = $0 { true } else { false } }),
                   case .sourcePorts(let q, false) = out[i] {
                    let both = intersect(q, r)
                    if both.isEmpty { return nil }
                    out[i] = .sourcePorts(both, negated: false)
                    continue
                }
            case .fragment(let f):
                if out.contains(.fragment(!f)) { return nil }
            default:
                break
            }
            out.append(a)
        }
        return finish(out)
    }

    /// Ports in both lists, as ranges.
    static func intersect(_ a: [ClosedRange<UInt16>], _ b: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>] {
        var out: [ClosedRange<UInt16>] = []
        for x in a {
            for y in b {
                let lo = max(x.lowerBound, y.lowerBound), hi = min(x.upperBound, y.upperBound)
                if lo <= hi && !out.contains(lo...hi) { out.append(lo...hi) }
            }
        }
        return out
    }

    static func finish(_ atoms: [Atom]) -> [Atom] {
        var out = atoms
        // A port test already excludes non-first fragments in the XDP program.
        let hasPorts = out.contains { if case .sourcePorts = $0 { true } else if case .destinationPorts = $0 { true } else if case .eitherPorts = $0 { true } else { false } }
        if hasPorts { out.removeAll { $0 == .fragment(false) } }
        return out
    }
}
