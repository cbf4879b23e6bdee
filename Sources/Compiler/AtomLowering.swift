import IptParse

/// Rule -> atoms, for one interface (`-i` is decided here, at compile time).
///
/// Every test that lowers becomes an atom; every test that does not is named in
/// `unsupported` and left out. The atoms of a rule with unsupported tests therefore hold
/// for every packet the rule matches (an over-approximation): exactly what a `KERNEL`
/// position needs. A rule is exact when nothing was left out.
struct AtomLowering {
    let interface: String
    let sets: [String: SetTrust]
    /// How many rules of the ruleset use each --hashlimit-name (StatefulLowering.swift).
    var hashlimitUses: [String: Int] = [:]
    /// The `-m recent` lists XDP evaluates (RecentLists); the others stay the kernel's.
    var recent = RecentLists()
    /// Never set yet: statistic --mode nth stays in the kernel (StatefulLowering.swift: its
    /// counter would see only what XDP passes up; and --xdp-only must not change what
    /// compiles). --mode random is a pending draw (PendingDraws.swift).
    var statisticInXDP = false
    /// `-m conntrack` options, SNAT/DNAT states and state tests after a stateful test, as
    /// ext tests (ConntrackTest.swift); set by the compiler.
    var conntrackInXDP = false
    /// nat PREROUTING may DNAT a connection's first packet (ConntrackContext).
    var newConnectionNATUnknown = true

    /// Whether XDP may use a set's members as they were given.
    enum SetTrust: Equatable {
        case usable
        case notIPv4Source
        /// Its members change inside the kernel (timeouts, `-j SET`).
        case dynamic(UnsupportedTest.DynamicSet)
    }

    enum Lowered: Equatable {
        /// The rule's `-i` excludes this interface: it never sees our packets.
        case never(inInterface: String)
        case tests([Atom], unsupported: [UnsupportedTest])
    }

    /// `leavingOutConntrack`: nat rules run for the first packet of a connection and apply
    /// to all of it, so their state tests say nothing about later packets.
    /// `ref`: the rule's place, which names the state of its stateful matches (ExtInstance).
    func lower(_ rule: Rule, ref: RuleRef? = nil, leavingOutConntrack: Bool = false) -> Lowered {
        var out: [Atom] = []
        var unsupported: [UnsupportedTest] = []
        if let i = rule.inInterface {
            let name = i.value
            let matches = name.hasSuffix("+") ? interface.hasPrefix(String(name.dropLast())) : interface == name
            if matches == i.negated { return .never(inInterface: (i.negated ? "! " : "") + name) }
        }
        if rule.outInterface != nil { unsupported.append(.outInterface) }
        if let s = rule.source {
            do { out.append(.source(try prefix(s.value), negated: s.negated)) } catch { unsupported.append(error) }
        }
        if let d = rule.destination {
            do { out.append(.destination(try prefix(d.value), negated: d.negated)) } catch { unsupported.append(error) }
        }
        if let p = rule.proto { out.append(.proto(p.value, negated: p.negated)) }
        if let f = rule.fragment { out.append(.fragment(f)) }
        var l4Match = false
        var order = StatefulOrder()
        for (mi, m) in rule.matches.enumerated() {
            let before = (out.count, l4Match)
            defer { order.saw(m, added: out[before.0...], l4: l4Match && !before.1) }
            switch m {
            case .tcp(let t):
                l4Match = true
                ports(t.sourcePort, t.destinationPort, into: &out)
                if let f = t.flags { out.append(.tcpFlags(f.value, negated: f.negated)) }
                if let o = t.option { out.append(.ext(.tcpOption(o.value, negated: o.negated))) }
            case .udp(let u):
                l4Match = true
                ports(u.sourcePort, u.destinationPort, into: &out)
            case .sctp(let u):
                l4Match = true
                ports(u.sourcePort, u.destinationPort, into: &out)
                if u.chunkTypes != nil { unsupported.append(.sctpChunkTypes) }
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
                unsupported.append(.icmp6)
            case .conntrack(let c):
                if leavingOutConntrack { continue }
                if conntrackInXDP, !c.other.isEmpty || order.afterStateful
                    || c.states?.value.intersection([.snat, .dnat]).isEmpty == false {
                    do { out.append(.ext(.conntrack(try ConntrackTest.lower(c, newConnectionNATUnknown: newConnectionNATUnknown)))) }
                    catch { unsupported.append(error) }
                    continue
                }
                if !c.other.isEmpty { unsupported.append(.conntrackOptions(c.other.map(\.name))) }
                if let s = c.states { state(s, into: &out, unsupported: &unsupported) }
            case .state(let s):
                if leavingOutConntrack { continue }
                // After a stateful test: an ext test, evaluated after it as iptables does.
                if conntrackInXDP && order.afterStateful { out.append(.ext(.conntrack(ConntrackTest(states: s)))); continue }
                state(s, into: &out, unsupported: &unsupported)
            case .set(let s):
                do { out.append(try set(s)) } catch { unsupported.append(error) }
            case .length(let l):
                out.append(.length(l.value.lower...l.value.upper, negated: l.negated))
            case .ttl(let t):
                out.append(.ttl(t))
            case .comment:
                break
            case .iprange(let r):
                do { out.append(contentsOf: try ipRange(r)) } catch { unsupported.append(error) }
            case .mac(let m):
                out.append(.ext(.mac(m.value, negated: m.negated)))
            case .addrtype(let a):
                if let t = Self.addrtype(a) {
                    out.append(.ext(t))
                } else {
                    unsupported.append(a.limitIfaceOut ? .addrtypeLimitOut : .match(m.name))
                }
            case .pkttype(let p):
                out.append(.ext(.pkttype(Self.packetType(p.value), negated: p.negated)))
            case _ where Self.isStateful(m):
                do { out.append(.ext(try stateful(m, match: mi, ref: ref))) } catch { unsupported.append(error) }
            case .string(let sm):
                do { out.append(.ext(try string(sm))) } catch { unsupported.append(error) }
            case .opaque(let e) where e.name == "recent":
                switch recentTest(e, rule: rule, ref: ref, index: rule.matches.firstIndex(of: m) ?? 0) {
                case .success(let t): out.append(.ext(.recent(t)))
                case .failure(let why): unsupported.append(why)
                }
            case .opaque(let e) where e.name == "time":
                do { out.append(.ext(try Self.time(e))) } catch { unsupported.append(error) }
            case .limit, .mark, .hl, .opaque:
                unsupported.append(.match(m.name))
            }
        }
        // Every L4 match refuses non-first fragments in the kernel (also when one of its
        // options was left out); a port test says so by itself in the XDP program, other
        // L4 tests need it spelled out.
        let hasPortTest = out.contains { if case .sourcePorts = $0 { true } else if case .destinationPorts = $0 { true } else if case .eitherPorts = $0 { true } else { false } }
        if l4Match && !hasPortTest && !out.contains(.fragment(false)) && !out.contains(.fragment(true)) {
            out.append(.fragment(false))
        }
        if let problem = order.problem { unsupported.append(problem) }
        if let problem = Self.placingDraw(&out) { unsupported.append(problem) }
        var named: [UnsupportedTest] = []
        for u in unsupported where !named.contains(u) { named.append(u) }
        return .tests(out, unsupported: named)
    }

    /// `-m addrtype` as one test; nil with --limit-iface-out (xt_addrtype's checkentry refuses
    /// it in INPUT, so such a rule never reaches INPUT; it stays with the kernel regardless)
    /// or an option without types.
    static func addrtype(_ a: AddrTypeMatch) -> ExtTest? {
        guard !a.limitIfaceOut else { return nil }
        func mask(_ names: [String]) -> UInt16 {
            names.reduce(0) { m, n in AddrTypeTest.rtnType(n).map { m | 1 << UInt16($0) } ?? m }
        }
        // An option with no type at all (iptables never writes one) stays with the kernel.
        if a.sourceTypes?.value.isEmpty == true || a.destinationTypes?.value.isEmpty == true { return nil }
        let t = AddrTypeTest(sourceMask: a.sourceTypes.map { mask($0.value) }, sourceNegated: a.sourceTypes?.negated ?? false,
                             destinationMask: a.destinationTypes.map { mask($0.value) },
                             destinationNegated: a.destinationTypes?.negated ?? false, limitIfaceIn: a.limitIfaceIn)
        return .addrtype(t, negated: false)
    }

    /// libxt_pkttype's names: unicast and host are PACKET_HOST.
    static func packetType(_ t: PacketType) -> UInt8 {
        switch t {
        case .unicast, .host: 0
        case .broadcast: 1
        case .multicast: 2
        case .otherhost: 3
        }
    }

    private func ports(_ s: Negatable<ValueRange>?, _ d: Negatable<ValueRange>?, into out: inout [Atom]) {
        if let r = s, let t = Self.portTest(r) { out.append(.sourcePorts(t.ranges, negated: t.negated)) }
        if let r = d, let t = Self.portTest(r) { out.append(.destinationPorts(t.ranges, negated: t.negated)) }
    }

    /// One port option as a test. A reversed range (`--dport 60000:29`, which iptables
    /// 1.8.9 stores for -p udp) holds no port, since the kernel tests `lo <= port <= hi`
    /// (xt_udp's port_match, nft_range under iptables-nft): an empty list, a test no packet
    /// passes; with `!` every port, so no test (nil): the L4 match's refusal of non-first
    /// fragments is then added by lower(), as for any L4 match without a port test.
    static func portTest(_ r: Negatable<ValueRange>) -> (ranges: [ClosedRange<UInt16>], negated: Bool)? {
        guard r.value.lower <= r.value.upper else { return r.negated ? nil : ([], false) }
        return ([r.value.lower...r.value.upper], r.negated)
    }

    private func state(_ s: Negatable<ConntrackStates>, into out: inout [Atom], unsupported: inout [UnsupportedTest]) {
        // SNAT/DNAT are properties of a connection's NAT binding, not states the lookup reports.
        if !s.value.intersection([.snat, .dnat]).isEmpty {
            unsupported.append(.conntrackNATStates)
        } else {
            out.append(.conntrack(s.value, negated: s.negated))
        }
    }

    private func set(_ s: SetMatch) throws(UnsupportedTest) -> Atom {
        guard s.other.isEmpty else { throw .setCounterOptions(set: s.name) }
        guard s.directions == [.src] else { throw .setDirections(set: s.name, s.directions.map(\.rawValue)) }
        switch sets[s.name] {
        case nil: throw .unknownSet(s.name)
        case .notIPv4Source?: throw .setNotIPv4Source(s.name)
        case .dynamic(let why)?: throw .dynamicSet(s.name, why)
        case .usable?: return .sourceSet(s.name, negated: s.negated)
        }
    }

    /// xt_iprange: each direction its own test with its own `!`.
    private func ipRange(_ r: IPRangeMatch) throws(UnsupportedTest) -> [Atom] {
        func one(_ n: Negatable<AddressRange>, destination: Bool) throws(UnsupportedTest) -> Atom {
            guard n.value.lower.count == 4, n.value.upper.count == 4 else { throw .iprange }
            func word(_ b: [UInt8]) -> UInt32 { b.reduce(0) { $0 << 8 | UInt32($1) } }
            return .ext(.ipRange(destination: destination, lower: word(n.value.lower), upper: word(n.value.upper), negated: n.negated))
        }
        var out: [Atom] = []
        if let s = r.source { out.append(try one(s, destination: false)) }
        if let d = r.destination { out.append(try one(d, destination: true)) }
        return out
    }

    /// xt_string; a pattern longer than the program's row holds stays in the kernel.
    private func string(_ m: StringMatch) throws(UnsupportedTest) -> ExtTest {
        let s = StringSearch(pattern: m.pattern, from: m.from, to: m.to, boyerMoore: m.algorithm == "bm", ignoreCase: m.ignoreCase)
        guard s.fitsRow else { throw .stringTooLong(algorithm: m.algorithm, bytes: m.pattern.count) }
        return .string(s, negated: m.negated)
    }

    func prefix(_ p: IPPrefix) throws(UnsupportedTest) -> CompiledTables.Prefix {
        guard let len = p.prefixLength else { throw .nonPrefixMask(p.saveText) }
        return CompiledTables.Prefix(address: UInt32(truncatingIfNeeded: p.bits.lo), length: UInt8(len))
    }
}
