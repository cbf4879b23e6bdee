import IptParse

/// Puts each flattened rule where the XDP program will find it: a keyed table when its
/// tests are only a source (prefix or set), a protocol and destination ports; the
/// fallback list otherwise.
struct TableBuilder {
    static let maxExpandedPorts = 1024

    let sets: [String: IpsetSet]
    var tables = CompiledTables()
    var placements: [Int: RuleStatus] = [:]

    init(sets: [String: IpsetSet]) { self.sets = sets }

    mutating func build(_ flat: [FlatRule], policy: CompiledTables.Verdict) {
        tables.policy = policy
        tables.verdicts = flat.map(\.verdict)
        var sourceTests: [(position: UInt32, test: SourceTest)] = []
        var groupTests: [CompiledTables.ProtoPort: [(position: UInt32, test: SourceTest)]] = [:]
        for (i, original) in flat.enumerated() {
            let pos = UInt32(i)
            guard let atoms = AtomNormalization.normalize(original.atoms) else {
                placements[i] = .neverMatches("its tests contradict each other (after inlining the chains that lead to it)")
                continue
            }
            let rule = FlatRule(atoms: atoms, verdict: original.verdict, origin: original.origin)
            if rule.atoms.isEmpty {
                tables.catchAll = min(tables.catchAll ?? pos, pos)
                placements[i] = .keyed(table: "catch-all", entries: 1)
                continue
            }
            if let k = keyed(rule.atoms) {
                switch (k.source, k.proto) {
                case (nil, let p?):
                    for pp in k.ports(p) { tables.protoPort[pp] = min(tables.protoPort[pp] ?? pos, pos) }
                    placements[i] = .keyed(table: "protocol/port", entries: k.ports(p).count)
                case (let s?, nil):
                    sourceTests.append((pos, s))
                    placements[i] = .keyed(table: "source prefix", entries: s.entries.count)
                case (let s?, let p?):
                    for pp in k.ports(p) { groupTests[pp, default: []].append((pos, s)) }
                    placements[i] = .keyed(table: "source/protocol/port", entries: s.entries.count * k.ports(p).count)
                case (nil, nil):
                    break
                }
                continue
            }
            do {
                let entries = try FallbackLowering.lower(rule.atoms, position: pos)
                tables.fallback.append(contentsOf: entries)
                if entries.contains(where: { $0.conntrack != nil }) {
                    tables.needsConntrack = true
                    placements[i] = .emulated("conntrack state looked up in the kernel's table (bpf_xdp_ct_lookup); \(entries.count) fallback entr\(entries.count == 1 ? "y" : "ies")")
                } else {
                    placements[i] = .fallback(entries: entries.count)
                }
            } catch {
                placements[i] = .unsupported(error.reason, advice: error.advice)
            }
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

    struct Keyed {
        var source: SourceTest?
        var proto: UInt8?
        var dports: [ClosedRange<UInt16>]?

        func ports(_ p: UInt8) -> [CompiledTables.ProtoPort] {
            guard let dports else { return [CompiledTables.ProtoPort(proto: p, port: nil)] }
            return dports.flatMap { r in r.map { CompiledTables.ProtoPort(proto: p, port: $0) } }
        }
    }

    /// The rule's tests as keyed-table entries, or nil when it needs the fallback.
    func keyed(_ atoms: [Atom]) -> Keyed? {
        var k = Keyed()
        for a in atoms {
            switch a {
            case .source(let p, let n):
                let t = SourceTest(entries: [(p, !n)], defaultMatch: n)
                k.source = k.source.map { $0.and(t) } ?? t
            case .sourceSet(let name, let n):
                guard let set = sets[name] else { return nil }
                let members = SourcePrefixes.members(of: set).map { ($0.0, $0.1 != n) }
                let t = SourceTest(entries: members, defaultMatch: n)
                k.source = k.source.map { $0.and(t) } ?? t
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
