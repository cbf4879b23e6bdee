import Compiler
import Foundation
import IptParse
import Loader

/// Live edits that touch only the entries they must, so that their cost does not grow with
/// the size of the whitelists: one member added to or deleted from a hash:ip/hash:net set,
/// one rule appended to INPUT. Anything else (or anything these cannot prove exact) returns
/// `false` and takes the whole path: recompile, write the idle generation, flip.
///
/// The trick for sets: positions depend on the rules only, never on set members. Compiling
/// the rules with the set holding one sentinel address says where a member's entries go
/// (which table, protocol and port) and with which position; the live maps say what the
/// member's address already gets from other rules; the entry is the smaller of the two.
enum LiveFastPath {
    /// Class E: never a real source (the program passes martians before any lookup, and
    /// no rule of a compiled ruleset can name it without the sentinel colliding: checked).
    static let sentinel: UInt32 = 0xF0FF_FF01

    enum SetEdit { case add, del }

    /// `ebpf-ipset add|del SET ADDR` for a single IPv4 address. Returns nil when the fast
    /// path does not apply; else the ipset-style error (empty when it worked).
    static func setMember(_ edit: SetEdit, set: String, member: String, exist: Bool, store: StateStore) throws -> String? {
        guard let address = parseDotted(member) else { return nil }
        let journal = SetsJournal(store: store)
        // One pass over the snapshot gives the set definitions and the member's line.
        let scan = journal.scan(lookingFor: "add \(set) \(member)", countMembersOf: set)
        let headers = try IpsetParser.parse(scan.creates, file: journal.snapshotPath)
        guard let create = headers[set]?.create, [.hashIP, .hashNet].contains(create.type), create.family == .inet,
              create.timeout == nil, !create.counters, !create.comment, !create.skbinfo, create.netmask == nil || create.netmask == 32
        else { return nil }
        let present = journal.journalSays(set: set, member: member) ?? scan.found
        // A full set answers with the kernel's own error: the whole path words it.
        if edit == .add, !present, scan.members + journal.journalNetAdds(set: set) + 1 > Int(create.maxelem ?? 65536) { return nil }
        switch (edit, present) {
        case (.add, true): return exist ? "" : "Element cannot be added to the set: it's already added"
        case (.del, false): return exist ? "" : "Element cannot be deleted from the set: it's not added"
        default: break
        }
        if store.attachment != nil, let rulesText = store.read(store.paths.rulesFile) {
            let rules = try RestoreParser.parse(rulesText, options: .init(file: store.paths.rulesFile))
            guard try applySetEdit(edit, set: set, address: address, member: member, rules: rules, headers: headers, journal: journal, store: store) else { return nil }
        }
        try journal.append("\(edit == .add ? "add" : "del") \(set) \(member)")
        return ""
    }

    /// The data-plane part of a member edit. false: not provably exact this way.
    /// `member` is `address` as ipset spells it (parseDotted took only that spelling).
    private static func applySetEdit(_ edit: SetEdit, set: String, address: UInt32, member: String, rules: Ruleset,
                                     headers: IpsetScript, journal: SetsJournal, store: StateStore) throws -> Bool {
        guard let a = store.attachment else { return true }
        let options = store.compileOptions
        func compile(sentinelIn names: Set<String>) -> CompileResult {
            var sets = headers
            for i in sets.sets.indices where names.contains(sets.sets[i].name) {
                sets.sets[i].entries = [IpsetEntry(elements: [.address(IpsetAddress(ipv4: sentinel))],
                                                   location: sets.sets[i].create.location)]
            }
            return Compiler.compile(rules, sets: sets, interface: a.interface, options: options)
        }
        let with = compile(sentinelIn: [set])
        // The sentinel must be ours alone: no rule may name it.
        guard with.installable, keys(of: compile(sentinelIn: []).tables, at: sentinel).isEmpty else { return false }
        let bindings = keys(of: with.tables, at: sentinel)
        if bindings.isEmpty { return true } // no rule uses the set (or only where it never matches)
        // A negated use stores "no rule" for members: their entries depend on other rules in
        // ways one lookup cannot tell.
        guard bindings.allSatisfy({ $0.1 != UInt32.max }) else { return false }
        let dp = try Dataplane.open(pinnedAt: store.paths.pinRoot)
        var writes: [(LiveKey, UInt32?, UInt32)] = [] // key, new value, order
        switch edit {
        case .add:
            for (k, v) in bindings {
                let key = k.replacingSource(address)
                // Only where the member's rule comes first does anything change; an entry equal
                // to what the tries already answer would change nothing.
                if v < (try dp.liveLookup(key) ?? .max) { writes.append((key, v, v)) }
            }
            // Lowest first: a packet sees its new best entry only once it is there.
            writes.sort { $0.2 < $1.2 }
        case .del:
            // What the address gets without this set: other sets holding it, rules naming it.
            var others: Set<String> = []
            for s in headers.sets where s.name != set && journal.contains(set: s.name, member: member) { others.insert(s.name) }
            let without = compile(sentinelIn: others)
            for (k, _) in bindings {
                let key = k.replacingSource(address)
                var best = try dp.liveCovering(key) ?? .max
                if let v = without.tables.value(of: k) { best = min(best, v) }
                if let v = without.tables.value(of: key) { best = min(best, v) }
                let old = try dp.liveHostEntry(key) ?? .max
                writes.append((key, best == .max ? nil : best, old))
            }
            // Highest old value first: a packet's best entry changes only after all above it did.
            writes.sort { $0.2 > $1.2 }
        }
        for (k, v, _) in writes { try dp.liveSet(k, v) }
        return true
    }

    /// `-A INPUT ...` when the rule lands after every other position: the new rule can only
    /// decide packets nothing decided before, so its entries go in wherever no entry
    /// answers yet, and one word (its verdict) turns it on. false: take the whole path.
    static func appendToInput(old: Ruleset, new: Ruleset, headers: IpsetScript, store: StateStore) throws -> Bool {
        // Before the first restore the program passes everything: the whole path installs it.
        guard let a = store.attachment, FileManager.default.fileExists(atPath: store.paths.rulesFile), !store.liveHasHoles
        else { return false }
        guard let oldFilter = old.table("filter"), let newFilter = new.table("filter"),
              let oldInput = oldFilter.chain("INPUT"), let newInput = newFilter.chain("INPUT"),
              newInput.rules.count == oldInput.rules.count + 1, Array(newInput.rules.dropLast()) == oldInput.rules,
              let rule = newInput.rules.last
        else { return false }
        var rest = new
        rest.tables = new.tables.map { t in
            guard t.name == "filter" else { return t }
            var f = t
            if let i = f.chains.firstIndex(where: { $0.name == "INPUT" }) { f.chains[i].rules.removeLast() }
            return f
        }
        guard rest == old else { return false }
        // Set members would each need an entry: that is the whole path's job.
        if rule.matches.contains(where: { if case .set = $0 { true } else { false } }) { return false }
        let options = store.compileOptions
        let before = Compiler.compile(old, sets: headers, interface: a.interface, options: options)
        let after = Compiler.compile(new, sets: headers, interface: a.interface, options: options)
        guard after.installable, before.tables.verdicts.count + 1 == after.tables.verdicts.count,
              Array(after.tables.verdicts.dropLast()) == before.tables.verdicts, after.tables.policy == before.tables.policy,
              Array(after.tables.fallback.prefix(before.tables.fallback.count)) == before.tables.fallback,
              let verdict = after.tables.verdicts.last
        else { return false }
        let pos = UInt32(before.tables.verdicts.count)
        let dp = try Dataplane.open(pinnedAt: store.paths.pinRoot)
        var entries: [(LiveKey, UInt32)] = []
        for (k, v) in after.tables.liveEntries() {
            let was = before.tables.value(of: k)
            if was == v { continue }
            // Only the new position may appear; a changed older entry means more than an append.
            guard v == pos, was == nil else { return false }
            // Where an entry answers already, it names an earlier rule: the new one adds nothing there.
            if try dp.liveLookup(k) == nil { entries.append((k, v)) }
        }
        if after.tables.needsConntrack && !before.tables.needsConntrack { try ConntrackKeeper.ensure() }
        try dp.liveAppend(verdict: verdict, entries: entries, fallback: Array(after.tables.fallback.dropFirst(before.tables.fallback.count)),
                          catchAll: after.tables.catchAll == pos ? pos : nil, needsConntrack: after.tables.needsConntrack)
        try store.write(SavePrinter.save(new), to: store.paths.rulesFile)
        return true
    }

    /// Keyed entries whose source is exactly `address`/32.
    static func keys(of t: CompiledTables, at address: UInt32) -> [(LiveKey, UInt32)] {
        let host = CompiledTables.Prefix(address: address, length: 32)
        var out: [(LiveKey, UInt32)] = []
        if let v = t.source[host] { out.append((.source(host), v)) }
        for (k, v) in t.sourceProtoPort where k.source == host { out.append((.sourceProtoPort(k), v)) }
        return out
    }

    static func parseDotted(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p), String(b) == p else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }
}

extension LiveKey {
    func replacingSource(_ address: UInt32) -> LiveKey {
        let host = CompiledTables.Prefix(address: address, length: 32)
        switch self {
        case .source: return .source(host)
        case .sourceProtoPort(let k): return .sourceProtoPort(CompiledTables.SourceProtoPort(source: host, protoPort: k.protoPort))
        case .protoPort: return self
        }
    }
}

extension CompiledTables {
    /// Every keyed entry as the live maps hold it.
    func liveEntries() -> [(LiveKey, UInt32)] {
        protoPort.map { (.protoPort($0.key), $0.value) } + source.map { (.source($0.key), $0.value) }
            + sourceProtoPort.map { (.sourceProtoPort($0.key), $0.value) }
    }

    func value(of key: LiveKey) -> UInt32? {
        switch key {
        case .protoPort(let k): protoPort[k]
        case .source(let k): source[k]
        case .sourceProtoPort(let k): sourceProtoPort[k]
        }
    }

    /// Whether some entry stores "no rule" (an ipset nomatch or a negated prefix or set).
    var hasHoles: Bool { source.values.contains(.max) || sourceProtoPort.values.contains(.max) }
}
