import Foundation
import IptParse

/// Adds what XDP decided itself to what the kernel counted, in the kernel tools' own output:
/// `iptables-save -c`, `iptables -S -v` and `iptables -L -v`. A line whose rule XDP never
/// counted is left byte for byte as the kernel printed it.
struct CounterMerge {
    /// Per "table\tchain": each rule's identity, in order (from the kernel's ruleset).
    var identities: [String: [RuleIdentity]]
    /// XDP's count per rule and policy.
    var xdp: [RuleIdentity: RetiredCounters.Count]

    func extra(_ id: RuleIdentity?) -> RetiredCounters.Count? {
        guard let id, let c = xdp[id], c.packets != 0 || c.bytes != 0 else { return nil }
        return c
    }

    func rule(_ table: String, _ chain: String, _ n: Int) -> RuleIdentity? {
        guard let list = identities[table + "\t" + chain], n >= 1, n <= list.count else { return nil }
        return list[n - 1]
    }

    /// `iptables-save -c` text.
    func save(_ text: String) -> String {
        var out = ""
        var table = ""
        var seen: [String: Int] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var l = String(line)
            if l.hasPrefix("*") { table = String(l.dropFirst()); seen = [:] }
            if l.hasPrefix(":"), let c = extra(.policy(table: table, chain: Self.word(l.dropFirst(), 0))),
               let open = l.lastIndex(of: "["), let (p, b) = Self.pair(l[open...]) {
                l = l[..<open] + "[\(p &+ c.packets):\(b &+ c.bytes)]"
            } else if l.hasPrefix("["), let close = l.firstIndex(of: "]") {
                let rest = l[l.index(after: close)...]
                let words = rest.split(separator: " ")
                if words.count >= 2, words[0] == "-A" {
                    let chain = String(words[1])
                    seen[chain, default: 0] += 1
                    if let c = extra(rule(table, chain, seen[chain] ?? 0)), let (p, b) = Self.pair(l[...close]) {
                        l = "[\(p &+ c.packets):\(b &+ c.bytes)]" + rest
                    }
                }
            }
            out += l
            out += "\n"
        }
        return String(out.dropLast())
    }

    /// `iptables -S -v [CHAIN [N]]` text of `table`; `first` is N for a single rule.
    func listRules(_ text: String, table: String, first: Int? = nil) -> String {
        var seen: [String: Int] = [:]
        return Self.mapLines(text) { l in
            let words = l.split(separator: " ")
            guard words.count >= 2 else { return l }
            let chain = String(words[1])
            let id: RuleIdentity?
            switch words[0] {
            case "-P": id = .policy(table: table, chain: chain)
            case "-A":
                seen[chain, default: (first ?? 1) - 1] += 1
                id = rule(table, chain, seen[chain] ?? 0)
            default: id = nil
            }
            guard let c = extra(id), let r = l.range(of: #" -c [0-9]+ [0-9]+"#, options: .regularExpression) else { return l }
            let nums = l[r].split(separator: " ")
            guard nums.count == 3, let p = UInt64(nums[1]), let b = UInt64(nums[2]) else { return l }
            return l.replacingCharacters(in: r, with: " -c \(p &+ c.packets) \(b &+ c.bytes)")
        }
    }

    /// `iptables -L -v [-x] [--line-numbers] [CHAIN [N]]` text of `table`. The kernel's
    /// exact numbers come from `kernel` (its `-c` ruleset), since -L may have rounded them.
    /// `first`: the chain and number of a single rule (`-L CHAIN N` prints no chain header).
    func list(_ text: String, table: String, kernel: Table, exact: Bool, lineNumbers: Bool, first: (chain: String, rule: Int)? = nil) -> String {
        var chain = first?.chain ?? "", n = (first?.rule ?? 1) - 1
        return Self.mapLines(text) { l in
            if l.hasPrefix("Chain ") {
                chain = Self.word(l.dropFirst(6), 0)
                n = (first?.rule ?? 1) - 1
                guard let c = extra(.policy(table: table, chain: chain)), let kc = kernel.chain(chain),
                      let r = l.range(of: #"\(policy \S+ .*\)$"#, options: .regularExpression) else { return l }
                let policy = kc.policy ?? "ACCEPT"
                return l[..<r.lowerBound] + "(policy \(policy) " + ListPrinter.number(kc.counters.packets &+ c.packets, exact: exact, table: false)
                    + "packets, " + ListPrinter.number(kc.counters.bytes &+ c.bytes, exact: exact, table: false) + "bytes)"
            }
            // A rule line starts with its number (with --line-numbers) or a counter.
            guard let firstChar = l.first(where: { $0 != " " }), firstChar.isNumber, !chain.isEmpty else { return l }
            n += 1
            guard let c = extra(rule(table, chain, n)), let kc = kernel.chain(chain), n <= kc.rules.count else { return l }
            let counters = kc.rules[n - 1].counters ?? Counters(packets: 0, bytes: 0)
            var rest = Substring(l)
            var head = ""
            if lineNumbers {
                let tok = Self.word(rest, 0)
                let width = max(4, tok.count) + 1
                head = String(rest.prefix(width))
                rest = rest.dropFirst(width)
            }
            for _ in 0..<2 { rest = rest.dropFirst(Self.fieldWidth(rest, exact: exact)) }
            return head + ListPrinter.number(counters.packets &+ c.packets, exact: exact, table: true)
                + ListPrinter.number(counters.bytes &+ c.bytes, exact: exact, table: true) + rest
        }
    }

    /// Width of one counter field as xtables_print_num prints it (right-aligned, a space after).
    static func fieldWidth(_ s: Substring, exact: Bool) -> Int {
        let tok = word(s, 0)
        let lead = s.prefix { $0 == " " }.count
        if exact { return max(8, tok.count) + 1 }
        if let last = tok.last, last.isLetter { return max(5, tok.count) + 1 }
        return max(5, lead + tok.count) + 1
    }

    static func word(_ s: Substring, _ i: Int) -> String {
        let w = s.split(separator: " ")
        return i < w.count ? String(w[i]) : ""
    }

    static func pair(_ s: Substring) -> (UInt64, UInt64)? {
        let inner = s.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let parts = inner.split(separator: ":")
        guard parts.count == 2, let p = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
        return (p, b)
    }

    static func mapLines(_ text: String, _ f: (String) -> String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { f(String($0)) }.joined(separator: "\n")
    }
}
