import Compiler
import IptParse
import Loader

/// `ipset add|del SET MEMBER` of one IPv4 address or prefix while XDP runs. A guard passes
/// the member's packets untouched while the kernel's set and XDP's entries change (in any
/// order: nothing XDP decides for other packets moves). For a single address in a hash:ip or
/// hash:net set only the member's own entries are written; anything else is recompiled whole
/// under the same guard.
///
/// Where a member's entries go: positions depend on the rules only, never on members, so
/// compiling the rules with the set holding one sentinel address says which tables, protocols
/// and ports a member's entries take and with which position; the live maps say what the
/// address already gets from other rules; the entry is the smaller of the two.
struct MemberFastPath {
    let firewall: Firewall
    let xdp: XDPLayer
    let attachment: Attachment
    let options: CompileOptions

    /// Class E: never a real source (the program passes martians before any lookup, and no
    /// rule of a compiled ruleset can name it without the sentinel colliding: checked).
    static let sentinel: UInt32 = 0xF0FF_FF01

    enum Edit { case add, del }

    /// nil: not one IPv4 member; the caller takes the whole path.
    func run(_ inv: IpsetInvocation, argv: [String]) throws -> ToolResult? {
        guard inv.command == .add || inv.command == .del, inv.args.count >= 2, inv.file == nil,
              let prefix = Self.prefix(inv.args[1]), try xdp.liveGeneration() != nil else { return nil }
        let setName = inv.args[0]
        let mirror = SetsMirror(store: firewall.store)
        guard let headers = try? mirror.headers(), let create = headers.set(named: setName)?.create, create.family == .inet else { return nil }
        try xdp.setGuard([prefix])
        defer { try? xdp.clearGuard() }
        let r = firewall.kernel.ipset(argv, stdin: nil)
        guard r.ok else {
            // A prefix in a hash:ip set is one element per address: the kernel adds (deletes)
            // them in order, stops at the first it cannot (already added, not added, full) and
            // keeps those before it. Read back what it holds, still under the guard.
            if prefix.length < 32 { try wholeUnderGuard() }
            return r
        }
        // The member as `ipset save` spells it (the kernel's own normal form).
        let script = "\(IpsetPrinter.createLine(create))\n\(inv.command.rawValue) \(inv.args.joined(separator: " "))\n"
        let parsed = try? IpsetParser.parse(script.replacingOccurrences(of: "\ndel ", with: "\nadd "), file: "<argv>")
        guard let entry = parsed?.sets.first?.entries.first, parsed?.sets.first?.entries.count == 1 else {
            try wholeUnderGuard()
            return r
        }
        let member = String(IpsetPrinter.addLine(entry, in: create).split(separator: " ", maxSplits: 2).last ?? "")
        let edit: Edit = inv.command == .add ? .add : .del
        let rulesText = firewall.store.read(firewall.store.paths.kernelRulesFile) ?? ""
        // Members of a set no rule names, or of a set with timeouts (XDP leaves its rules to
        // the kernel), never change what XDP decides.
        let referenced = rulesText.contains("--match-set \(setName) ") || headers.sets.contains { $0.create.type == .listSet }
        if create.timeout != nil || !referenced {
            try mirror.append("\(inv.command.rawValue) \(setName) \(member)")
            return r
        }
        let exact = entry.elements.count == 1 && [.hashIP, .hashNet].contains(create.type) && create.timeout == nil
            && !create.counters && !create.comment && !create.skbinfo && prefix.length == 32 && !entry.nomatch
        // The ruleset is parsed only when a compile is needed (a del, or no record yet).
        let rules = RulesParsedOnce(rulesText)
        if exact, try apply(edit, set: setName, address: prefix.address, member: member, rulesText: rulesText, rules: rules,
                            headers: headers, mirror: mirror) {
            try mirror.append("\(inv.command.rawValue) \(setName) \(member)")
        } else {
            try wholeUnderGuard()
        }
        return r
    }

    /// The kernel changed what the guard covers: recompile from what it holds now.
    func wholeUnderGuard() throws {
        let view = try firewall.readView()
        try firewall.installWhole(xdp: xdp, attachment: attachment, options: options, view: view)
    }

    /// The data-plane part of a single-address edit. false: not provably exact this way.
    private func apply(_ edit: Edit, set: String, address: UInt32, member: String, rulesText: String, rules: RulesParsedOnce,
                       headers: IpsetScript, mirror: SetsMirror) throws -> Bool {
        func compile(_ rules: Ruleset, sentinelIn names: Set<String>) -> CompileResult {
            var sets = headers
            for i in sets.sets.indices where names.contains(sets.sets[i].name) {
                sets.sets[i].entries = [IpsetEntry(elements: [.address(IpsetAddress(ipv4: Self.sentinel))],
                                                   location: sets.sets[i].create.location)]
            }
            return Compiler.compile(rules, sets: sets, interface: attachment.interface, options: options)
        }
        // What a member of the set takes: kept per ruleset (SetBindingsRecord), else compiled.
        let store = firewall.store
        let recordKey = SetBindingsRecord.key(set: set, rulesText: rulesText, creates: mirror.scan(lookingFor: nil).creates,
                                              interface: attachment.interface, options: options,
                                              generation: try xdp.liveGeneration())
        let outcome: SetBindingsRecord.Outcome
        if let kept = SetBindingsRecord.read(store, set: set, key: recordKey) {
            outcome = kept.outcome
        } else {
            guard let rules = rules.ruleset else { return false }
            outcome = Self.outcome(with: compile(rules, sentinelIn: [set]), none: compile(rules, sentinelIn: []))
            SetBindingsRecord(key: recordKey, outcome: outcome).write(store, set: set)
        }
        guard case .bindings(let bindings) = outcome else { return false }
        if bindings.isEmpty { return true } // no rule uses the set where XDP decides
        var writes: [(LiveKey, UInt32?)] = []
        switch edit {
        case .add:
            for b in bindings {
                let key = b.key(address)
                if b.position < (try xdp.liveLookup(key) ?? .max) { writes.append((key, b.position)) }
            }
        case .del:
            guard let rules = rules.ruleset else { return false }
            // What the address gets without this set: other sets holding it, rules naming it.
            var others: Set<String> = []
            for s in headers.sets where s.name != set && mirror.contains(set: s.name, member: member) { others.insert(s.name) }
            let without = compile(rules, sentinelIn: others)
            for b in bindings {
                let k = b.key(Self.sentinel), key = b.key(address)
                var best = try xdp.liveCovering(key) ?? .max
                if let v = without.tables.value(of: k) { best = min(best, v) }
                if let v = without.tables.value(of: key) { best = min(best, v) }
                writes.append((key, best == .max ? nil : best))
            }
        }
        // The guard passes this source meanwhile: the order of the writes does not matter.
        for (k, v) in writes { try xdp.liveSet(k, v) }
        return true
    }

    /// The sentinel's entries with the set holding it (`with`) and with no set holding it
    /// (`none`).
    static func outcome(with: CompileResult, none: CompileResult) -> SetBindingsRecord.Outcome {
        // The sentinel must be ours alone: no rule may name it.
        guard keys(of: none.tables, at: sentinel).isEmpty else { return .inexact }
        let found = keys(of: with.tables, at: sentinel)
        // A negated use stores "no rule" for members: their entries depend on other rules in
        // ways one lookup cannot tell.
        guard found.allSatisfy({ $0.1 != UInt32.max }) else { return .inexact }
        return .bindings(found.map { k, v in
            switch k {
            case .sourceProtoPort(let spp): return SetBindingsRecord.Binding(protoPort: spp.protoPort, position: v)
            default: return SetBindingsRecord.Binding(protoPort: nil, position: v)
            }
        })
    }

    /// Keyed entries whose source is exactly `address`/32.
    static func keys(of t: CompiledTables, at address: UInt32) -> [(LiveKey, UInt32)] {
        let host = CompiledTables.Prefix(address: address, length: 32)
        var out: [(LiveKey, UInt32)] = []
        if let v = t.source[host] { out.append((.source(host), v)) }
        for (k, v) in t.sourceProtoPort where k.source == host { out.append((.sourceProtoPort(k), v)) }
        return out
    }

    /// `a.b.c.d` or `a.b.c.d/n` (nil for anything else: ranges, IPv6, names, port forms).
    static func prefix(_ s: String) -> CompiledTables.Prefix? {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = DottedQuad.parse(parts[0]) else { return nil }
        var len: UInt8 = 32
        if parts.count == 2 {
            guard let l = UInt8(parts[1]), l <= 32, String(l) == parts[1] else { return nil }
            len = l
        }
        return CompiledTables.Prefix(address: a, length: len)
    }
}

/// The kernel's rules text, parsed on first use only (an add with a record needs no parse).
final class RulesParsedOnce {
    let text: String
    lazy var ruleset: Ruleset? = KernelView.rules(text, family: .ipv4).ruleset
    init(_ text: String) { self.text = text }
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
