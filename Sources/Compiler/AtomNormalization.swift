import IptParse

/// Inlining a jump conjoins the caller's tests with the callee's, which can repeat a
/// test (`-p udp` on both), narrow it (`--dport 5060` then `--dport 5060:5070`) or make
/// one redundant (`-p tcp` then `! -p udp`). Those are merged here so that, where one
/// test can say both, each kind of test appears once (a fallback entry holds one of each);
/// a conjunction that no packet satisfies is reported as such instead.
enum AtomNormalization {
    /// nil: no packet can match.
    static func normalize(_ atoms: [Atom]) -> [Atom]? {
        // An empty port list (a reversed udp range, AtomLowering.portTest) holds no packet.
        if atoms.contains(where: { $0 == .sourcePorts([], negated: false) || $0 == .destinationPorts([], negated: false) }) { return nil }
        var out: [Atom] = []
        for a in atoms where !out.contains(a) { out.append(a) }
        var merged = true
        while merged {
            merged = false
            search: for i in out.indices {
                for j in out.indices where j > i {
                    switch merge(out[i], out[j]) {
                    case .both:
                        continue
                    case .none:
                        return nil
                    case .one(let m):
                        out[i] = m
                        out.remove(at: j)
                        merged = true
                        break search
                    }
                }
            }
        }
        return finish(out)
    }

    enum Merge {
        /// Both tests are needed.
        case both
        /// No packet passes both.
        case none
        /// This one test says both.
        case one(Atom)
    }

    /// The states a packet can be in; every packet is in exactly one, so `! S` is the rest.
    static let allStates: ConntrackStates = [.invalid, .new, .related, .established, .untracked]

    static func merge(_ x: Atom, _ y: Atom) -> Merge {
        switch (x, y) {
        case (.proto(let p, false), .proto(let q, false)):
            return p == q ? .one(x) : .none
        case (.proto(let p, false), .proto(let q, true)), (.proto(let q, true), .proto(let p, false)):
            return p == q ? .none : .one(.proto(p, negated: false))
        case (.source(let p, let n), .source(let q, let m)):
            return prefixes(p, n, q, m).map { $0.map { .source($0.0, negated: $0.1) } } ?? .both
        case (.destination(let p, let n), .destination(let q, let m)):
            return prefixes(p, n, q, m).map { $0.map { .destination($0.0, negated: $0.1) } } ?? .both
        case (.destinationPorts(let r, false), .destinationPorts(let s, false)):
            let both = intersect(r, s)
            return both.isEmpty ? .none : .one(.destinationPorts(both, negated: false))
        case (.sourcePorts(let r, false), .sourcePorts(let s, false)):
            let both = intersect(r, s)
            return both.isEmpty ? .none : .one(.sourcePorts(both, negated: false))
        case (.destinationPorts(let r, false), .destinationPorts(let s, true)) where s.count == 1,
             (.destinationPorts(let s, true), .destinationPorts(let r, false)) where s.count == 1:
            let rest = subtract(r, s[0])
            return rest.isEmpty ? .none : .one(.destinationPorts(rest, negated: false))
        case (.sourcePorts(let r, false), .sourcePorts(let s, true)) where s.count == 1,
             (.sourcePorts(let s, true), .sourcePorts(let r, false)) where s.count == 1:
            let rest = subtract(r, s[0])
            return rest.isEmpty ? .none : .one(.sourcePorts(rest, negated: false))
        // Two negated port tests (the packets staying after two RETURNs): the ports in
        // neither, as a list. Both forms are false without a port header (xt_tcp/xt_udp
        // hotdrop such a packet), so they are the same test.
        case (.destinationPorts(let r, true), .destinationPorts(let s, true)):
            return complement(r + s).map { $0.isEmpty ? .none : .one(.destinationPorts($0, negated: false)) } ?? .both
        case (.sourcePorts(let r, true), .sourcePorts(let s, true)):
            return complement(r + s).map { $0.isEmpty ? .none : .one(.sourcePorts($0, negated: false)) } ?? .both
        case (.conntrack(let s, let n), .conntrack(let t, let m)):
            let both = (n ? allStates.subtracting(s) : s).intersection(m ? allStates.subtracting(t) : t)
            return both.isEmpty ? .none : .one(.conntrack(both, negated: false))
        case (.fragment(let f), .fragment(let g)):
            return f == g ? .one(x) : .none
        default:
            return .both
        }
    }

    /// Two tests on one address as one, when one can say both. nil: both are needed.
    static func prefixes(_ p: CompiledTables.Prefix, _ n: Bool, _ q: CompiledTables.Prefix, _ m: Bool)
        -> Merge? {
        let disjoint = !p.contains(q) && !q.contains(p)
        switch (n, m) {
        case (false, false):
            if disjoint { return Merge.none }
            return .one(.source(p.contains(q) ? q : p, negated: false))
        case (false, true), (true, false):
            let (pos, neg) = n ? (q, p) : (p, q)
            if neg.contains(pos) { return Merge.none }
            if disjoint { return .one(.source(pos, negated: false)) }
            return nil // a hole inside the prefix: two tests
        case (true, true):
            if p.contains(q) { return .one(.source(p, negated: true)) }
            if q.contains(p) { return .one(.source(q, negated: true)) }
            return nil
        }
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

    /// Ports in `a` outside `hole`, as ranges.
    static func subtract(_ a: [ClosedRange<UInt16>], _ hole: ClosedRange<UInt16>) -> [ClosedRange<UInt16>] {
        var out: [ClosedRange<UInt16>] = []
        for x in a {
            if x.lowerBound < hole.lowerBound { out.append(x.lowerBound...min(x.upperBound, hole.lowerBound - 1)) }
            if x.upperBound > hole.upperBound { out.append(max(x.lowerBound, hole.upperBound + 1)...x.upperBound) }
        }
        return out
    }

    /// Ports outside `ranges`, as at most `maxComplementRanges` ranges; nil when more.
    static func complement(_ ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>]? {
        var out: [ClosedRange<UInt16>] = []
        var next = 0
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if Int(r.lowerBound) > next { out.append(UInt16(next)...(r.lowerBound - 1)) }
            next = max(next, Int(r.upperBound) + 1)
        }
        if next <= 65535 { out.append(UInt16(next)...65535) }
        return out.count <= maxComplementRanges ? out : nil
    }

    /// A negated list becomes this many fallback entries at most (FallbackLowering forks them).
    static let maxComplementRanges = 8

    static func finish(_ atoms: [Atom]) -> [Atom] {
        var out = atoms.map { a -> Atom in
            // A negated list of several ranges is no one entry; the ports outside it are
            // several (`! --dports 22,80` = 0:21, 23:79, 81:65535), with the same answer
            // for a packet without ports (false).
            switch a {
            case .destinationPorts(let r, true) where r.count > 1:
                return complement(r).flatMap { $0.isEmpty ? nil : .destinationPorts($0, negated: false) } ?? a
            case .sourcePorts(let r, true) where r.count > 1:
                return complement(r).flatMap { $0.isEmpty ? nil : .sourcePorts($0, negated: false) } ?? a
            default:
                return a
            }
        }
        // A port test already excludes non-first fragments in the XDP program.
        let hasPorts = out.contains { if case .sourcePorts = $0 { true } else if case .destinationPorts = $0 { true } else if case .eitherPorts = $0 { true } else { false } }
        if hasPorts { out.removeAll { $0 == .fragment(false) } }
        return out
    }
}

extension AtomNormalization.Merge {
    /// The merged test rebuilt for another address field (`prefixes` speaks of sources).
    func map(_ f: ((CompiledTables.Prefix, Bool)) -> Atom) -> AtomNormalization.Merge {
        guard case .one(.source(let p, let n)) = self else { return self }
        return .one(f((p, n)))
    }
}
