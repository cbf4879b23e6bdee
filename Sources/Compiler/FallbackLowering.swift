import IptParse

/// A conjunction of atoms as fallback entries. A disjunction inside one atom
/// (multiport lists, the members of a small set) becomes one entry per alternative, all
/// at the same position; a negated disjunction (`! --dports 1,2`) cannot be said that way
/// and is refused.
enum FallbackLowering {
    static let maxEntriesPerRule = 32
    /// Mirrors EIPT_MAX_EXT_PER_RULE in bpf/ebpf_iptables.bpf.c.
    static let maxExtPerRule = 8

    /// `setMembers`: the prefixes of a set that may be spelled out as alternatives (small,
    /// no nomatch members), or nil.
    static func lower(_ atoms: [Atom], position: UInt32,
                      setMembers: (String) -> [CompiledTables.Prefix]? = { _ in nil }) throws(UnsupportedTest) -> [CompiledTables.FallbackRule] {
        var alternatives = [CompiledTables.FallbackRule(position: position)]
        func each(_ f: (inout CompiledTables.FallbackRule) -> Void) {
            for i in alternatives.indices { f(&alternatives[i]) }
        }
        func fork(_ ranges: [ClosedRange<UInt16>], negated: Bool, either: Bool = false, _ set: @escaping (inout CompiledTables.FallbackRule, Negatable<ClosedRange<UInt16>>) -> Void) throws(UnsupportedTest) {
            var (ranges, negated) = (ranges, negated)
            if negated && ranges.count > 1 {
                // `! --sports 1:5,80`: the ports outside the list, as positive ranges. Exact:
                // a port test, negated or not, is false for a packet without ports (xt_multiport
                // and xt_tcpudp return false for non-first fragments whatever the `!`).
                guard let rest = complement(ranges), !either else { throw .layout(.negatedPortList) }
                (ranges, negated) = (rest, false)
            }
            alternatives = alternatives.flatMap { base in
                ranges.map { r in
                    var copy = base
                    set(&copy, Negatable(r, negated: negated))
                    return copy
                }
            }
            if alternatives.count > maxEntriesPerRule { throw .layout(.tooManyEntries(limit: maxEntriesPerRule)) }
        }
        var seen = Set<String>()
        // Second address and protocol tests (a RETURN's or the NOTRACK fold's tests joined
        // with the rule's own, where normalization could not merge them): ext rows, placed
        // before the rule's own ext tests as the fixed tests they are (a stateful test is
        // charged only for packets every fixed test admits).
        var repeated: [ExtTest] = []
        // A set is spelled out last, against the source test (if any) already in place.
        let ordered = atoms.filter { if case .sourceSet = $0 { false } else { true } }
            + atoms.filter { if case .sourceSet = $0 { true } else { false } }
        for a in ordered {
            // Normalization merged what can be merged; two tests of one kind left here are not one entry.
            let kind = a.kind
            if case .ext(let e) = a {
                // Extension tests are a list: any number, in the rule's order.
                each { $0.ext.append(e) }
                continue
            }
            if !seen.insert(kind).inserted {
                // A second length or TTL test: an extension row says it (the entry holds one).
                switch a {
                case .length(let r, let n): each { $0.ext.append(.length(r, negated: n)) }; continue
                case .ttl(let t): each { $0.ext.append(.ttl(t)) }; continue
                case .source, .destination, .proto:
                    if let e = repeatedAsExt(a) { repeated.append(e); continue }
                    throw .layout(.repeatedTest(kind))
                default: throw .layout(.repeatedTest(kind))
                }
            }
            switch a {
            case .source(let p, let n):
                each { $0.source = Negatable(p, negated: n) }
            case .destination(let p, let n):
                each { $0.destination = Negatable(p, negated: n) }
            case .proto(let p, let n):
                each { $0.proto = Negatable(p, negated: n) }
            case .sourcePorts(let r, let n):
                try fork(r, negated: n) { $0.sourcePorts = $1 }
            case .destinationPorts(let r, let n):
                try fork(r, negated: n) { $0.destinationPorts = $1 }
            case .eitherPorts(let r, let n):
                try fork(r, negated: n, either: true) { $0.eitherPort = $1 }
            case .tcpFlags(let f, let n):
                each { $0.tcpFlags = Negatable(f, negated: n) }
            case .icmp(let i, let n):
                each { $0.icmp = Negatable(i, negated: n) }
            case .conntrack(let s, let n):
                each { $0.conntrack = Negatable(s, negated: n) }
            case .fragment(let f):
                each { $0.fragment = f }
            case .length(let r, let n):
                each { $0.length = Negatable(r, negated: n) }
            case .ttl(let t):
                each { $0.ttl = t }
            case .sourceSet(let name, false):
                guard let members = setMembers(name), alternatives.allSatisfy({ $0.source?.negated != true }) else {
                    throw .layout(.setWithOtherTests)
                }
                // Each member within the rule's source prefix is one alternative.
                alternatives = alternatives.flatMap { base in
                    members.compactMap { m -> CompiledTables.FallbackRule? in
                        var copy = base
                        guard let p = base.source?.value else {
                            copy.source = Negatable(m)
                            return copy
                        }
                        if p.contains(m) { copy.source = Negatable(m) } else if !m.contains(p) { return nil }
                        return copy
                    }
                }
                if alternatives.count > maxEntriesPerRule { throw .layout(.tooManyEntries(limit: maxEntriesPerRule)) }
            case .sourceSet(_, true):
                throw .layout(.setWithOtherTests)
            case .ext:
                break // handled above
            }
        }
        if !repeated.isEmpty { each { $0.ext = repeated + $0.ext } }
        // The entry holds one port range for --dport and --ports alike.
        if let first = alternatives.first, first.ext.count > maxExtPerRule {
            throw .layout(.tooManyExtTests(limit: maxExtPerRule))
        }
        if alternatives.contains(where: { $0.destinationPorts != nil && $0.eitherPort != nil }) {
            throw .layout(.portsAndEitherPorts)
        }
        return alternatives
    }

    /// A second source or destination test as an iprange row (a prefix is the range of its
    /// addresses; xt_iprange and ip_packet_match agree on `!`), a second protocol test as a
    /// protocol row. nil for anything else.
    static func repeatedAsExt(_ a: Atom) -> ExtTest? {
        func bounds(_ p: CompiledTables.Prefix) -> (UInt32, UInt32) {
            let mask: UInt32 = p.length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(min(p.length, 32)))
            return (p.address & mask, (p.address & mask) | ~mask)
        }
        switch a {
        case .source(let p, let n):
            let (lo, hi) = bounds(p)
            return .ipRange(destination: false, lower: lo, upper: hi, negated: n)
        case .destination(let p, let n):
            let (lo, hi) = bounds(p)
            return .ipRange(destination: true, lower: lo, upper: hi, negated: n)
        case .proto(let p, let n) where p != 0:
            return .proto(p, negated: n)
        default:
            return nil
        }
    }

    /// The ports 0...65535 outside `ranges`, as ranges; nil when none are left.
    static func complement(_ ranges: [ClosedRange<UInt16>]) -> [ClosedRange<UInt16>]? {
        var out: [ClosedRange<UInt16>] = []
        var next = 0 // first port not yet covered or emitted
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if Int(r.lowerBound) > next { out.append(UInt16(next)...(r.lowerBound - 1)) }
            next = max(next, Int(r.upperBound) + 1)
        }
        if next <= 65535 { out.append(UInt16(next)...65535) }
        return out.isEmpty ? nil : out
    }
}
