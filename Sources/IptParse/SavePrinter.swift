import Dispatch

/// Writes a ruleset as iptables-save (1.8.9, nf_tables) does, minus its header
/// and footer comments (their dates and versions are not ours to fake).
public enum SavePrinter {
    public static func save(_ ruleset: Ruleset, counters: Bool = false) -> String {
        var out = ""
        // One buffer for the whole output, sized from the rule count: 100,000 rules appended
        // into it cost a fraction of a String per rule joined afterwards.
        out.reserveCapacity(ruleset.tables.reduce(64) { $0 + 64 + $1.chains.reduce(0) { $0 + 48 + $1.rules.count * 80 } })
        // iptables-nft lists tables in its own fixed order, not in the order they were restored.
        let order = ["mangle", "security", "raw", "filter", "nat"]
        let sorted = ruleset.tables.sorted { (order.firstIndex(of: $0.name) ?? 9) < (order.firstIndex(of: $1.name) ?? 9) }
        for t in sorted { append(t, family: ruleset.family, counters: counters, to: &out) }
        return out
    }

    public static func save(_ table: Table, family: Family, counters: Bool = false) -> String {
        var out = ""
        append(table, family: family, counters: counters, to: &out)
        return out
    }

    static func append(_ table: Table, family: Family, counters: Bool, to out: inout String) {
        out += "*"
        out += table.name
        out += "\n"
        let ordered = chainOrder(table)
        for c in ordered {
            let cnt = counters ? "[\(c.counters.packets):\(c.counters.bytes)]" : "[0:0]"
            out += ":\(c.name) \(c.policy ?? "-") \(cnt)\n"
        }
        for c in ordered {
            if c.rules.count >= parallelThreshold {
                for part in rulesInParallel(c, family: family, counters: counters) { out += part }
                continue
            }
            appendRules(c.rules[...], chain: c.name, family: family, counters: counters, to: &out)
        }
        out += "COMMIT\n"
    }

    static func appendRules(_ rules: ArraySlice<Rule>, chain: String, family: Family, counters: Bool, to out: inout String) {
        for r in rules {
            if counters { out += "[\(r.counters?.packets ?? 0):\(r.counters?.bytes ?? 0)] " }
            RulePrinter.appendSave(r, chain: chain, family: family, to: &out)
            out += "\n"
        }
    }

    /// Below this many rules in a chain one thread prints them (threads cost more than they save).
    static let parallelThreshold = 4000

    /// A long chain's rules printed in slices on all cores, the slices' text in rule order:
    /// each rule's line depends on that rule alone, so the output is the one-thread output.
    static func rulesInParallel(_ c: Chain, family: Family, counters: Bool) -> [String] {
        let chunks = 8
        let parts = UnsafeMutableBufferPointer<String>.allocate(capacity: chunks)
        parts.initialize(repeating: "")
        defer {
            _ = parts.deinitialize()
            parts.deallocate()
        }
        nonisolated(unsafe) let out = parts
        let rules = c.rules, name = c.name
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            let lo = rules.count * k / chunks, hi = rules.count * (k + 1) / chunks
            var text = ""
            text.reserveCapacity((hi - lo) * 80)
            appendRules(rules[lo..<hi], chain: name, family: family, counters: counters, to: &text)
            out[k] = text
        }
        return Array(parts)
    }

    /// Built-in chains in hook order, then user chains sorted by name (byte order), as nft lists them.
    public static func chainOrder(_ table: Table) -> [Chain] {
        table.chains.filter(\.isBuiltin) + table.chains.filter { !$0.isBuiltin }.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }
}
