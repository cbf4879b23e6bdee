import IptParse

/// The chains a packet for this host passes before filter INPUT. A rule there whose
/// target may change the packet or what INPUT sees of it (DNAT, REDIRECT, MARK, CT,
/// NOTRACK, TPROXY, TTL, LOG, NFQUEUE, ...) gets a `KERNEL` position in front of all of
/// INPUT's, so XDP never drops a packet such a rule may touch. ACCEPT, DROP, RETURN, jumps
/// and counting rules change nothing INPUT sees (a DROP there only means the kernel drops
/// first), so they need no position.
///
/// No jump context is kept: each rule's position is over its own tests, which holds every
/// packet the rule may match however it is reached (dropping context only widens).
enum PreInputRules {
    /// In the order the kernel runs them for an arriving packet.
    static let hooks: [(table: String, chain: String)] = [
        ("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"), ("mangle", "INPUT"),
    ]

    struct Result {
        var flat: [FlatRule] = []
        var events: [RuleRef: RuleEvents] = [:]
        /// table -> chains reached from the hooks, in that table.
        var chains: [String: Set<String>] = [:]
        /// raw PREROUTING's NOTRACK rules, when they could be folded into the state tests.
        var notrack: NotrackFold?
    }

    static func collect(_ ruleset: Ruleset, lowering: AtomLowering) -> Result {
        var r = Result()
        for (tableName, hook) in hooks {
            guard let table = ruleset.table(tableName) else { continue }
            let fold = tableName == "raw" ? NotrackFold.fold(table, lowering: lowering) : nil
            if let fold {
                r.notrack = fold
                for ref in fold.folded { r.events[ref, default: RuleEvents()].inlined = (.notrack, 0) }
            }
            for chainName in table.reach(from: hook) where r.chains[tableName, default: []].insert(chainName).inserted {
                guard let chain = table.chain(chainName) else { continue }
                for (i, rule) in chain.rules.enumerated() {
                    let ref = RuleRef(table: tableName, chain: chainName, index: i + 1, line: rule.location?.line)
                    guard let target = rule.target, changesPacket(target) else { continue }
                    if fold?.folded.contains(ref) == true { continue }
                    // NAT binds a whole connection from its first packet: the state tests of
                    // that packet say nothing of the packets that follow. raw runs before
                    // conntrack: its state tests see no entry yet (INVALID, or UNTRACKED after
                    // a NOTRACK), not the state the program looks up.
                    switch lowering.lower(rule, leavingOutConntrack: tableName == "nat" || tableName == "raw") {
                    case .never(let name):
                        r.events[ref, default: RuleEvents()].neverOnInterface = name
                    case .tests(let atoms, _):
                        r.events[ref, default: RuleEvents()].positions.append(r.flat.count)
                        r.flat.append(FlatRule(atoms: atoms, verdict: .kernel, origin: ref,
                                               kernelReason: .beforeInput(table: tableName, chain: chainName, target: target.name)))
                    }
                }
            }
        }
        return r
    }

    static func changesPacket(_ t: Target) -> Bool {
        switch t {
        case .accept, .drop, .return, .jump, .goto: false
        case .queue, .reject, .log, .opaque: true
        }
    }
}
