import Foundation
import IptParse

/// A rule (1-based index) or a built-in chain's policy (`index` nil), in a table.
struct RuleName: Hashable, Comparable, CustomStringConvertible {
    var table: String
    var chain: String
    var index: Int?

    var description: String { "\(table) \(chain) \(index.map(String.init) ?? "policy")" }

    static func < (a: RuleName, b: RuleName) -> Bool {
        (a.table, a.chain, a.index ?? 0) < (b.table, b.chain, b.index ?? 0)
    }
}

/// Packets and bytes.
struct Count: Equatable, CustomStringConvertible {
    var packets: UInt64 = 0
    var bytes: UInt64 = 0
    var description: String { "\(packets)/\(bytes)" }

    static func + (a: Count, b: Count) -> Count { Count(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes) }
    static func - (a: Count, b: Count) -> Count { Count(packets: a.packets &- b.packets, bytes: a.bytes &- b.bytes) }
}

/// One reading of a receiver: every counter of `iptables-save -c` (all tables, by rule and
/// policy) and the instrumentation's nftables counters (`seen`, `delivered`, per source).
struct NetfilterSnapshot: Equatable {
    var rules: [RuleName: Count] = [:]
    var nft: [String: Count] = [:]

    var seen: UInt64 { nft["seen"]?.packets ?? 0 }
    var delivered: UInt64 { nft["delivered"]?.packets ?? 0 }

    /// `iptables-save -c` text, then (after a `#e2e-nft` line) `nft list counters`.
    static func parse(_ text: String) -> NetfilterSnapshot {
        var s = NetfilterSnapshot()
        let halves = text.components(separatedBy: "#e2e-nft\n")
        s.rules = iptablesCounters(halves[0])
        if halves.count > 1 { s.nft = nftCounters(halves[1]) }
        return s
    }

    static func iptablesCounters(_ text: String) -> [RuleName: Count] {
        var out: [RuleName: Count] = [:]
        var table = ""
        var seen: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("*") { table = String(line.dropFirst()); seen = [:]; continue }
            if line.hasPrefix(":") {
                // :CHAIN POLICY [p:b]
                let f = line.dropFirst().split(separator: " ")
                if f.count >= 3, f[1] != "-", let c = pair(f[2]) { out[RuleName(table: table, chain: String(f[0]), index: nil)] = c }
            } else if line.hasPrefix("[") {
                let f = line.split(separator: " ")
                guard f.count >= 3, f[1] == "-A", let c = pair(f[0]) else { continue }
                let chain = String(f[2])
                seen[chain, default: 0] += 1
                out[RuleName(table: table, chain: chain, index: seen[chain] ?? 0)] = c
            }
        }
        return out
    }

    static func pair(_ s: Substring) -> Count? {
        let p = s.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ":")
        guard p.count == 2, let a = UInt64(p[0]), let b = UInt64(p[1]) else { return nil }
        return Count(packets: a, bytes: b)
    }

    static func nftCounters(_ text: String) -> [String: Count] {
        var out: [String: Count] = [:]
        var name: String?
        for line in text.split(separator: "\n") {
            let w = line.split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            if w.count >= 2, w[0] == "counter" { name = w[1]; continue }
            if w.count >= 4, w[0] == "packets", let n = name, let p = UInt64(w[1]), let b = UInt64(w[3]) {
                out[n] = Count(packets: p, bytes: b)
                name = nil
            }
        }
        return out
    }

    /// What moved from `before` to `self`.
    func delta(from before: NetfilterSnapshot) -> NetfilterSnapshot {
        var d = NetfilterSnapshot()
        for (k, v) in rules where v != (before.rules[k] ?? Count()) { d.rules[k] = v - (before.rules[k] ?? Count()) }
        for (k, v) in nft where v != (before.nft[k] ?? Count()) { d.nft[k] = v - (before.nft[k] ?? Count()) }
        return d
    }
}

/// Which rules of a ruleset a packet for this host can meet, and what ends its walk: the
/// chains reachable from each table's PREROUTING and INPUT, in the order of the hooks.
struct InputPath {
    /// (table, built-in chain) in the order netfilter runs them for a packet to this host.
    static let hooks: [(String, String)] = [("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"),
                                            ("mangle", "INPUT"), ("filter", "INPUT"), ("security", "INPUT"), ("nat", "INPUT")]
    let ruleset: Ruleset
    /// Per (table, chain reached): the order of its hook (chains reached from two hooks take the first).
    let order: [String: Int]
    /// Rules whose match depends on time or on earlier packets (limit, statistic, recent,
    /// ...): the kernel may answer the same packet differently from one namespace to another.
    let nondeterministic: Set<RuleName>

    static let nondeterministicWords = ["-m limit ", "-m hashlimit ", "-m recent ", "-m statistic ", "-m connlimit ", "-m quota ",
                                        "--update-counters", "--packets-gt", "--packets-lt", "--bytes-gt", "--bytes-lt", "-m time "]

    init(_ ruleset: Ruleset) {
        self.ruleset = ruleset
        var order: [String: Int] = [:]
        for (i, (t, c)) in Self.hooks.enumerated() {
            guard let table = ruleset.table(t), table.chain(c) != nil else { continue }
            var queue = [c]
            while let name = queue.popLast() {
                let key = t + " " + name
                guard order[key] == nil, let chain = table.chain(name) else { continue }
                order[key] = i
                for r in chain.rules {
                    switch r.target {
                    case .jump(let callee)?, .goto(let callee)?: queue.append(callee)
                    default: break
                    }
                }
            }
        }
        self.order = order
        var nd: Set<RuleName> = []
        for t in ruleset.tables {
            for c in t.chains {
                for (i, r) in c.rules.enumerated() {
                    let text = RulePrinter.save(r, chain: c.name, family: ruleset.family) + " "
                    if Self.nondeterministicWords.contains(where: { text.contains($0) }) {
                        nd.insert(RuleName(table: t.name, chain: c.name, index: i + 1))
                    }
                }
            }
        }
        nondeterministic = nd
    }

    /// Whether `r` is a `-m statistic` rule (XDP may draw for it: PendingDraws.swift).
    func isStatistic(_ r: RuleName) -> Bool {
        guard let i = r.index, let table = ruleset.table(r.table), let chain = table.chain(r.chain), i >= 1, i <= chain.rules.count else { return false }
        return (RulePrinter.save(chain.rules[i - 1], chain: chain.name, family: ruleset.family) + " ").contains("-m statistic ")
    }

    /// The time- or history-dependent rules that matched, of what a packet moved.
    func nondeterministicMatched(_ moved: NetfilterSnapshot) -> Set<RuleName> {
        Set(moved.rules.keys.filter { nondeterministic.contains($0) && (moved.rules[$0]?.packets ?? 0) > 0 })
    }

    func reached(_ r: RuleName) -> Bool { order[r.table + " " + r.chain] != nil }

    func target(_ r: RuleName) -> Target? {
        guard let i = r.index, let chain = ruleset.table(r.table)?.chain(r.chain), i >= 1, i <= chain.rules.count else { return nil }
        return chain.rules[i - 1].target
    }

    func policy(_ r: RuleName) -> String? { ruleset.table(r.table)?.chain(r.chain)?.policy }

    /// What decided a packet, from what its passage moved: a DROP or REJECT rule (or a DROP
    /// policy) on the way ends it, else filter INPUT's ACCEPT rule or policy. nil when no
    /// rule decided (routing dropped it before INPUT, or there is no filter INPUT).
    func decidingRule(_ moved: NetfilterSnapshot) -> RuleName? {
        let candidates = moved.rules.keys.filter { reached($0) }
        func rank(_ r: RuleName) -> (Int, Int) { (order[r.table + " " + r.chain] ?? 99, r.index ?? Int.max) }
        let drops = candidates.filter { r in
            if r.index == nil { return policy(r) == "DROP" && Self.hooks.contains { $0 == (r.table, r.chain) } }
            switch target(r) {
            case .drop?, .reject?: return true
            default: return false
            }
        }.sorted { rank($0) < rank($1) }
        if let d = drops.first { return d }
        let accepts = candidates.filter { r in
            guard r.table == "filter", order[r.table + " " + r.chain] == 4 else { return false }
            if r.index == nil { return r.chain == "INPUT" }
            if case .accept? = target(r) { return true }
            return false
        }.sorted { rank($0) < rank($1) }
        // A policy counter moves only when no rule decided; an ACCEPT rule ends the chain.
        return accepts.first { $0.index != nil } ?? accepts.first
    }
}
