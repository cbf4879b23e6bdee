import IptParse

/// Where the kernel counts a REJECT reply on its way out: a rule it matched (an ACCEPT, a
/// jump, a RETURN, a rule without target) or the policy of a built-in chain it fell off.
/// When XDP sends the reply instead, XDP adds its replies' packets and bytes there.
public enum ReplyCountPlace: Equatable, Hashable, Sendable {
    case rule(RuleRef)
    case policy(table: String, chain: String)
}

/// The static proof that the kernel's reply to a REJECT passes OUTPUT and POSTROUTING
/// untouched: in every chain it traverses, each rule either certainly misses it or certainly
/// matches it with a target that only accepts or walks on (ACCEPT, RETURN, a jump or goto to a
/// chain for which the same holds, no target), and a built-in chain it falls off accepts by
/// policy. Then XDP's reply is the kernel's, and `places` is where the kernel would have
/// counted it. Anything else (a rule that may match, a LOG, MARK, SNAT, DROP ... it may
/// meet, a DROP policy) keeps the REJECT in the kernel, `refusal` saying why.
struct ReplyPath {
    var places: [ReplyCountPlace] = []
    var refusal: String?

    /// The chains the reply traverses, in hook order (verified with iptables-nft counters,
    /// docs/two-layers.md "REJECT answered from XDP"): raw, mangle, filter and security OUTPUT,
    /// mangle POSTROUTING, for both kinds; nat POSTROUTING for the TCP reset only. The RST
    /// carries the original's conntrack entry, whose source NAT is not set up yet (nat INPUT
    /// runs after filter INPUT, where REJECT dropped the original), so nf_nat_inet_fn walks
    /// nat POSTROUTING for it; its destination NAT was set up at PREROUTING, so nat OUTPUT is
    /// not walked. The ICMP error is RELATED and ICMP: nf_nat_icmp_reply_translation instead
    /// of any nat chain. Whether the RST passes nat POSTROUTING depends on the original's
    /// entry: a NEW original's (verified) does; an INVALID original has none, and its RST
    /// passes no nat chain (verified: a FIN|PSH probe's RST was not counted there); an
    /// ESTABLISHED one has its bindings set up already. So the RST's proof needs the REJECT
    /// rule to say NEW when nat POSTROUTING is there.
    static func chains(for reply: RejectReply) -> [(table: String, chain: String)] {
        var out = [("raw", "OUTPUT"), ("mangle", "OUTPUT"), ("filter", "OUTPUT"), ("security", "OUTPUT"), ("mangle", "POSTROUTING")]
        if reply == .tcpReset { out.append(("nat", "POSTROUTING")) }
        return out.map { (table: $0.0, chain: $0.1) }
    }

    /// How deep jumps may nest on the reply's way (iptables allows more; then: the kernel).
    static let maxDepth = 16

    /// Proves `shape`'s way through `ruleset`. A chain the ruleset does not declare is not
    /// there (iptables-nft creates only the chains a restore names), so it neither sees nor
    /// counts the reply.
    static func prove(_ shape: ReplyShape, in ruleset: Ruleset) -> ReplyPath {
        var path = ReplyPath()
        guard ruleset.family == .ipv4 else {
            path.refusal = "not IPv4"
            return path
        }
        for (tableName, chainName) in chains(for: shape.reply) {
            guard let table = ruleset.table(tableName), let chain = table.chain(chainName) else { continue }
            // No entry attached (an INVALID or UNTRACKED original): nf_nat_inet_fn passes a
            // packet without an entry through no nat chain.
            if tableName == "nat", shape.invalidReply { continue }
            if tableName == "nat", !shape.originalNew {
                path.refusal = "whether the reset passes nat POSTROUTING depends on the original's conntrack state (NEW: it does), "
                    + "which the REJECT rule does not test"
                return path
            }
            guard let flow = path.walk(table, chainName, shape, depth: 0) else { return path }
            if flow == .fellOff {
                let policy = chain.policy ?? "ACCEPT"
                guard policy == "ACCEPT" else {
                    path.refusal = "the reply falls off \(tableName) \(chainName), whose policy is \(policy)"
                    return path
                }
                path.places.append(.policy(table: tableName, chain: chainName))
            }
        }
        return path
    }

    enum Flow { case accepted, fellOff }

    /// Walks one chain; nil when the proof fails (`refusal` set).
    mutating func walk(_ table: Table, _ chainName: String, _ shape: ReplyShape, depth: Int) -> Flow? {
        guard let chain = table.chain(chainName) else {
            refusal = "\(table.name) \(chainName) does not exist"
            return nil
        }
        for (i, rule) in chain.rules.enumerated() {
            let ref = RuleRef(table: table.name, chain: chainName, index: i + 1, line: rule.location?.line)
            switch shape.answer(rule) {
            case .miss:
                continue
            case .unknown:
                refusal = "\(table.name) \(chainName) rule \(i + 1) may or may not match the reply"
                return nil
            case .match:
                break
            }
            places.append(.rule(ref))
            switch rule.target {
            case nil:
                continue
            case .accept?:
                return .accepted
            case .return?:
                return .fellOff
            case .jump(let callee)?, .goto(let callee)?:
                guard depth < Self.maxDepth else {
                    refusal = "jumps nest deeper than \(Self.maxDepth) on the reply's way"
                    return nil
                }
                guard let flow = walk(table, callee, shape, depth: depth + 1) else { return nil }
                if flow == .accepted { return .accepted }
                // Back from a jump: on with the next rule. Off the end of a goto'd chain (or
                // its RETURN): back to this chain's caller, as if this chain ended here.
                if case .goto? = rule.target { return .fellOff }
            case let t?:
                refusal = "\(table.name) \(chainName) rule \(i + 1) matches the reply with -j \(t.name)"
                return nil
            }
        }
        return .fellOff
    }
}
