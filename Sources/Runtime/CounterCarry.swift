import Foundation
import IptParse

/// Where each rule's XDP counters go across one change of the kernel's ruleset. A rule's
/// identity (RuleIdentity) is its text and which of the equal rules of its chain it is, so an
/// edit can change the identity of a rule it leaves alone (deleting the first of two equal
/// rules makes the second one the first) or keep the identity of a rule it replaces (`-R` with
/// the same text). The kernel follows its rules, not their texts; this map does the same:
/// every rule identity of the ruleset before the change maps to its identity after it, or to
/// nil when the kernel's counters for it end (deleted, replaced, flushed, restored), as
/// iptables 1.8.9 (nf_tables) does (verified in a namespace, see each case).
struct CounterCarry: Equatable {
    /// Old identity -> new identity (nil: its counters end). Identities not listed keep theirs.
    var map: [RuleIdentity: RuleIdentity?] = [:]

    static let none = CounterCarry()

    /// One iptables command that changed `before` into `after` (our engine's prediction,
    /// checked against what the kernel holds by the caller).
    static func edit(_ c: IptCommand, before: Ruleset, after: Ruleset) -> CounterCarry {
        let old = RuleIdentity.all(in: before)
        let new = RuleIdentity.all(in: after)
        var carry = CounterCarry()
        for t in before.tables {
            for ch in t.chains {
                let o = old[t.name + "\t" + ch.name] ?? []
                let sameChain = t.name == c.table && ch.name == c.chain
                var newName = ch.name
                if c.kind == .renameChain, sameChain, let to = c.argument { newName = to }
                let n = new[t.name + "\t" + newName] ?? []
                if c.kind == .policy, sameChain {
                    // `iptables -P` sets the policy with fresh counters, even the same policy
                    // (1.8.9 nf_tables: [5:6] became [0:0] after -P OUTPUT ACCEPT).
                    carry.map[.policy(table: t.name, chain: ch.name)] = .some(nil)
                }
                guard sameChain || (c.kind == .flush && c.chain == nil && t.name == c.table) else {
                    // Untouched chain (its rules' texts may still change: `-E` renames jumps).
                    carry.pair(o, n, Array(o.indices))
                    continue
                }
                let k = c.rules.count
                var to: [Int?] = Array(o.indices)
                switch c.kind {
                case .append, .renameChain, .policy, .check, .list, .listRules, .zero, .newChain:
                    break
                case .insert:
                    let at = (c.ruleNumber ?? 1) - 1
                    to = o.indices.map { $0 < at ? $0 : $0 + k }
                case .replace:
                    // The replaced rule's counters end: iptables-nft 1.8.9 prints [0:0] for it
                    // after `-R` without -c, even with the same text.
                    if let r = c.ruleNumber, r >= 1, r <= o.count { to[r - 1] = nil }
                case .delete:
                    // Not found as our engine finds it: the kernel's choice is unknown here,
                    // and each rule goes to the next of its text, in order.
                    to = deleted(c, chain: ch, count: o.count) ?? inOrder(o, n)
                case .flush, .deleteChain:
                    to = o.map { _ in nil }
                }
                carry.pair(o, n, to)
            }
        }
        return carry
    }

    /// The new index of each old rule after `-D`: by number, or (by spec) the first rule equal
    /// to each given one in turn, as iptables deletes.
    /// (Rule equality, as Table.apply finds the rule it deletes.) nil: a rule was not found.
    private static func deleted(_ c: IptCommand, chain: Chain, count: Int) -> [Int?]? {
        var alive = Array(0..<count)
        if let r = c.ruleNumber {
            guard r >= 1, r <= count else { return nil }
            alive.remove(at: r - 1)
        } else {
            var rules = chain.rules
            for r in c.rules {
                guard let k = rules.firstIndex(of: r) else { return nil }
                rules.remove(at: k)
                alive.remove(at: k)
            }
        }
        var to: [Int?] = Array(repeating: nil, count: count)
        for (newIndex, oldIndex) in alive.enumerated() { to[oldIndex] = newIndex }
        return to
    }

    /// A restore of `text` (tables it names) into the kernel: without --noflush every rule
    /// and policy of those tables starts again (from 0, or from the file's `[p:b]` with -c);
    /// with --noflush a declared user chain is flushed, a declared built-in chain's policy
    /// counters are set (0 without -c), and rules are followed by text, in order (verified:
    /// iptables-restore 1.8.9 nf_tables).
    static func restore(text: String, noflush: Bool, before: Ruleset, after: Ruleset) -> CounterCarry {
        let old = RuleIdentity.all(in: before)
        let new = RuleIdentity.all(in: after)
        var carry = CounterCarry()
        var declared: [String: Set<String>] = [:]
        var table = ""
        for line in text.split(separator: "\n") {
            let l = line.drop { $0 == " " || $0 == "\t" }
            if l.hasPrefix("*") {
                table = String(l.dropFirst()).trimmingCharacters(in: .whitespaces)
                declared[table, default: []] = declared[table] ?? []
            } else if l.hasPrefix(":"), let name = l.dropFirst().split(separator: " ").first {
                declared[table, default: []].insert(String(name))
            } else if l.hasPrefix("-P "), let name = l.split(separator: " ").dropFirst().first {
                declared[table, default: []].insert(String(name))
            }
        }
        for t in before.tables {
            for ch in t.chains {
                let o = old[t.name + "\t" + ch.name] ?? []
                guard let names = declared[t.name] else {
                    carry.pair(o, new[t.name + "\t" + ch.name] ?? [], Array(o.indices))
                    continue
                }
                if !noflush || names.contains(ch.name) {
                    if ch.isBuiltin { carry.map[.policy(table: t.name, chain: ch.name)] = .some(nil) }
                }
                if !noflush || (names.contains(ch.name) && !ch.isBuiltin) {
                    for id in o { carry.map[id] = .some(nil) }
                    continue
                }
                let n = new[t.name + "\t" + ch.name] ?? []
                carry.pair(o, n, inOrder(o, n))
            }
        }
        return carry
    }

    /// Each old rule to the next new rule of the same text, in order (a restore's -A/-D/-I
    /// lines are not known one by one here; equal texts are the only ambiguity).
    private static func inOrder(_ o: [RuleIdentity], _ n: [RuleIdentity]) -> [Int?] {
        func text(_ id: RuleIdentity) -> Substring {
            let parts = id.key.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false)
            return parts.count == 4 ? parts[3] : Substring(id.key)
        }
        var to: [Int?] = Array(repeating: nil, count: o.count)
        var j = 0
        for (i, id) in o.enumerated() {
            var k = j
            while k < n.count, text(n[k]) != text(id) { k += 1 }
            if k < n.count {
                to[i] = k
                j = k + 1
            }
        }
        return to
    }

    private mutating func pair(_ o: [RuleIdentity], _ n: [RuleIdentity], _ to: [Int?]) {
        for (i, id) in o.enumerated() {
            if i < to.count, let j = to[i], j < n.count { map[id] = .some(n[j]) } else { map[id] = .some(nil) }
        }
    }

    /// `counts` keyed by the identities after the change.
    func apply<V>(_ counts: [RuleIdentity: V], add: (inout V, V) -> Void) -> [RuleIdentity: V] {
        guard !map.isEmpty else { return counts }
        var out: [RuleIdentity: V] = [:]
        for (id, v) in counts {
            let target: RuleIdentity?
            if let m = map[id] { target = m } else { target = id }
            guard let target else { continue }
            if var have = out[target] {
                add(&have, v)
                out[target] = have
            } else {
                out[target] = v
            }
        }
        return out
    }
}
