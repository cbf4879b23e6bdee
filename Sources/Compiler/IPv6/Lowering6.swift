import IptParse

/// One ip6tables rule -> the alternatives (a disjunction of conjunctions) XDP tests, for one
/// interface. A test XDP cannot decide exactly is named in `unsupported` and left out, so
/// the alternatives hold for every packet the rule matches (an over-approximation, what a
/// `KERNEL` entry needs); the rule is exact when nothing was left out.
struct Lowering6 {
    let interface: String
    let sets: [String: IpsetSet]
    /// Sets a `-j SET` rule writes: their members change inside the kernel.
    let writtenSets: Set<String>
    var setIDs: [String: UInt32] = [:]

    enum Lowered: Equatable {
        /// The rule's `-i` excludes this interface.
        case never
        case tests([CompiledTables6.Tests], unsupported: [String])
    }

    mutating func lower(_ rule: Rule) -> Lowered {
        var t = CompiledTables6.Tests()
        var unsupported: [String] = []
        var alternatives: [[CompiledTables6.Tests]] = []
        if let i = rule.inInterface {
            let name = i.value
            let matches = name.hasSuffix("+") ? interface.hasPrefix(String(name.dropLast())) : interface == name
            if matches == i.negated { return .never }
        }
        if rule.outInterface != nil { unsupported.append("-o") }
        if let s = rule.source {
            if s.value.prefixLength != nil { t.source = s } else { unsupported.append("-s with a mask that is not a prefix") }
        }
        if let d = rule.destination {
            if d.value.prefixLength != nil { t.destination = d } else { unsupported.append("-d with a mask that is not a prefix") }
        }
        if let p = rule.proto {
            // -p all (0) tests nothing; `! -p all` matches nothing, which iptables refuses.
            if p.value != 0 { t.proto = p } else if p.negated { unsupported.append("! -p all") }
        }
        if rule.fragment != nil { unsupported.append("-f") }
        for m in rule.matches {
            switch m {
            case .tcp(let tcp):
                ports(tcp.sourcePort, tcp.destinationPort, into: &t, unsupported: &unsupported)
                if tcp.flags != nil { unsupported.append("--tcp-flags") }
                if tcp.option != nil { unsupported.append("--tcp-option") }
            case .udp(let u):
                ports(u.sourcePort, u.destinationPort, into: &t, unsupported: &unsupported)
            case .sctp(let s):
                ports(s.sourcePort, s.destinationPort, into: &t, unsupported: &unsupported)
                if s.chunkTypes != nil { unsupported.append("--chunk-types") }
            case .multiport(let mp):
                // Not negated: one alternative per range (and per direction for --ports).
                guard !mp.negated else { unsupported.append("! multiport"); continue }
                var alts: [CompiledTables6.Tests] = []
                for r in mp.ports where r.lower <= r.upper {
                    var a = CompiledTables6.Tests()
                    switch mp.direction {
                    case .source: a.sourcePorts = Negatable(r.lower...r.upper)
                    case .destination: a.destinationPorts = Negatable(r.lower...r.upper)
                    case .either:
                        a.sourcePorts = Negatable(r.lower...r.upper)
                        var b = CompiledTables6.Tests()
                        b.destinationPorts = Negatable(r.lower...r.upper)
                        alts.append(b)
                    }
                    alts.append(a)
                }
                alternatives.append(alts)
            case .icmp6(let i):
                // xt icmp6: (type == t && code in [lo, hi]) ^ invert; no wildcard type.
                if !(i.any && !i.negated) {
                    if i.any { unsupported.append("! --icmpv6-type any") } else {
                        t.icmp = Negatable(CompiledTables6.ICMPTest(type: i.type, codes: i.codes), negated: i.negated)
                    }
                }
            case .set(let s):
                if let test = set(s) { t.set = test } else { unsupported.append("-m set --match-set \(s.name)") }
            case .state(let st):
                if st.value.intersection([.snat, .dnat]).isEmpty { t.conntrack = st } else { unsupported.append("-m state") }
            case .conntrack(let c):
                // --ctstate alone (SNAT/DNAT are properties of a binding, not states the
                // lookup reports); every other conntrack option is the kernel's.
                if c.other.isEmpty, let st = c.states, st.value.intersection([.snat, .dnat]).isEmpty {
                    t.conntrack = st
                } else {
                    unsupported.append("-m conntrack")
                }
            case .hl(let h):
                let test: (CompiledTables6.HopLimitTest.Comparison, Bool) = switch h.op {
                case .eq: (.eq, false)
                case .ne: (.eq, true)
                case .lt: (.lt, false)
                case .gt: (.gt, false)
                }
                if t.hopLimit == nil {
                    t.hopLimit = Negatable(CompiledTables6.HopLimitTest(comparison: test.0, value: h.value), negated: test.1)
                } else {
                    unsupported.append("two -m hl tests")
                }
            case .opaque(let e) where e.name == "ipv6header":
                if let h = Self.headers(e), t.headers == nil { t.headers = h } else { unsupported.append("-m ipv6header") }
            case .opaque(let e) where e.name == "frag":
                if let f = Self.fragment(e), t.fragment == nil { t.fragment = f } else { unsupported.append("-m frag") }
            case .opaque(let e) where e.name == "rt":
                if let r = Self.routing(e), t.routing == nil { t.routing = r } else { unsupported.append("-m rt") }
            case .comment:
                break
            default:
                unsupported.append("-m \(m.name)")
            }
        }
        // Conjoin the fixed tests with every choice of the alternatives.
        var out: [CompiledTables6.Tests] = [t]
        for alts in alternatives {
            var next: [CompiledTables6.Tests] = []
            for base in out {
                for a in alts {
                    if let c = base.and(a) { next.append(c) } else { unsupported.append("two tests of one kind"); next.append(base) }
                }
            }
            out = next
        }
        var named: [String] = []
        for u in unsupported where !named.contains(u) { named.append(u) }
        return .tests(out, unsupported: named)
    }

    /// `-m rt`'s --rt-type, --rt-segsleft and --rt-len (libxt_rt: segments left default to
    /// 0:0xffffffff, one number is a range of one, --rt-len is the header's length in bytes
    /// as ipv6_optlen counts it); nil for the type-0 options (--rt-0-res, --rt-0-addrs,
    /// --rt-0-not-strict: left to the kernel) or a value the header cannot hold.
    static func routing(_ e: ExtensionCall) -> CompiledTables6.RoutingTest? {
        var r = CompiledTables6.RoutingTest()
        for o in e.options {
            guard o.args.count == 1 else { return nil }
            let a = o.args[0]
            switch o.name {
            case "rt-type":
                guard let v = UInt32(a), v <= 255 else { return nil }
                r.type = Negatable(UInt8(v), negated: o.negated)
            case "rt-len":
                guard let v = UInt32(a), v <= 2048 else { return nil }
                r.length = Negatable(UInt16(v), negated: o.negated)
            case "rt-segsleft":
                guard let range = ClosedRange<UInt32>(colonSeparated: a) else { return nil }
                r.segmentsLeft = range
                r.segmentsNegated = o.negated
            default:
                return nil
            }
        }
        return r
    }

    /// `-m ipv6header --header LIST [--soft]` (libxt_ipv6header's names, the short ones and
    /// numbers too); nil for a name it does not know.
    static func headers(_ e: ExtensionCall) -> CompiledTables6.HeaderTest? {
        let bits: [String: UInt8] = [
            "hop-by-hop": 128, "hop": 128, "0": 128, "ipv6-opts": 64, "dst": 64, "60": 64,
            "ipv6-route": 32, "route": 32, "43": 32, "ipv6-frag": 16, "frag": 16, "44": 16,
            "ah": 8, "auth": 8, "51": 8, "esp": 4, "50": 4, "ipv6-nonxt": 2, "none": 2, "59": 2,
            "protocol": 1, "prot": 1,
        ]
        var mask: UInt8 = 0, negated = false, soft = false, seen = false
        for o in e.options {
            switch (o.name, o.args.count) {
            case ("header", 1):
                for name in o.args[0].split(separator: ",") {
                    guard let b = bits[name.lowercased()] else { return nil }
                    mask |= b
                }
                negated = o.negated
                seen = true
            case ("soft", 0) where !o.negated: soft = true
            default: return nil
            }
        }
        guard seen else { return nil }
        let mode: CompiledTables6.HeaderTest.Mode = switch (soft, negated) {
        case (false, false): .exactly
        case (false, true): .notExactly
        case (true, false): .allOf
        case (true, true): .noneOf
        }
        return CompiledTables6.HeaderTest(mask: mask, mode: mode)
    }

    /// `-m frag`'s options (libxt_frag: ids default to 0:0xffffffff, one number is a range of
    /// one); nil for anything else.
    static func fragment(_ e: ExtensionCall) -> CompiledTables6.FragmentTest? {
        var f = CompiledTables6.FragmentTest()
        for o in e.options {
            switch (o.name, o.args.count, o.negated) {
            case ("fragid", 1, _):
                guard let range = ClosedRange<UInt32>(colonSeparated: o.args[0]) else { return nil }
                f.ids = range
                f.idsNegated = o.negated
            case ("fraglen", 1, _): continue // frag_mt6 never reads it
            case ("fragres", 0, false): f.reservedZero = true
            case ("fragfirst", 0, false): f.first = true
            case ("fragmore", 0, false): f.more = true
            case ("fraglast", 0, false): f.last = true
            default: return nil
            }
        }
        return f
    }

    /// A reversed range holds no port (the kernel tests lo <= port <= hi): not modelled here.
    private func ports(_ s: Negatable<ValueRange>?, _ d: Negatable<ValueRange>?, into t: inout CompiledTables6.Tests,
                       unsupported: inout [String]) {
        if let r = s {
            if r.value.lower <= r.value.upper { t.sourcePorts = Negatable(r.value.lower...r.value.upper, negated: r.negated) }
            else { unsupported.append("a reversed port range") }
        }
        if let r = d {
            if r.value.lower <= r.value.upper { t.destinationPorts = Negatable(r.value.lower...r.value.upper, negated: r.negated) }
            else { unsupported.append("a reversed port range") }
        }
    }

    /// An inet6 hash:ip / hash:net set tested on the source, or a hash:ip,port /
    /// hash:net,port set on the source and a port, whose members change only by commands
    /// (no timeout, no `-j SET` writer); nil otherwise.
    private mutating func set(_ m: SetMatch) -> CompiledTables6.SetTest? {
        guard m.other.isEmpty, let s = sets[m.name], s.create.family == .inet6, s.create.timeout == nil,
              !writtenSets.contains(m.name) else { return nil }
        let port: CompiledTables6.SetTest.Port
        switch (s.create.type, m.directions) {
        case (.hashIP, [.src]), (.hashNet, [.src]): port = .none
        case (.hashIPPort, [.src, .dst]), (.hashNetPort, [.src, .dst]): port = .destination
        case (.hashIPPort, [.src, .src]), (.hashNetPort, [.src, .src]): port = .source
        default: return nil
        }
        let id = setIDs[m.name] ?? UInt32(setIDs.count + 1)
        setIDs[m.name] = id
        return CompiledTables6.SetTest(id: id, port: port, negated: m.negated)
    }
}
