import Compiler
import IptParse
import Loader

/// `-A INPUT RULE` without rewriting a generation: the new rule lands after every other
/// position, so it can only decide packets that reached the policy before. Its entries go
/// where no entry answers yet and one word (its verdict) turns it on. Which layer changes
/// first follows the direction: XDP first when the rule loosens (it passes what the DROP
/// policy dropped), the kernel first when it tightens.
struct AppendFastPath {
    let firewall: Firewall
    let xdp: XDPLayer
    let attachment: Attachment
    let options: CompileOptions

    /// Whether `line` is an append this path may take (checked before anything is read).
    static func applies(_ line: IptablesCommandLine) -> Bool {
        guard let c = line.command, c.kind == .append, c.table == "filter", c.chain == "INPUT", c.rules.count == 1,
              let rule = c.rules.first else { return false }
        return !rule.matches.contains(where: { if case .set = $0 { true } else { false } })
    }

    /// nil: not an append this path can prove exact; the caller takes the whole path.
    /// `before`: the kernel's rules (as XDP was compiled from them); `headers`: the sets'
    /// definitions without members — where an appended rule's entries go does not depend
    /// on any member, so no set is read back, whatever its size; `holes`: whether some set
    /// has `nomatch` members.
    func run(_ line: IptablesCommandLine, before: (text: String, ruleset: Ruleset?), headers: IpsetScript?, holes: Bool,
             after predicted: Ruleset) throws -> ToolResult? {
        guard Self.applies(line), !options.xdpOnly, let old = before.ruleset, try xdp.liveGeneration() != nil,
              !holes, !Self.mayHaveHoles(old, sets: nil)
        else { return nil }
        let b = Compiler.compile(old, sets: headers, interface: attachment.interface, options: options)
        let a = Compiler.compile(predicted, sets: headers, interface: attachment.interface, options: options)
        guard a.tables.verdicts.count == b.tables.verdicts.count + 1, Array(a.tables.verdicts.dropLast()) == b.tables.verdicts,
              a.tables.policy == b.tables.policy, a.tables.natCheck == b.tables.natCheck,
              Array(a.tables.fallback.prefix(b.tables.fallback.count)) == b.tables.fallback,
              a.tables.fallback.allSatisfy(\.ext.isEmpty),
              let verdict = a.tables.verdicts.last,
              verdict != .reject // its reply is written with the whole generation
        else { return nil }
        let pos = UInt32(b.tables.verdicts.count)
        var entries: [(LiveKey, UInt32)] = []
        for (k, v) in a.tables.liveEntries() {
            let was = b.tables.value(of: k)
            if was == v { continue }
            guard v == pos, was == nil else { return nil }
            if try xdp.liveLookup(k) == nil { entries.append((k, v)) }
        }
        let fallback = Array(a.tables.fallback.dropFirst(b.tables.fallback.count))
        let catchAll = a.tables.catchAll == pos ? pos : nil
        func append() throws {
            try xdp.liveAppend(verdict: verdict, entries: entries, fallback: fallback, catchAll: catchAll,
                               needsConntrack: a.tables.needsConntrack)
        }
        let loosens = b.tables.policy == .drop && verdict != .drop
        let r: ToolResult
        if loosens {
            try append()
            r = firewall.kernel.iptables(.ipv4, line.argv)
        } else {
            r = firewall.kernel.iptables(.ipv4, line.argv)
            if r.ok { try append() }
        }
        let after = try firewall.readRules(.ipv4)
        let expected = KernelText.normalized(SavePrinter.save(predicted))
        if after.text == before.text && !r.ok && !loosens { return r }
        // The kernel may store a rule XDP does not decide in its own words (iptables-nft reads
        // `-m limit` back as `--limit 3/hour`, `! --connlimit-above` as `--connlimit-upto`):
        // when what it holds compiles to the tables just appended, XDP is exact and only the
        // text (the rule's identity for counters) is the kernel's.
        if r.ok, after.text != expected, let actual = after.ruleset,
           Compiler.compile(actual, sets: headers, interface: attachment.interface, options: options).tables == a.tables {
            try firewall.store.write(after.text, to: firewall.store.paths.kernelRulesFile)
            if let id = RuleIdentity.all(in: actual)["filter\tINPUT"]?.last {
                RetiredCounters(store: firewall.store).appendLivePosition([id])
            }
            return r
        }
        if after.text != expected || !r.ok {
            // The kernel did something else (or refused after XDP went first): install what it holds.
            if r.ok { firewall.store.event("prediction mismatch on -A: installed what the kernel holds") }
            try xdp.setPassAll(true)
            let sets = try firewall.readSets()
            let view = KernelView(rulesText: after.text, ruleset: after.ruleset, setsText: sets.text, sets: sets.sets)
            try firewall.installWhole(xdp: xdp, attachment: attachment, options: options, view: view)
            return r
        }
        try firewall.store.write(after.text, to: firewall.store.paths.kernelRulesFile)
        if let id = RuleIdentity.all(in: predicted)["filter\tINPUT"]?.last {
            RetiredCounters(store: firewall.store).appendLivePosition([id])
        }
        return r
    }

    /// Whether the installed tables may store "no rule" exceptions (ipset nomatch members,
    /// negated prefixes or sets): an appended rule's entries then need the whole path.
    static func mayHaveHoles(_ ruleset: Ruleset, sets: IpsetScript?) -> Bool {
        guard let filter = ruleset.table("filter") else { return false }
        for c in filter.chains {
            for r in c.rules {
                if r.source?.negated == true { return true }
                for m in r.matches {
                    if case .set(let s) = m, s.negated { return true }
                }
            }
        }
        return sets?.sets.contains { $0.entries.contains { $0.nomatch } } ?? false
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
}
