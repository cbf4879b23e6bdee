/// Writes a ruleset as iptables-save (1.8.9, nf_tables) does, minus its header
/// and footer comments (their dates and versions are not ours to fake).
public enum SavePrinter {
    public static func save(_ ruleset: Ruleset, counters: Bool = false) -> String {
        var out = ""
        // iptables-nft lists tables in its own fixed order, not in the order they were restored.
        let order = ["mangle", "security", "raw", "filter", "nat"]
        let sorted = ruleset.tables.sorted { (order.firstIndex(of: $0.name) ?? 9) < (order.firstIndex(of: $1.name) ?? 9) }
        for t in sorted { out += save(t, family: ruleset.family, counters: counters) }
        return out
    }

    public static func save(_ table: Table, family: Family, counters: Bool = false) -> String {
        var out = "*\(table.name)\n"
        let ordered = chainOrder(table)
        for c in ordered {
            let cnt = counters ? "[\(c.counters.packets):\(c.counters.bytes)]" : "[0:0]"
            out += ":\(c.name) \(c.policy ?? "-") \(cnt)\n"
        }
        for c in ordered {
            for r in c.rules {
                if counters { out += "[\(r.counters?.packets ?? 0):\(r.counters?.bytes ?? 0)] " }
                out += RulePrinter.save(r, chain: c.name, family: family) + "\n"
            }
        }
        return out + "COMMIT\n"
    }

    /// Built-in chains in hook order, then user chains sorted by name (byte order), as nft lists them.
    public static func chainOrder(_ table: Table) -> [Chain] {
        table.chains.filter(\.isBuiltin) + table.chains.filter { !$0.isBuiltin }.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    }
}
