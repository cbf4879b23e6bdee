import IptParse

/// Which `-m recent` lists XDP keeps and evaluates itself, and why the others stay the
/// kernel's. The argument (docs/recent.md): XDP's copy of a list must see exactly the
/// updates the kernel's iptables alone would make, and the kernel's own copy (which only
/// sees the packets XDP passes) must never hold more than XDP's. A list qualifies when
///   1. every rule naming it, in any table and chain, is in filter, in a chain INPUT
///      reaches and FORWARD/OUTPUT do not, and lowers whole (`ruleForm` holds, no other
///      test left out);
///   2. its rules agree on `--mask` (the kernel masks with the table's, the first rule's)
///      and ask at most 32 hits (the program's ring);
///   3. no position before one of its positions can stop the walk where iptables goes on
///      (a `KERNEL` position, an uncertain conntrack test for other than TCP/UDP, an
///      act-only test of another list), unless their protocols exclude each other; and
///      the program holds all of its positions (no capacity cut before them).
/// 1 and 2 are read from the ruleset (`candidates`); 3 from the flattened positions
/// (`refine`, repeated until nothing changes: a list refused makes its rules `KERNEL`).
public struct RecentLists: Equatable, Sendable {
    /// Lists XDP evaluates, with the `--hitcount`s of their rules (the ring size).
    public var owned: [String: [UInt32]] = [:]
    /// Lists left to the kernel, and why.
    public var refused: [String: String] = [:]

    public init() {}

    /// Why a rule holding recent match `e` cannot be evaluated in XDP as written (nil: it can).
    static func ruleForm(_ rule: Rule, _ t: RecentTest) -> String? {
        if let why = t.unsupportedForm { return why }
        let significant = rule.matches.filter { if case .comment = $0 { false } else { true } }
        let recents = significant.filter { if case .opaque(let e) = $0, e.name == "recent" { true } else { false } }
        if recents.count != 1 { return "several recent matches in one rule" }
        if case .opaque(let e)? = significant.last, e.name == "recent" {} else {
            // iptables evaluates the matches in order: a later test must not gate the list update.
            return "a match after -m recent (the list acts before it is tested)"
        }
        switch rule.target {
        case nil, .drop?:
            return nil
        case .reject?:
            return nil // a KERNEL position unless --reject-as-drop; checked with the positions
        case .accept?:
            return t.command == .set ? nil : "--\(t.command.rawValue) -j ACCEPT (the kernel's copy of the list lags XDP's)"
        default:
            return t.command == .set ? nil : "--\(t.command.rawValue) with target \(rule.target?.name ?? "")"
        }
    }

    /// --rttl compares the packet's TTL with the one the entry recorded last. XDP's copy of
    /// the list records every packet iptables would, the kernel's copy only those XDP passes,
    /// so their TTLs can differ — unless the same packet has just recorded its own TTL in
    /// both: an earlier rule of the same chain with no test and no target but
    /// `-m recent --set` on the list, same side. Every walk that reaches `index` (in XDP or
    /// in the kernel: a chain is entered at its top) has run it, so both copies hold the
    /// packet's TTL and --rttl answers alike in both (docs/recent.md).
    static func ttlSetBefore(_ rules: [Rule], index: Int, _ t: RecentTest) -> Bool {
        for rule in rules.prefix(index) where rule.target == nil && rule.source == nil && rule.destination == nil
            && rule.inInterface == nil && rule.outInterface == nil && rule.proto == nil && rule.fragment == nil {
            let significant = rule.matches.filter { if case .comment = $0 { false } else { true } }
            guard significant.count == 1, case .opaque(let e)? = significant.first, e.name == "recent",
                  let q = RecentTest.parse(e, instance: t.instance, actOnly: true) else { continue }
            if q.command == .set && q.name == t.name && q.destination == t.destination && q.mask == t.mask { return true }
        }
        return false
    }

    /// The recent matches of a rule, parsed (nil: a form the parser does not read).
    static func tests(of rule: Rule, ref: RuleRef?) -> [(index: Int, test: RecentTest?)] {
        var out: [(Int, RecentTest?)] = []
        for (i, m) in rule.matches.enumerated() {
            guard case .opaque(let e) = m, e.name == "recent" else { continue }
            let inst = ExtInstance(rule: ref ?? RuleRef(table: "", chain: "", index: 0, line: nil), match: i)
            out.append((i, RecentTest.parse(e, instance: inst, actOnly: rule.target == nil)))
        }
        return out
    }

    /// Conditions 1 and 2, from the ruleset alone.
    static func candidates(_ ruleset: Ruleset, lowering: AtomLowering) -> RecentLists {
        var lists = RecentLists()
        var masks: [String: Set<UInt32>] = [:]
        // --reap: per list, the shortest window of its reaping tests, and the windows of
        // every test that counts hits (`reapRefusal`).
        var reapWindows: [String: UInt32] = [:]
        var checkWindows: [String: [UInt32]] = [:]
        let filter = ruleset.table("filter")
        let input = Set(filter?.reach(from: "INPUT") ?? [])
        let elsewhere = Set((filter?.reach(from: "FORWARD") ?? []) + (filter?.reach(from: "OUTPUT") ?? []))
        func refuse(_ name: String, _ why: String) {
            if lists.refused[name] == nil { lists.refused[name] = why }
        }
        for table in ruleset.tables {
            for chain in table.chains {
                for (i, rule) in chain.rules.enumerated() {
                    for (_, t) in tests(of: rule, ref: nil) {
                        guard let t else {
                            // Unreadable options: we cannot even tell the name; no list is safe.
                            refuse("*", "a recent match whose options are not read (\(table.name)/\(chain.name) rule \(i + 1))")
                            continue
                        }
                        lists.owned[t.name, default: []].append(t.hitcount)
                        masks[t.name, default: []].insert(t.mask)
                        if t.reap { reapWindows[t.name] = min(reapWindows[t.name] ?? .max, t.seconds) }
                        if t.command == .rcheck || t.command == .update { checkWindows[t.name, default: []].append(t.seconds) }
                        let whereText = "\(table.name)/\(chain.name) rule \(i + 1)"
                        if table.name != "filter" || !input.contains(chain.name) {
                            refuse(t.name, "\(whereText) uses the list outside what filter INPUT reaches")
                        } else if elsewhere.contains(chain.name) {
                            refuse(t.name, "\(whereText) is in a chain FORWARD or OUTPUT reach too")
                        } else if let why = ruleForm(rule, t) {
                            refuse(t.name, "\(whereText): \(why)")
                        } else if t.rttl, !Self.ttlSetBefore(chain.rules, index: i, t) {
                            refuse(t.name, "\(whereText): --rttl without a target-less --set of the list (same side) earlier in its chain (the kernel's copy may hold another TTL than XDP's)")
                        } else if t.hitcount > 32 {
                            refuse(t.name, "\(whereText): --hitcount \(t.hitcount) (XDP keeps 32 stamps per address)")
                        } else if case .tests(_, let unsupported) = lowering.lower(rule),
                                  unsupported.contains(where: { if case .recentList = $0 { false } else { true } }) {
                            refuse(t.name, "\(whereText) has tests XDP does not evaluate")
                        }
                    }
                }
            }
        }
        for (name, m) in masks where m.count > 1 { refuse(name, "its rules give different --mask values") }
        for (name, reap) in reapWindows {
            if let why = reapRefusal(reapSeconds: reap, checkSeconds: checkWindows[name] ?? []) { refuse(name, why) }
        }
        if lists.refused["*"] != nil {
            for name in lists.owned.keys { refuse(name, lists.refused["*"] ?? "") }
        }
        for name in lists.refused.keys { lists.owned[name] = nil }
        return lists
    }

    /// Whether XDP may leave out a list's `--reap` (nil) or why not. The kernel reaps, after a
    /// --rcheck/--update with --reap, the list's least recently updated entry when its last
    /// stamp is older than that rule's --seconds (xt_recent.c recent_entry_reap), an entry
    /// XDP's hash map cannot name. Leaving it out changes no answer when every test that
    /// counts hits on the list has a window `0 < --seconds <= the shortest reaping window`:
    /// a reapable entry's stamps are all outside every such window, now and later, so it
    /// counts no hit, an --update of it records nothing (no hit), and a --set into it leaves
    /// the same in-window stamps and TTL as a --set that creates it. What differs is the
    /// list's contents and count (docs/recent.md: a full list answers MAYBE).
    static func reapRefusal(reapSeconds: UInt32, checkSeconds: [UInt32]) -> String? {
        if checkSeconds.contains(0) {
            return "--reap with a test of the list without --seconds (a reaped entry is still listed in XDP's copy)"
        }
        if let longer = checkSeconds.first(where: { $0 > reapSeconds }) {
            return "--reap --seconds \(reapSeconds) with a test of the list whose window is longer (--seconds \(longer)): a reaped entry could still count there"
        }
        return nil
    }

    /// Condition 3 on the flattened positions; true when a list was refused (flatten again).
    mutating func refine(flat: [FlatRule], cut: Int?) -> Bool {
        var changed = false
        for name in owned.keys.sorted() {
            if let why = stop(for: name, flat: flat, cut: cut) {
                owned[name] = nil
                refused[name] = why
                changed = true
            }
        }
        // The program memoises at most ExtTest.maxStatefulInstances stateful tests per packet
        // (ext_stateful.h); past that the Loader refuses the generation. Recent's share only:
        // the lists with the most tests go back to the kernel first.
        var instances: [String: Set<ExtInstance>] = [:]
        var others = Set<ExtInstance>() // limit, hashlimit, statistic: they came first
        for f in flat {
            for t in Self.recentTests(f) where owned[t.name] != nil { instances[t.name, default: []].insert(t.instance) }
            for case .ext(let e) in f.alternatives.flatMap({ $0 }) {
                if case .recent = e { continue }
                if let i = e.instance { others.insert(i) }
            }
        }
        let budget = ExtTest.maxStatefulInstances - others.count
        var total = instances.values.reduce(0) { $0 + $1.count }
        for (name, set) in instances.sorted(by: { ($0.value.count, $0.key) > ($1.value.count, $1.key) }) {
            guard total > budget else { break }
            owned[name] = nil
            refused[name] = "more than \(ExtTest.maxStatefulInstances) stateful tests in the ruleset (the program evaluates at most that many per packet)"
            total -= set.count
            changed = true
        }
        return changed
    }

    /// The reason a rule without a target holds when XDP acts on one of its recent tests.
    static func actOnlyReason(_ own: [Atom]) -> KernelReason? {
        for a in own { if case .ext(.recent(let t)) = a, t.actOnly { return .recentActs(list: t.name) } }
        return nil
    }

    /// A conntrack test the program may answer MAYBE for: a state test for other than
    /// TCP/UDP, and a conntrack ext test for any protocol (bpf/ext_conntrack.h: an entry this
    /// packet may make ASSURED, --ctexpire, ...).
    private static func mayStopUncertain(_ f: FlatRule, tcpUDPOnly: Bool) -> Bool {
        f.alternatives.flatMap({ $0 }).contains { a in
            if case .ext(.conntrack) = a { return true }
            if case .conntrack = a { return !tcpUDPOnly }
            return false
        }
    }

    private static func isActOnly(_ f: FlatRule) -> Bool {
        if case .recentActs? = f.kernelReason { true } else { false }
    }

    private static func recentTests(_ f: FlatRule) -> [RecentTest] {
        f.alternatives.flatMap({ $0 }).compactMap { if case .ext(.recent(let t)) = $0 { t } else { nil } }
    }

    private static func protocols(_ f: FlatRule) -> Set<UInt8>? {
        var out: Set<UInt8>?
        for a in f.alternatives.flatMap({ $0 }) {
            if case .proto(let p, negated: false) = a { out = (out ?? [p]).intersection([p]) }
        }
        return out
    }

    private func stop(for name: String, flat: [FlatRule], cut: Int?) -> String? {
        var before: [(Int, FlatRule)] = []
        // The copies (XDP's, the kernel's, iptables alone's) must agree only where packets
        // change the list and the list changes answers. A list no rule records into (only
        // --rcheck: its entries come from `ebpf-iptables recent NAME add`, into both copies;
        // a --reap only takes entries out of one copy: RecentLists.reapRefusal) holds the same
        // entries whichever layer a packet meets its rules in; a list no rule checks (only
        // --set) answers the same whatever it holds. For those, what runs before their rules,
        // in the kernel or as a MAYBE, cannot make an answer differ.
        let tests = flat.flatMap { Self.recentTests($0).filter { $0.name == name } }
        let records = tests.contains { $0.command == .set || $0.command == .update }
        let checks = tests.contains { $0.command == .rcheck || $0.command == .update }
        for (n, f) in flat.enumerated() {
            let mine = Self.recentTests(f).contains { $0.name == name }
            if mine {
                if let c = cut, c <= n { return "the list's rule \(f.origin.spoken) is beyond what the program holds" }
                if f.verdict == .kernel && !Self.isActOnly(f) {
                    return "its rule \(f.origin.spoken) runs in the kernel"
                }
                let protos = Self.protocols(f)
                let tcpUDPOnly = protos.map { !$0.isEmpty && $0.isSubset(of: [6, 17]) } ?? false
                if Self.mayStopUncertain(f, tcpUDPOnly: tcpUDPOnly) {
                    return "its rule \(f.origin.spoken) tests a conntrack state XDP may not know for that protocol"
                }
                for (_, q) in before where records && checks {
                    if let qp = Self.protocols(q), let np = protos, qp.isDisjoint(with: np) { continue }
                    let otherActOnly = Self.recentTests(q).contains { $0.actOnly && $0.name != name }
                    if q.verdict == .kernel && (!Self.isActOnly(q) || otherActOnly) {
                        return "\(q.origin.spoken) runs in the kernel before its rule \(f.origin.spoken)"
                    }
                    // A CONTINUE position acting on another list (ContinuePositions.swift): that
                    // list's test may answer MAYBE (an overflowed list), which sends the packet
                    // to the kernel there, as another list's act-only test did.
                    if q.verdict.continues && Self.recentTests(q).contains(where: { $0.name != name }) {
                        return "\(q.origin.spoken) acts on another recent list before its rule \(f.origin.spoken)"
                    }
                    if Self.mayStopUncertain(q, tcpUDPOnly: tcpUDPOnly) {
                        return "\(q.origin.spoken) tests a conntrack state XDP may not know, before its rule \(f.origin.spoken)"
                    }
                }
            }
            before.append((n, f))
        }
        return nil
    }
}
