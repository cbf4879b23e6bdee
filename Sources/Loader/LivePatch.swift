import CLibbpf
import Compiler
import Glibc

/// One keyed entry of the live generation, as the program looks it up.
public enum LiveKey: Hashable, Sendable {
    case protoPort(CompiledTables.ProtoPort)
    case source(CompiledTables.Prefix)
    case sourceProtoPort(CompiledTables.SourceProtoPort)
}

/// Small edits of the generation packets are judged by, for live commands that must not
/// rewrite a whole generation (one whitelist member, one rule appended to INPUT). Each
/// write is one map update, and the callers order them so that every packet sees either
/// the old or the new ruleset (see LiveCommit): no write here leaves an entry that means
/// something neither ruleset says.
extension Dataplane {
    /// The position the program finds for `key` now: a /32 through its hash table, then
    /// (as the program does when the hash misses) the longest stored prefix containing it.
    /// nil: nothing matches (or a stored "no rule" exception).
    public func liveLookup(_ key: LiveKey) throws(LoaderError) -> UInt32? {
        let g = try liveGeneration()
        if isHost(key), let v = try exactHost(key, generation: g) { return v < EIPT_MAX_RULES ? v : nil }
        return try covering(key, generation: g)
    }

    /// The stored value of a /32 in its hash table, if any (EIPT_NO_RULE included).
    public func liveHostEntry(_ key: LiveKey) throws(LoaderError) -> UInt32? {
        try exactHost(key, generation: try liveGeneration())
    }

    /// What the tries say for `key` without its own /32 hash entry: the value a host
    /// falls back to once its entry is removed.
    public func liveCovering(_ key: LiveKey) throws(LoaderError) -> UInt32? {
        try covering(key, generation: try liveGeneration())
    }

    /// Writes `value` for `key` in the live generation (a /32 into its hash table); nil
    /// removes the entry.
    public func liveSet(_ key: LiveKey, _ value: UInt32?) throws(LoaderError) {
        let g = try liveGeneration()
        if value != nil {
            // The table's bit first, so the program looks there before the entry can matter.
            let bit = TableEncoding.flag(key)
            var config = try map("gen_config").lookup(g, as: eipt_gen_config.self) ?? eipt_gen_config()
            if config.flags & bit == 0 {
                config.flags |= bit
                try map("gen_config").update(g, config)
            }
        }
        switch key {
        case .protoPort(let pp):
            try put(try map(DataplaneNames.map("proto_port", g)), TableEncoding.key(pp), value)
        case .source(let p):
            if p.length == 32 {
                try put(try map(DataplaneNames.map("src_host", g)), TableEncoding.hostKey(p), value)
            } else {
                try put(try map(DataplaneNames.map("src", g)), TableEncoding.key(p), value)
            }
        case .sourceProtoPort(let s):
            if s.source.length == 32 {
                try put(try map(DataplaneNames.map("src_proto_port_host", g)), TableEncoding.hostKey(s), value)
            } else {
                try put(try map(DataplaneNames.map("src_proto_port", g)), TableEncoding.key(s), value)
            }
        }
    }

    private func put<K: BitwiseCopyable>(_ m: MapAccess, _ key: K, _ value: UInt32?) throws(LoaderError) {
        if let value {
            try m.update(key, eipt_pos(pos: value))
            return
        }
        var k = key
        let r = bpf_map_delete_elem(m.fd, &k)
        guard r == 0 || r == -ENOENT else { throw LoaderError.errno("delete from map \(m.name)", r) }
    }

    /// The live generation's size: positions used and fallback entries.
    public func liveShape() throws(LoaderError) -> (ruleCount: UInt32, fallbackCount: UInt32, catchAll: UInt32?, needsConntrack: Bool) {
        let g = try liveGeneration()
        let c = try map("gen_config").lookup(g, as: eipt_gen_config.self) ?? eipt_gen_config()
        return (c.rule_count, c.fallback_count, c.catch_all_pos == EIPT_NO_RULE ? nil : c.catch_all_pos, c.flags & EIPT_GEN_NEEDS_CT != 0)
    }

    /// Appends one position (a rule added at the end of INPUT) to the live generation.
    /// `entries` are its keyed entries (already merged with what is stored), `fallback` its
    /// fallback tests. Order matters, because packets are judged meanwhile:
    /// 1. the new position first answers with the policy's verdict, which is what a packet
    ///    that reaches it gets from the old ruleset (nothing before it matched);
    /// 2. its entries and fallback rows are written (rows beyond fallback_count are unseen);
    /// 3. gen_config grows (rule count, fallback count, catch-all): the policy's counter
    ///    moves one slot up, with its totals;
    /// 4. the position's verdict is written: one word, from then on the new rule decides.
    public func liveAppend(verdict: CompiledTables.Verdict, entries: [(LiveKey, UInt32)],
                           fallback: [CompiledTables.FallbackRule], catchAll: UInt32?, needsConntrack: Bool) throws(LoaderError) {
        let g = try liveGeneration()
        var config = try map("gen_config").lookup(g, as: eipt_gen_config.self) ?? eipt_gen_config()
        let pos = config.rule_count
        let fallbackStart = config.fallback_count
        guard pos + 1 < EIPT_MAX_RULES else { throw LoaderError("append a rule: \(pos + 1) positions, at most \(EIPT_MAX_RULES - 1)") }
        guard config.fallback_count + UInt32(fallback.count) <= Compiler.maxFallback else {
            throw LoaderError("append a rule: the fallback list would exceed \(Compiler.maxFallback) entries")
        }
        let info = try map(DataplaneNames.map("rule_info", g))
        var moved = eipt_rule_info()
        moved.verdict = config.policy
        try info.update(pos, moved)
        for (k, v) in entries { try liveSet(k, v) }
        // Rules with extension tests are never appended live (AppendFastPath rewrites the
        // generation instead): where their ext rows would go is not tracked here.
        guard fallback.allSatisfy(\.ext.isEmpty) else {
            throw LoaderError("append a rule: a rule with extension tests needs the whole generation written")
        }
        let rows = try TableEncoding.fallback(fallback, generation: g).rows
        let fb = try map(DataplaneNames.map("fallback", g))
        for (i, row) in rows.enumerated() { try fb.update(fallbackStart + UInt32(i), row) }
        // liveSet may have set table bits: grow the config as it is now.
        config = try map("gen_config").lookup(g, as: eipt_gen_config.self) ?? config

        // The policy's counter follows it to the next slot; the new position starts at zero.
        let counters = try map(DataplaneNames.map("counters", g))
        let cpus = Dataplane.possibleCPUs
        let policyCounts = try counters.lookupPerCPU(pos, as: eipt_counter.self, cpus: cpus)
        try counters.updatePerCPU(pos + 1, policyCounts)
        config.rule_count = pos + 1
        config.fallback_count = fallbackStart + UInt32(rows.count)
        if config.catch_all_pos == EIPT_NO_RULE, let catchAll { config.catch_all_pos = catchAll }
        if needsConntrack { config.flags |= EIPT_GEN_NEEDS_CT }
        // The program's shape bits of what was appended (ProgramShape; the program must hold
        // them already, see PinnedXDP.liveAppend, or it passes the generation up whole).
        if !rows.isEmpty { config.flags |= EIPT_GEN_FALLBACK }
        if verdict == .reject { config.flags |= EIPT_GEN_REJECT }
        if verdict == .continueWithoutEntry { config.flags |= EIPT_GEN_NEEDS_CT }
        try map("gen_config").update(g, config)
        try counters.updatePerCPU(pos, [eipt_counter](repeating: eipt_counter(), count: cpus))
        try info.update(pos, TableEncoding.ruleInfo(verdict))
    }

    private func isHost(_ key: LiveKey) -> Bool {
        switch key {
        case .source(let p): return p.length == 32
        case .sourceProtoPort(let s): return s.source.length == 32
        case .protoPort: return false
        }
    }

    private func exactHost(_ key: LiveKey, generation g: UInt32) throws(LoaderError) -> UInt32? {
        switch key {
        case .source(let p):
            guard p.length == 32 else { return nil }
            return try map(DataplaneNames.map("src_host", g)).lookup(TableEncoding.hostKey(p), as: eipt_pos.self)?.pos
        case .sourceProtoPort(let s):
            guard s.source.length == 32 else { return nil }
            return try map(DataplaneNames.map("src_proto_port_host", g)).lookup(TableEncoding.hostKey(s), as: eipt_pos.self)?.pos
        case .protoPort:
            return nil
        }
    }

    private func covering(_ key: LiveKey, generation g: UInt32) throws(LoaderError) -> UInt32? {
        let v: UInt32?
        switch key {
        case .protoPort(let pp):
            v = try map(DataplaneNames.map("proto_port", g)).lookup(TableEncoding.key(pp), as: eipt_pos.self)?.pos
        case .source(let p):
            v = try map(DataplaneNames.map("src", g)).lookup(TableEncoding.key(p), as: eipt_pos.self)?.pos
        case .sourceProtoPort(let s):
            v = try map(DataplaneNames.map("src_proto_port", g)).lookup(TableEncoding.key(s), as: eipt_pos.self)?.pos
        }
        guard let v, v < EIPT_MAX_RULES else { return nil }
        return v
    }
}

extension MapAccess {
    /// Writes one per-CPU value (one element per possible CPU).
    func updatePerCPU<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, _ values: [V]) throws(LoaderError) {
        var k = key
        let r = values.withUnsafeBufferPointer { bpf_map_update_elem(fd, &k, $0.baseAddress, UInt64(BPF_ANY)) }
        guard r == 0 else { throw LoaderError.errno("update map \(name)", r) }
    }
}
