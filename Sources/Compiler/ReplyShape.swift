import IptParse

/// What a REJECT rule's reply certainly is, as the kernel sends it through OUTPUT and
/// POSTROUTING (facts checked against the kernel in a namespace, docs/two-layers.md):
/// - protocol ICMP (type 3, the rule's code) or TCP with RST set and SYN/FIN/PSH/URG/ECE/CWR
///   clear, ACK set iff the original had none (nf_send_reset), no TCP options, 40 bytes;
/// - source = the original's destination, destination = the original's source, ports
///   swapped (only what the REJECT rule's own tests say about them is known);
/// - no in-interface (a locally generated packet: indev is "" in ip_packet_match);
/// - out-interface: the ingress interface XDP runs on, since XDP answers only when the reply
///   route goes back out of it (bpf/reject.h `eipt_reject_route`) and passes the rest up;
/// - never a fragment;
/// - conntrack: the original's entry attached in the reply direction (nf_ct_attach makes the
///   RST `IP_CT_RELATED_REPLY`; the ICMP error is related to it the same way), so state
///   RELATED — known only when the REJECT rule itself says the original was NEW
///   (`--state`/`--ctstate NEW`, the case checked against the kernel): an INVALID or
///   UNTRACKED original has no entry to attach, and its reply's state is another story
///   (ReplyStateSplit: proven per class of originals, the reply's state set for each).
struct ReplyShape: Equatable {
    var reply: RejectReply
    /// The interface XDP answers from: the reply's out-interface.
    var outInterface: String
    /// The reply's source lies in this prefix (the REJECT rule's `-d`); nil: not known.
    var source: IPPrefix?
    /// The reply's destination lies in this prefix (the REJECT rule's `-s`); nil: not known.
    var destination: IPPrefix?
    /// The RST's source port range (the original's destination port), nil: not known.
    var sourcePort: ValueRange?
    /// The RST's destination port range (the original's source port), nil: not known.
    var destinationPort: ValueRange?
    /// The RST's ACK bit, when the REJECT rule says whether the original had one.
    var ack: Bool?
    /// The original was tracked: the reply's state is RELATED.
    var tracked = false
    /// The original was NEW (an entry not confirmed yet, whose source NAT binding nat INPUT
    /// would have set up after filter INPUT): the RST passes nat POSTROUTING.
    var originalNew = false
    /// The original was INVALID (no entry to attach): conntrack sees the reply on its own at
    /// OUTPUT, an ICMP error or a RST no connection explains, so INVALID (icmp_error finds no
    /// entry for the quoted tuple; tcp_new refuses a RST), and without an entry
    /// nf_nat_inet_fn passes it through no nat chain (ReplyPath.proveByState).
    var invalidReply = false

    var proto: UInt8 {
        switch reply {
        case .icmpUnreachable: 1
        case .tcpReset: 6
        }
    }

    /// The shape of `rule`'s reply (a REJECT rule of filter INPUT or a chain it reaches).
    init(reply: RejectReply, rule: Rule, interface: String) {
        self.reply = reply
        outInterface = interface
        if let d = rule.destination, !d.negated { source = d.value }
        if let s = rule.source, !s.negated { destination = s.value }
        for m in rule.matches {
            switch m {
            case .tcp(let t) where reply == .tcpReset:
                if let p = t.destinationPort, !p.negated { sourcePort = p.value }
                if let p = t.sourcePort, !p.negated { destinationPort = p.value }
                // The original's ACK bit, when the rule's flags test pins it: nf_send_reset
                // answers a segment without ACK with RST|ACK, one with ACK with a bare RST.
                if let f = t.flags, !f.negated, f.value.mask & TCPBits.ack != 0 {
                    ack = f.value.compare & TCPBits.ack == 0
                }
            // Verified for NEW originals only (ESTABLISHED and RELATED ones should give RELATED
            // too, by nf_conntrack_attach, but were not checked against the kernel).
            case .state(let s) where !s.negated:
                if s.value.isSubset(of: [.new]) { tracked = true; originalNew = true }
            case .conntrack(let c):
                if let s = c.states, !s.negated, s.value.isSubset(of: [.new]) { tracked = true; originalNew = true }
            default:
                break
            }
        }
    }

    init(reply: RejectReply, outInterface: String) {
        self.reply = reply
        self.outInterface = outInterface
    }
}

enum TCPBits {
    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let rst: UInt8 = 0x04
    static let psh: UInt8 = 0x08
    static let ack: UInt8 = 0x10
    static let urg: UInt8 = 0x20
}

/// A test's answer for every packet of a shape: it certainly misses, certainly matches, or
/// may do either.
enum ShapeAnswer: Equatable {
    case miss
    case match
    case unknown

    var negated: ShapeAnswer {
        switch self {
        case .miss: .match
        case .match: .miss
        case .unknown: .unknown
        }
    }

    func negated(_ yes: Bool) -> ShapeAnswer { yes ? negated : self }

    /// A conjunction: one certain miss decides it; it matches only when every test does.
    static func all(_ answers: [ShapeAnswer]) -> ShapeAnswer {
        if answers.contains(.miss) { return .miss }
        return answers.allSatisfy { $0 == .match } ? .match : .unknown
    }
}

extension ReplyShape {
    /// Whether `rule`'s tests match the reply: ip_packet_match's fixed fields, then the matches.
    func answer(_ rule: Rule) -> ShapeAnswer {
        var answers: [ShapeAnswer] = []
        if let p = rule.proto { answers.append((p.value == proto ? ShapeAnswer.match : .miss).negated(p.negated)) }
        // A reply is never a fragment (at most 576 bytes, built whole).
        if let f = rule.fragment { answers.append(f ? .miss : .match) }
        if let s = rule.source { answers.append(Self.prefix(s.value, holds: source).negated(s.negated)) }
        if let d = rule.destination { answers.append(Self.prefix(d.value, holds: destination).negated(d.negated)) }
        if let i = rule.inInterface { answers.append(Self.interface(i.value, matches: "").negated(i.negated)) }
        if let o = rule.outInterface { answers.append(Self.interface(o.value, matches: outInterface).negated(o.negated)) }
        for m in rule.matches { answers.append(answer(m)) }
        return ShapeAnswer.all(answers)
    }

    func answer(_ m: Match) -> ShapeAnswer {
        switch m {
        case .comment:
            return .match
        case .tcp(let t):
            guard reply == .tcpReset else { return .unknown } // only with -p tcp, which misses
            var answers: [ShapeAnswer] = []
            if let p = t.sourcePort { answers.append(Self.range(p.value, holds: sourcePort).negated(p.negated)) }
            if let p = t.destinationPort { answers.append(Self.range(p.value, holds: destinationPort).negated(p.negated)) }
            if let f = t.flags { answers.append(flags(f.value).negated(f.negated)) }
            // nf_send_reset's header is 20 bytes: no options (xt_tcp: no options, no match).
            if let o = t.option { answers.append(ShapeAnswer.miss.negated(o.negated)) }
            return ShapeAnswer.all(answers)
        case .icmp(let i):
            guard case .icmpUnreachable(let code) = reply else { return .unknown }
            if i.any { return ShapeAnswer.match.negated(i.negated) }
            return (i.type == 3 && i.codes.contains(code) ? ShapeAnswer.match : .miss).negated(i.negated)
        case .state(let s):
            return state(s.value).negated(s.negated)
        case .conntrack(let c):
            guard c.other.isEmpty, let s = c.states else { return .unknown }
            return state(s.value).negated(s.negated)
        case .opaque(let call) where call.name == "owner":
            return ShapeAnswer.all(call.options.map { owner($0).negated($0.negated) })
        default:
            return .unknown
        }
    }

    /// xt_owner: the RST has no socket (nf_send_reset's skb: owner_mt answers `match ^ invert
    /// == 0`); the ICMP error has the kernel's ICMP socket, with a struct socket but no file
    /// (it answers `(match ^ invert) & (UID | GID) == 0`). Verified in the kernel: uid and gid
    /// tests miss both, `--socket-exists` matches the ICMP error only.
    func owner(_ option: ExtensionOption) -> ShapeAnswer {
        switch option.name {
        case "uid-owner", "gid-owner": .miss
        case "socket-exists": reply == .tcpReset ? .miss : .match
        default: .unknown
        }
    }

    /// xt_conntrack/xt_state: the state bit (RELATED) or, for SNAT/DNAT, the entry's NAT status.
    func state(_ states: ConntrackStates) -> ShapeAnswer {
        // No entry: conntrack_mt/state_mt see INVALID, and SNAT/DNAT need an entry.
        if invalidReply { return states.contains(.invalid) ? .match : .miss }
        guard tracked else { return .unknown }
        if states.contains(.related) { return .match }
        // SNAT/DNAT test the entry's NAT status bits, which a reply's shape does not tell.
        return states.isDisjoint(with: [.snat, .dnat]) ? .miss : .unknown
    }

    /// `--tcp-flags mask comp`: (flags & mask) == comp, with RST set, ACK as known, the rest clear.
    func flags(_ f: TCPFlags) -> ShapeAnswer {
        let known: UInt8 = ack == nil ? ~TCPBits.ack : 0xff
        let flags: UInt8 = TCPBits.rst | (ack == true ? TCPBits.ack : 0)
        let mask = f.mask & known
        if flags & mask != f.compare & mask { return .miss }
        return f.mask & ~known == 0 ? .match : .unknown
    }

    /// Whether a `-s`/`-d` prefix holds an address known to lie in `known`.
    static func prefix(_ p: IPPrefix, holds known: IPPrefix?) -> ShapeAnswer {
        if p.isAny { return .match }
        guard let k = known, k.family == p.family else { return .unknown }
        let inner = IPBits(hi: k.maskBits.hi & p.maskBits.hi, lo: k.maskBits.lo & p.maskBits.lo)
        let a = IPBits(hi: k.bits.hi & inner.hi, lo: k.bits.lo & inner.lo)
        let b = IPBits(hi: p.bits.hi & inner.hi, lo: p.bits.lo & inner.lo)
        if a != b { return .miss } // they differ where both fix the bits: disjoint
        // p contains k when p fixes no bit k leaves free.
        let pOnly = IPBits(hi: p.maskBits.hi & ~k.maskBits.hi, lo: p.maskBits.lo & ~k.maskBits.lo)
        return pOnly == IPBits() ? .match : .unknown
    }

    /// Whether a port range holds a port known to lie in `known`.
    static func range(_ r: ValueRange, holds known: ValueRange?) -> ShapeAnswer {
        if r.isFull { return .match }
        guard let k = known else { return .unknown }
        if k.lower >= r.lower && k.upper <= r.upper { return .match }
        if k.upper < r.lower || k.lower > r.upper { return .miss }
        return .unknown
    }

    /// ip_packet_match's interface test: a name, or a prefix ending in `+`.
    static func interface(_ pattern: String, matches name: String) -> ShapeAnswer {
        let hit = pattern.hasSuffix("+") ? name.hasPrefix(String(pattern.dropLast())) : name == pattern
        return hit ? .match : .miss
    }
}
