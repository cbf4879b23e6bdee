import IptParse

/// A REJECT whose reply's way out depends on the original's conntrack state: the kernel's
/// REJECT matches whatever the state, but its reply carries (or not) the original's entry,
/// so OUTPUT's state tests see it differently (verified with iptables-nft 1.8.9 on Linux
/// 6.18, `iptables-save -c` deltas of raw and filter OUTPUT rules testing each state):
/// - a NEW or ESTABLISHED original (UDP: a flow this host opened, answered; a SYN): the
///   ICMP error and the RST are RELATED (nf_conntrack_attach: IP_CT_RELATED or
///   IP_CT_RELATED_REPLY, both RELATED to xt_state);
/// - an INVALID original (a TCP FIN without an entry) has no entry to attach: conntrack sees
///   the reply alone at OUTPUT and calls it INVALID (a RST no connection explains; an ICMP
///   error quoting no known flow);
/// - an UNTRACKED original (raw NOTRACK) gives an INVALID reply too, not UNTRACKED:
///   nf_ct_attach sets IP_CT_RELATED without an entry, which is neither a conntrack entry
///   nor IP_CT_UNTRACKED (both replies counted by `--state INVALID`, neither by UNTRACKED);
/// - without an entry nf_nat_inet_fn walks no nat chain (the RST of an INVALID original is
///   not counted in nat POSTROUTING).
/// So the REJECT position splits by the original's state: XDP sends the reply for the
/// states whose reply is proven to pass (`ReplyPath` on the reply's shape for that class),
/// grouped by where the kernel counts it, and passes the others up; the program tests the
/// state when it meets the position, before any pending draw, and an uncertain state goes
/// up as every state test's does (eipt_fb_match: MAYBE holds the position for the kernel).
struct ReplyStateSplit: Equatable {
    struct Group: Equatable {
        /// Original states (as XDP's state test sees them) answered from XDP.
        var states: ConntrackStates
        /// Where the kernel counts their reply.
        var places: [ReplyCountPlace]
    }

    var groups: [Group]
    /// The original states whose packets still go up (the kernel's REJECT answers them).
    var up: ConntrackStates
    /// Why those go up (per set of states with one reason), for the report.
    var why: String

    /// The classes of originals, in the order tried. ESTABLISHED and RELATED originals only
    /// when the rule says `-p udp`: a TCP segment conntrack finds out of its window is
    /// INVALID in the kernel (no entry attached, an INVALID reply) while XDP's lookup sees
    /// the entry, so for TCP XDP could not tell which reply the kernel makes. A NEW original
    /// without an entry is tracked from the segment (tcp_new / udp: an unconfirmed entry).
    static func classes(udpOnly: Bool) -> [ConntrackStates] {
        udpOnly ? [.new, .established, .related, .invalid, .untracked] : [.new, .invalid, .untracked]
    }

    /// The split for `rule` (a REJECT of filter INPUT or a chain it reaches), nil when no
    /// class of originals is proven (the REJECT stays in the kernel).
    static func prove(reply: RejectReply, rule: Rule, interface: String, in ruleset: Ruleset) -> ReplyStateSplit? {
        let allowed = ownStates(rule)
        let udpOnly = rule.proto.map { !$0.negated && $0.value == 17 } ?? false
        var groups: [Group] = []
        var up: ConntrackStates = []
        var reasons: [(states: ConntrackStates, why: String)] = []
        func refuse(_ c: ConntrackStates, _ why: String) {
            up.insert(c)
            if let i = reasons.firstIndex(where: { $0.why == why }) { reasons[i].states.insert(c) } else { reasons.append((c, why)) }
        }
        let base = ReplyShape(reply: reply, rule: rule, interface: interface)
        for c in [ConntrackStates.new, .established, .related, .invalid, .untracked] where !allowed.isDisjoint(with: c) {
            guard classes(udpOnly: udpOnly).contains(c) else {
                refuse(c, "a TCP segment out of its connection's window is INVALID in the kernel, which XDP cannot see")
                continue
            }
            var shape = base
            shape.tracked = c == .new || c == .established || c == .related
            shape.originalNew = c == .new
            shape.invalidReply = c == .invalid || c == .untracked
            let path = ReplyPath.prove(shape, in: ruleset)
            if let refusal = path.refusal {
                refuse(c, refusal)
                continue
            }
            if let i = groups.firstIndex(where: { $0.places == path.places }) {
                groups[i].states.insert(c)
            } else {
                groups.append(Group(states: c, places: path.places))
            }
        }
        guard !groups.isEmpty else { return nil }
        let why = reasons.map { "\(Self.names($0.states)): \($0.why)" }.joined(separator: "; ")
        return ReplyStateSplit(groups: groups, up: up, why: why)
    }

    /// The states the rule's own `--state`/`--ctstate` tests let through (all when none).
    static func ownStates(_ rule: Rule) -> ConntrackStates {
        var out = AtomNormalization.allStates
        for m in rule.matches {
            let s: Negatable<ConntrackStates>?
            switch m {
            case .state(let x): s = x
            case .conntrack(let c): s = c.states
            default: s = nil
            }
            guard let s else { continue }
            out.formIntersection(s.negated ? AtomNormalization.allStates.subtracting(s.value) : s.value)
        }
        return out
    }

    /// What the report says of the originals that go up.
    var detail: String {
        up.isEmpty ? "" : "\(Self.names(up)) originals go up and the kernel's REJECT answers them (\(why))"
    }

    static func names(_ s: ConntrackStates) -> String {
        [("NEW", ConntrackStates.new), ("ESTABLISHED", .established), ("RELATED", .related), ("INVALID", .invalid), ("UNTRACKED", .untracked)]
            .filter { s.contains($0.1) }.map(\.0).joined(separator: ",")
    }
}
