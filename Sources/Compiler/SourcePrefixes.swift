import IptParse

/// Source-address tests for the LPM tables. A rule contributes prefixes with a
/// "matches here" value and a default for addresses under none of them: `-s P`
/// is (P: true, default false), `! -s P` is (P: false, default true), a set is its
/// members (nomatch members: false), and `! --match-set` flips all of it.
struct SourceTest {
    var entries: [(CompiledTables.Prefix, Bool)]
    var defaultMatch: Bool

    /// Whether the test holds for every address of `p`, given that no entry lies strictly inside `p`.
    func value(at p: CompiledTables.Prefix, index: [CompiledTables.Prefix: Bool]) -> Bool {
        var len = Int(p.length)
        while len >= 0 {
            if let v = index[CompiledTables.Prefix(address: p.address, length: UInt8(len))] { return v }
            len -= 1
        }
        return defaultMatch
    }

    /// Both tests at once (`-s 203.0.113.128/25` then a RETURN for `-s 203.0.113.200`): the
    /// value of the conjunction is constant on each prefix of either test, so the union of
    /// their prefixes describes it exactly.
    func and(_ other: SourceTest) -> SourceTest {
        let mine = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.entries, uniquingKeysWith: { a, _ in a })
        let keys = Set(mine.keys).union(theirs.keys)
        let combined = keys.map { k in (k, value(at: k, index: mine) && other.value(at: k, index: theirs)) }
        return SourceTest(entries: combined, defaultMatch: defaultMatch && other.defaultMatch)
    }
}

enum SourcePrefixes {
    /// Every stored prefix gets the best position among the rules that match all of
    /// its addresses. An LPM lookup returns only the longest stored prefix containing
    /// the address, and the prefixes containing an address form a chain, so that value
    /// is exactly the first match for the address. One pass over the prefixes in
    /// (address, length) order keeps the chain of enclosing prefixes on a stack.
    static func resolve(_ tests: [(position: UInt32, test: SourceTest)]) -> [CompiledTables.Prefix: UInt32] {
        // Every (prefix, rule, matches) override as one flat array sorted by prefix, then by
        // the order it was given in: no dictionary of small arrays (a million-member set
        // made a million allocations and as many hash lookups).
        var items: [Override] = []
        items.reserveCapacity(tests.reduce(0) { $0 + $1.test.entries.count } + 1)
        for (i, t) in tests.enumerated() {
            for (p, m) in t.test.entries { items.append(Override(prefix: p, rule: Int32(i), seq: Int32(items.count), matches: m)) }
        }
        let defaults = tests.enumerated().filter { $0.element.test.defaultMatch }.map { ($0.offset, $0.element.position) }
            .sorted { $0.1 < $1.1 }
        let all = CompiledTables.Prefix(address: 0, length: 0)
        if !defaults.isEmpty, !items.contains(where: { $0.prefix == all }) {
            items.append(Override(prefix: all, rule: -1, seq: Int32(items.count), matches: false))
        }
        items.sort { ($0.prefix, $0.seq) < ($1.prefix, $1.seq) }
        var out: [CompiledTables.Prefix: UInt32] = [:]
        out.reserveCapacity(items.count)
        // Each stack level holds the overrides (rule index -> matches) in force there.
        var stack: [(CompiledTables.Prefix, [(Int, Bool)])] = []
        var i = 0
        while i < items.count {
            let k = items[i].prefix
            while let top = stack.last, !top.0.contains(k) { stack.removeLast() }
            var state = stack.last?.1 ?? []
            while i < items.count, items[i].prefix == k {
                let o = items[i]
                i += 1
                guard o.rule >= 0 else { continue }
                let rule = Int(o.rule)
                if let j = state.firstIndex(where: { $0.0 == rule }) { state[j].1 = o.matches } else { state.append((rule, o.matches)) }
            }
            stack.append((k, state))
            var best = UInt32.max
            for (rule, m) in state where m { best = min(best, tests[rule].position) }
            for (rule, pos) in defaults where pos < best {
                if !state.contains(where: { $0.0 == rule }) { best = pos; break }
            }
            out[k] = best
        }
        return out
    }

    /// One rule's word on one prefix.
    struct Override {
        var prefix: CompiledTables.Prefix
        var rule: Int32
        var seq: Int32
        var matches: Bool
    }

    /// Members of a one-dimensional IPv4 set as prefixes with their nomatch flag. A set
    /// with `netmask N` (hash:ip, bitmap:ip) matches the packet's address masked to N, so
    /// each member stands for its /N.
    static func members(of set: IpsetSet) -> [(CompiledTables.Prefix, Bool)] {
        let host = UInt8(min(max(set.create.netmask ?? 32, 0), 32))
        return set.entries.compactMap { e -> (CompiledTables.Prefix, Bool)? in
            switch e.elements.first {
            case .address(let a)?: (CompiledTables.Prefix(address: UInt32(truncatingIfNeeded: a.lo), length: host), !e.nomatch)
            case .prefix(let a, let len)?: (CompiledTables.Prefix(address: UInt32(truncatingIfNeeded: a.lo), length: UInt8(len)), !e.nomatch)
            default: nil
            }
        }
    }
}
