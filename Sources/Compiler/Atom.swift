import IptParse

/// One test of a rule after lowering; a flattened rule is a conjunction of atoms.
/// Only tests the XDP program can decide exactly become atoms.
public enum Atom: Equatable, Sendable {
    case source(CompiledTables.Prefix, negated: Bool)
    /// `-m set --match-set NAME src` over a hash:ip / hash:net set.
    case sourceSet(String, negated: Bool)
    case destination(CompiledTables.Prefix, negated: Bool)
    case proto(UInt8, negated: Bool)
    case sourcePorts([ClosedRange<UInt16>], negated: Bool)
    case destinationPorts([ClosedRange<UInt16>], negated: Bool)
    case eitherPorts([ClosedRange<UInt16>], negated: Bool)
    case tcpFlags(TCPFlags, negated: Bool)
    case icmp(CompiledTables.ICMPTest, negated: Bool)
    case conntrack(ConntrackStates, negated: Bool)
    /// true: a non-first fragment (`-f`); false: not one (also implied by every L4 match).
    case fragment(Bool)
    case length(ClosedRange<UInt16>, negated: Bool)
    case ttl(TTLMatch)

    /// The same test negated, when one atom can say it (used for RETURN and goto).
    var negation: Atom? {
        switch self {
        case .source(let p, let n): .source(p, negated: !n)
        case .sourceSet(let s, let n): .sourceSet(s, negated: !n)
        case .destination(let p, let n): .destination(p, negated: !n)
        case .proto(let p, let n): .proto(p, negated: !n)
        case .sourcePorts(let r, let n): .sourcePorts(r, negated: !n)
        case .destinationPorts(let r, let n): .destinationPorts(r, negated: !n)
        case .eitherPorts(let r, let n): .eitherPorts(r, negated: !n)
        case .tcpFlags(let f, let n): .tcpFlags(f, negated: !n)
        case .icmp(let i, let n): .icmp(i, negated: !n)
        case .conntrack(let s, let n): .conntrack(s, negated: !n)
        case .fragment(let f): .fragment(!f)
        case .length(let r, let n): .length(r, negated: !n)
        case .ttl(let t):
            switch t.op {
            case .eq: .ttl(TTLMatch(op: .ne, value: t.value))
            case .ne: .ttl(TTLMatch(op: .eq, value: t.value))
            default: nil
            }
        }
    }
}

/// Why a rule cannot be lowered to atoms.
struct Unsupported: Error, Equatable {
    var reason: String
    var advice: String
}

/// Rule -> atoms, for one interface (`-i` is decided here, at compile time).
struct AtomLowering {
    let interface: String
    let sets: [String: SetInfo]

    struct SetInfo {
        var dimension: Int
        var family: String
    }

    /// nil when the rule can never match on this interface.
    func atoms(of rule: Rule) throws(Unsupported) -> [Atom]? {
        var out: [Atom] = []
        if let i = rule.inInterface {
            let name = i.value
            let matches = name.hasSuffix("+") ? interface.hasPrefix(String(name.dropLast())) : interface == name
            if matches == i.negated { return nil }
        }
        if rule.outInterface != nil {
            throw Unsupported(reason: "-o has no meaning for packets that arrive", advice: "remove -o from INPUT rules")
        }
        if let s = rule.source { out.append(.source(try prefix(s.value), negated: s.negated)) }
        if let d = rule.destination { out.append(.destination(try prefix(d.value), negated: d.negated)) }
        if let p = rule.proto { out.append(.proto(p.value, negated: p.negated)) }
        if let f = rule.fragment { out.append(.fragment(f)) }
        var l4Match = false
        for m in rule.matches {
            switch m {
            case .tcp(let t):
                l4Match = true
                if let r = t.sourcePort { out.append(.sourcePorts([r.value.lower...r.value.upper], negated: r.negated)) }
                if let r = t.destinationPort { out.append(.destinationPorts([r.value.lower...r.value.upper], negated: r.negated)) }
                if let f = t.flags { out.append(.tcpFlags(f.value, negated: f.negated)) }
                if t.option != nil {
                    throw Unsupported(reason: "--tcp-option needs the TCP options parsed, which the XDP program does not do",
                                      advice: "drop the --tcp-option test or keep this rule in iptables")
                }
            case .udp(let u):
                l4Match = true
                if let r = u.sourcePort { out.append(.sourcePorts([r.value.lower...r.value.upper], negated: r.negated)) }
                if let r = u.destinationPort { out.append(.destinationPorts([r.value.lower...r.value.upper], negated: r.negated)) }
            case .sctp(let u):
                l4Match = true
                if u.chunkTypes != nil {
                    throw Unsupported(reason: "sctp --chunk-types is not evaluated in XDP", advice: "keep this rule in iptables")
                }
                if let r = u.sourcePort { out.append(.sourcePorts([r.value.lower...r.value.upper], negated: r.negated)) }
                if let r = u.destinationPort { out.append(.destinationPorts([r.value.lower...r.value.upper], negated: r.negated)) }
            case .multiport(let mp):
                l4Match = true
                let ranges = mp.ports.map { $0.lower...$0.upper }
                switch mp.direction {
                case .source: out.append(.sourcePorts(ranges, negated: mp.negated))
                case .destination: out.append(.destinationPorts(ranges, negated: mp.negated))
                case .either: out.append(.eitherPorts(ranges, negated: mp.negated))
                }
            case .icmp(let i):
                l4Match = true
                if !i.any || i.negated {
                    out.append(.icmp(CompiledTables.ICMPTest(type: i.any ? 255 : i.type, codes: i.codes), negated: i.negated))
                }
            case .icmp6:
                throw Unsupported(reason: "ICMPv6 in an IPv4 ruleset", advice: "")
            case .conntrack(let c):
                if !c.other.isEmpty {
                    throw Unsupported(reason: "conntrack options other than --ctstate (\(c.other.map { "--" + $0.name }.joined(separator: " "))) are not evaluated in XDP",
                                      advice: "keep this rule in iptables")
                }
                if let s = c.states { out.append(.conntrack(s.value, negated: s.negated)) }
            case .state(let s):
                out.append(.conntrack(s.value, negated: s.negated))
            case .set(let s):
                guard s.other.isEmpty else {
                    throw Unsupported(reason: "set counter options are not evaluated in XDP", advice: "keep this rule in iptables")
                }
                guard s.directions == [.src] else {
                    throw Unsupported(reason: "only '--match-set NAME src' is compiled; '\(s.directions.map(\.rawValue).joined(separator: ","))' is not",
                                      advice: "use a hash:ip or hash:net set matched on src")
                }
                guard let info = sets[s.name] else {
                    throw Unsupported(reason: "set \(s.name) is not defined (pass its 'ipset save' text)", advice: "ebpf-ipset restore the set first")
                }
                guard info.dimension == 1, info.family == "inet" else {
                    throw Unsupported(reason: "set \(s.name) is not a one-dimensional IPv4 set (hash:ip, hash:net)", advice: "")
                }
                out.append(.sourceSet(s.name, negated: s.negated))
            case .length(let l):
                out.append(.length(l.value.lower...l.value.upper, negated: l.negated))
            case .ttl(let t):
                out.append(.ttl(t))
            case .comment:
                break
            case .iprange:
                throw Unsupported(reason: "iprange is not compiled yet", advice: "write the range as CIDR prefixes with -s/-d or a hash:net set")
            case .limit, .string, .mark, .mac, .pkttype, .addrtype, .hl, .opaque:
                throw Unsupported(reason: "match '\(m.name)' is not evaluated in XDP" + Self.why(m.name), advice: "keep this rule in iptables")
            }
        }
        // Every L4 match refuses non-first fragments in the kernel; a port test says so by
        // itself in the XDP program, other L4 tests need it spelled out.
        let hasPortTest = out.contains { if case .sourcePorts = $0 { true } else if case .destinationPorts = $0 { true } else if case .eitherPorts = $0 { true } else { false } }
        if l4Match && !hasPortTest && !out.contains(.fragment(false)) && !out.contains(.fragment(true)) {
            out.append(.fragment(false))
        }
        return out
    }

    /// The tests of a rule that lower, the others left out: a superset of the packets it
    /// matches (empty: could be any packet), for rules that cannot be compiled.
    func knownAtoms(of rule: Rule) -> [Atom] {
        var r = rule
        r.outInterface = nil
        r.inInterface = nil
        if let s = r.source, s.value.prefixLength == nil { r.source = nil }
        if let d = r.destination, d.value.prefixLength == nil { r.destination = nil }
        r.matches = rule.matches.filter { m in
            var one = r
            one.matches = [m]
            return (try? atoms(of: one)) != nil
        }
        return (try? atoms(of: r)) ?? []
    }

    static func why(_ name: String) -> String {
        switch name {
        case "limit", "hashlimit", "recent": ": it keeps state over time that iptables and XDP would not share"
        case "string": ": payload search is not done in XDP"
        case "mark", "connmark": ": packet marks do not exist yet at XDP time"
        case "addrtype", "pkttype": ": the address type is known only after routing"
        default: ""
        }
    }

    func prefix(_ p: IPPrefix) throws(Unsupported) -> CompiledTables.Prefix {
        guard let len = p.prefixLength else {
            throw Unsupported(reason: "a mask with holes (\(p.saveText)) is not a prefix", advice: "split it into CIDR prefixes")
        }
        return CompiledTables.Prefix(address: UInt32(truncatingIfNeeded: p.bits.lo), length: UInt8(len))
    }
}
