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
            for r in c.rules {
                if counters { out += "[\(r.counters?.packets ?? 0):\(r.counters?.bytes ?? 0)] " }
                RulePrinter.appendSave(r, chain: c.name, family: family, to: &out)
                out += "\n"
            }
        }
        out += "COMMIT\n"
    }

    /// Built-in chains in hook order, then user chains sorted by name (byte order), as nft lists them.
    public static func chainOrder(_ table: Table) -> [Chain] {
        table.chains.filter(\.isBuiltin) + table.chains.filter { !$0.isBuiltin }.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }
}
