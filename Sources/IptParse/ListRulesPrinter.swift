/// `iptables -S [chain [rulenum]]`: the policy or `-N` line of each chain, then its rules
/// as iptables-save writes them; with `-v` every line carries `-c PACKETS BYTES`, which
/// iptables puts before the target.
public enum ListRulesPrinter {
    public static func rules(_ table: Table, family: Family, chain: String?, ruleNumber: Int?, verbose: Bool,
                             counters: ListPrinter.CounterSource = .zero) -> String {
        let chains = SavePrinter.chainOrder(table).filter { chain == nil || $0.name == chain }
        if let n = ruleNumber {
            guard let c = chains.first, n >= 1, n <= c.rules.count else { return "" }
            return line(c.rules[n - 1], chain: c.name, number: n, family: family, verbose: verbose, counters: counters)
        }
        var out = ""
        for c in chains {
            if let p = c.policy {
                out += "-P \(c.name) \(p)"
                if verbose {
                    let cnt = counters.policy(c.name)
                    out += " -c \(cnt.packets) \(cnt.bytes)"
                }
                out += "\n"
            } else {
                out += "-N \(c.name)\n"
            }
        }
        for c in chains {
            for (i, r) in c.rules.enumerated() {
                out += line(r, chain: c.name, number: i + 1, family: family, verbose: verbose, counters: counters)
            }
        }
        return out
    }

    static func line(_ r: Rule, chain: String, number: Int, family: Family, verbose: Bool,
                     counters: ListPrinter.CounterSource) -> String {
        guard verbose else { return RulePrinter.save(r, chain: chain, family: family) + "\n" }
        var bare = r
        bare.target = nil
        let cnt = counters.rule(chain, number)
        let target = r.target.map { RulePrinter.target($0) } ?? ""
        return "-A \(chain)" + RulePrinter.spec(bare, family: family) + " -c \(cnt.packets) \(cnt.bytes)" + target + "\n"
    }
}
