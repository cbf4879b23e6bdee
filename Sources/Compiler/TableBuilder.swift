import IptParse

/// Puts each position where the XDP program will find it: a keyed table when its tests
/// are only a source (prefix or set), a protocol and destination ports; the fallback list
/// otherwise.
///
/// A position whose tests cannot be laid out (a negated port list, too many alternatives,
/// a set with other tests) becomes a `KERNEL` position over the tests that can: a subset
/// of a conjunction holds for every packet the whole does. When the program would run out
/// of room (fallback list, positions), the first position that does not fit becomes a
/// `KERNEL` catch-all and nothing after it is written: every packet that gets that far
/// goes to the kernel.
struct TableBuilder {
    static let maxExpandedPorts = 1024

    let sets: [String: IpsetSet]
    var tables = CompiledTables()
    /// The positions as written: verdicts and kernel reasons updated, cut at capacity.
    var flat: [FlatRule] = []
    /// How each position was placed; absent for positions no packet can match.
    var placements: [Int: XDPPlacement] = [:]
    /// Positions whose tests contradict each other.
    var neverMatching: Set<Int> = []
    /// The position where the capacity cut happened.
    var cut: Int?

    init(sets: [String: IpsetSet]) { self.sets = sets }

    /// Where one position's entries go, before they are written.
    enum Layout {
        case catchAll
        case keyed(Keyed)
        case fallback([CompiledTables.FallbackRule])
    }

    mutating func build(_ input: [FlatRule], policy: CompiledTables.Verdict,
                        maxFallback: Int = Int(Compiler.maxFallback), maxRules: Int = Int(Compiler.maxRules)) {
        flat = input
        tables.policy = policy
        var sourceTests: [(position: UInt32, test: SourceTest)] = []
        var groupTests: [CompiledTables.ProtoPort: [(position: UInt32, test: SourceTest)]] = [:]
        var i = 0
        while i < flat.count {
            let pos = UInt32(i)
            // The last position the program holds is the cut when more follow.
            if i == maxRules - 1 && flat.count > maxRules {
                cutHere(i, .positions(limit: maxRules))
                break
            }
            // Each alternative is laid out on its own at this position (`FlatRule.alternatives`).
            let alternatives = flat[i].alternatives.compactMap(AtomNormalization.normalize)
            guard !alternatives.isEmpty else {
                neverMatching.insert(i)
                i += 1
                continue
            }
            var layouts: [Layout] = []
            for atoms in alternatives {
                do {
                    layouts.append(try self.layout(atoms, position: pos, fallbackOnly: flat[i].verdict.continues))
                } catch {
                    if flat[i].verdict != .kernel {
                        flat[i].verdict = .kernel
                        flat[i].continues = nil
                        flat[i].kernelReason = .unsupportedTests([error])
                        flat[i].isPolicy = false
                        flat[i].rejectAsDrop = false
                    }
                    // A subset of a conjunction holds for every packet the whole does, so
                    // the union of the widened alternatives holds for every packet the
                    // position may match.
                    layouts.append(approximate(atoms, position: pos))
                }
            }
            let fallbackEntries = layouts.reduce(0) { n, l in if case .fallback(let e) = l { n + e.count } else { n } }
            if fallbackEntries > 0, tables.fallback.count + fallbackEntries > maxFallback {
                cutHere(i, .fallback(limit: maxFallback))
                break
            }
            var placed: [XDPPlacement] = []
            for layout in layouts { placed.append(write(layout, position: pos, sourceTests: &sourceTests, groupTests: &groupTests)) }
            placements[i] = Self.combine(placed)
            i += 1
        }
        tables.verdicts = flat.map(\.verdict)
        for (i, f) in flat.enumerated() where f.verdict == .reject {
            if let r = f.reject { tables.rejectReplies[UInt32(i)] = r }
        }
        tables.source = SourcePrefixes.resolve(sourceTests)
        for (pp, tests) in groupTests {
            let resolved = SourcePrefixes.resolve(tests)
            tables.sourceProtoPort.reserveCapacity(tables.sourceProtoPort.count + resolved.count)
            for (prefix, pos) in resolved {
                tables.sourceProtoPort[CompiledTables.SourceProtoPort(source: prefix, protoPort: pp)] = pos
            }
        }
    }

    /// Writes one alternative's entries; how they were placed.
    private mutating func write(_ layout: Layout, position pos: UInt32,
                                sourceTests: inout [(position: UInt32, test: SourceTest)],
                                groupTests: inout [CompiledTables.ProtoPort: [(position: UInt32, test: SourceTest)]]) -> XDPPlacement {
        switch layout {
        case .catchAll:
            tables.catchAll = min(tables.catchAll ?? pos, pos)
            return .keyed(.catchAll, entries: 1)
        case .keyed(let k):
            let source = k.source.isEmpty ? nil : sourceTest(k.source)
            switch (source, k.proto) {
            case (nil, let p?):
                for pp in k.ports(p) { tables.protoPort[pp] = min(tables.protoPort[pp] ?? pos, pos) }
                return .keyed(.protocolPort, entries: k.ports(p).count)
            case (let s?, nil):
                sourceTests.append((pos, s))
                return .keyed(.sourcePrefix, entries: s.entries.count)
            case (let s?, let p?):
                for pp in k.ports(p) { groupTests[pp, default: []].append((pos, s)) }
                return .keyed(.sourceProtocolPort, entries: s.entries.count * k.ports(p).count)
            case (nil, nil):
                tables.catchAll = min(tables.catchAll ?? pos, pos)
                return .keyed(.catchAll, entries: 1)
            }
        case .fallback(let entries):
            tables.fallback.append(contentsOf: entries)
            if entries.contains(where: { e in e.conntrack != nil || e.ext.contains { if case .conntrack = $0 { true } else { false } } }) {
                tables.needsConntrack = true
                return .conntrackLookup(fallbackEntries: entries.count)
            }
            return .fallback(entries: entries.count)
        }
    }

    /// One placement for a position from its alternatives' (one alternative: its own). The
    /// most general place an alternative went names it (a conntrack lookup, then the
    /// fallback list, then the keyed tables in order), with the entries of all of them.
    static func combine(_ placed: [XDPPlacement]) -> XDPPlacement {
        guard placed.count > 1 else { return placed.first ?? .keyed(.catchAll, entries: 1) }
        let total = placed.reduce(0) { n, p in
            switch p {
            case .keyed(_, let e), .fallback(let e), .conntrackLookup(let e): n + e
            default: n
            }
        }
        if placed.contains(where: { if case .conntrackLookup = $0 { true } else { false } }) { return .conntrackLookup(fallbackEntries: total) }
        if placed.contains(where: { if case .fallback = $0 { true } else { false } }) { return .fallback(entries: total) }
        let tables = placed.compactMap { p -> KeyedTableOrder? in if case .keyed(let t, _) = p { KeyedTableOrder(t) } else { nil } }
        return .keyed(tables.max()?.table ?? .catchAll, entries: total)
    }

    /// The keyed tables from the least specific key to the most.
    private struct KeyedTableOrder: Comparable {
        let table: XDPPlacement.KeyedTable
        init(_ t: XDPPlacement.KeyedTable) { table = t }
        var rank: Int {
            switch table {
            case .catchAll: 0
            case .protocolPort: 1
            case .sourcePrefix: 2
            case .sourceProtocolPort: 3
            }
        }
        static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
    }

    private mutating func cutHere(_ i: Int, _ why: KernelReason.Capacity) {
        cut = i
        flat[i].verdict = .kernel
        flat[i].continues = nil
        flat[i].kernelReason = .capacity(why)
        flat[i].isPolicy = false
        flat[i].rejectAsDrop = false
        flat.removeSubrange((i + 1)...)
        let pos = UInt32(i)
        tables.catchAll = min(tables.catchAll ?? pos, pos)
        placements[i] = .keyed(.catchAll, entries: 1)
    }

    /// `fallbackOnly`: a CONTINUE position, which the judge must meet in its scan (a keyed
    /// table answers one smallest position, which must decide): fallback entries, even
    /// for no test at all (an entry without tests).
    func layout(_ atoms: [Atom], position: UInt32, fallbackOnly: Bool = false) throws(UnsupportedTest) -> Layout {
        if fallbackOnly { return .fallback(try FallbackLowering.lower(atoms, position: position, setMembers: smallSet)) }
        if atoms.isEmpty { return .catchAll }
        if let k = keyed(atoms) { return .keyed(k) }
        return .fallback(try FallbackLowering.lower(atoms, position: position, setMembers: smallSet))
    }

    /// The largest prefix of tests (greedily, in order) that can be laid out. Never fails:
    /// no test at all is a catch-all.
    func approximate(_ atoms: [Atom], position: UInt32) -> Layout {
        var kept: [Atom] = []
        for a in atoms where (try? layout(kept + [a], position: position)) != nil { kept.append(a) }
        return (try? layout(kept, position: position)) ?? .catchAll
    }

    /// The members of a set small enough to spell out in fallback entries, when it has
    /// no nomatch members (an exception cannot be an alternative).
    func smallSet(_ name: String) -> [CompiledTables.Prefix]? {
        guard let set = sets[name], set.entries.count <= FallbackLowering.maxEntriesPerRule else { return nil }
        let members = SourcePrefixes.members(of: set)
        guard members.count == set.entries.count, members.allSatisfy(\.1) else { return nil }
        return members.map(\.0)
    }

    struct Keyed {
        /// Source tests in order: a prefix, or a set by name (members are read when written).
        var source: [Atom] = []
        var proto: UInt8?
        var dports: [ClosedRange<UInt16>]?

        func ports(_ p: UInt8) -> [CompiledTables.ProtoPort] {
            guard let dports else { return [CompiledTables.ProtoPort(proto: p, port: nil)] }
            return dports.flatMap { r in r.map { CompiledTables.ProtoPort(proto: p, port: $0) } }
        }
    }

    func sourceTest(_ atoms: [Atom]) -> SourceTest? {
        var out: SourceTest?
        for a in atoms {
            let t: SourceTest
            switch a {
            case .source(let p, let n):
                t = SourceTest(entries: [(p, !n)], defaultMatch: n)
            case .sourceSet(let name, let n):
                let members = sets[name].map { SourcePrefixes.members(of: $0).map { ($0.0, $0.1 != n) } } ?? []
                t = SourceTest(entries: members, defaultMatch: n)
            default:
                continue
            }
            out = out.map { $0.and(t) } ?? t
        }
        return out
    }

    /// The rule's tests as keyed-table entries, or nil when it needs the fallback.
    func keyed(_ atoms: [Atom]) -> Keyed? {
        var k = Keyed()
        for a in atoms {
            switch a {
            case .source:
                k.source.append(a)
            case .sourceSet(let name, _):
                guard sets[name] != nil else { return nil }
                k.source.append(a)
            case .proto(let p, false):
                guard k.proto == nil, p != 0 else { return nil }
                k.proto = p
            case .destinationPorts(let r, false):
                guard k.dports == nil, [6, 17, 132, 136, 33].contains(k.proto ?? 0) else { return nil }
                guard r.reduce(0, { $0 + $1.count }) <= Self.maxExpandedPorts else { return nil }
                k.dports = r
            default:
                return nil
            }
        }
        // Ports are only known after the protocol; proto must come first in the atoms.
        if k.dports != nil && k.proto == nil { return nil }
        return k
    }
}
