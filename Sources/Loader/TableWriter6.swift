import CLibbpf
import Compiler
import Glibc
import IptParse

/// The IPv6 tables (bpf/ebpf_iptables.h, its IPv6 part): their own live word (`live6`) and two generations,
/// written and flipped as the IPv4 ones are (TableWriter.swift), never touching IPv4's.
extension Dataplane {
    /// Replaces IPv6 generation `generation` with `tables`. Refused for the live generation
    /// once one is active, and during a transition.
    public func write6(_ tables: CompiledTables6, generation g: UInt32) throws(LoaderError) {
        guard g <= 1 else { throw LoaderError("write IPv6 generation \(g): there are only 0 and 1") }
        let live = try live6()
        let active = try map("v6_conf").lookup(live.generation, as: eipt6_conf.self).map { $0.policy != 0 } ?? false
        guard live.flags & EIPT_LIVE_BOTH == 0 else {
            throw LoaderError("write IPv6 generation \(g): a transition is under way; activate or cancel it first")
        }
        guard live.generation != g || !active else {
            throw LoaderError("write IPv6 generation \(g): it is live; write the other generation and activate it")
        }
        guard tables.entries.count <= Int(EIPT6_MAX_ENTRIES), tables.positions < EIPT6_MAX_POSITIONS else {
            throw LoaderError("write IPv6 generation \(g): \(tables.entries.count) entries, \(tables.positions) positions, more than the program holds")
        }
        // The configuration first says "nothing here" (policy 0: the judge passes), so a
        // packet judged by this generation meanwhile (only possible while it is not live)
        // never sees half of it.
        try map("v6_conf").update(g, eipt6_conf())
        let sets = try map(DataplaneNames.map("v6_set", g))
        let hosts = try map(DataplaneNames.map("v6_sethost", g))
        let setports = try map(DataplaneNames.map("v6_setport", g))
        try sets.clear(keyType: eipt6_set_key.self)
        try hosts.clear(keyType: eipt6_set_host_key.self)
        try setports.clear(keyType: eipt6_setport_key.self)
        let hostSets = TableEncoding6.hostSets(tables)
        var plainKeys: [eipt6_set_key] = [], plainValues: [UInt32] = []
        var hostKeys: [eipt6_set_host_key] = [], hostValues: [UInt32] = []
        var portKeys: [eipt6_setport_key] = [], portValues: [UInt32] = []
        for m in tables.setMembers {
            let addr = TableEncoding6.bytes(m.address)
            if m.port == nil, hostSets.contains(m.set) {
                var k = eipt6_set_host_key()
                k.set_id = m.set
                withUnsafeMutableBytes(of: &k.addr) { $0.copyBytes(from: addr) }
                hostKeys.append(k)
                hostValues.append(m.nomatch ? 0 : 1)
            } else if let p = m.port {
                var k = eipt6_setport_key()
                k.prefixlen = 64 + UInt32(m.prefixLength)
                k.set_id = m.set
                k.proto = p.proto
                k.port = p.port.bigEndian
                withUnsafeMutableBytes(of: &k.addr) { $0.copyBytes(from: addr) }
                portKeys.append(k)
                portValues.append(m.nomatch ? 0 : 1)
            } else {
                var k = eipt6_set_key()
                k.prefixlen = 32 + UInt32(m.prefixLength)
                k.set_id = m.set
                withUnsafeMutableBytes(of: &k.addr) { $0.copyBytes(from: addr) }
                plainKeys.append(k)
                plainValues.append(m.nomatch ? 0 : 1)
            }
        }
        try sets.updateAll(keys: plainKeys, values: plainValues)
        try hosts.updateAll(keys: hostKeys, values: hostValues)
        try setports.updateAll(keys: portKeys, values: portValues)
        let rows = tables.entries.map { TableEncoding6.row($0, hostSets: hostSets) }
        try map(DataplaneNames.map("v6_rules", g)).updateAll(keys: Array(0..<UInt32(rows.count)), values: rows)
        try zeroCounters6(generation: g)

        var conf = eipt6_conf()
        conf.policy = tables.policy.rawValue
        conf.count = UInt32(rows.count)
        conf.positions = tables.positions
        conf.flags = (tables.passAll ? EIPT6_GEN_PASS_ALL : 0) | (tables.firstFragmentsUp ? EIPT6_GEN_FRAGMENTS_UP : 0)
            | (tables.needsConntrack ? EIPT6_GEN_NEEDS_CT : 0)
        try map("v6_conf").update(g, conf)
    }

    /// Makes IPv6 generation `generation` the one packets are judged by (ending a transition).
    public func activate6(generation: UInt32) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("activate IPv6 generation \(generation): there are only 0 and 1") }
        var live = try live6()
        live.generation = generation
        try map("live6").update(UInt32(0), live)
        live.flags &= ~EIPT_LIVE_BOTH
        try map("live6").update(UInt32(0), live)
    }

    /// Both IPv6 generations judge; a packet is dropped only if both drop it.
    public func beginTransition6() throws(LoaderError) {
        var live = try live6()
        live.flags |= EIPT_LIVE_BOTH
        try map("live6").update(UInt32(0), live)
    }

    /// The live IPv6 generation and whether one was written (else every IPv6 packet passes).
    public func liveGeneration6() throws(LoaderError) -> (generation: UInt32, active: Bool) {
        let live = try live6()
        let conf = try map("v6_conf").lookup(live.generation, as: eipt6_conf.self)
        return (live.generation, (conf?.policy ?? 0) != 0)
    }

    /// Sets or clears EIPT_LIVE_* bits of live6 (ALL_DESTINATIONS for tests, PASS_ALL).
    public func setLive6Flags(set: UInt32, clear: UInt32) throws(LoaderError) {
        var live = try live6()
        live.flags = (live.flags | set) & ~clear
        try map("live6").update(UInt32(0), live)
    }

    /// Packets and bytes XDP dropped per IPv6 position of `generation` (policy last), summed over CPUs.
    public func counters6(generation g: UInt32) throws(LoaderError) -> [Counters] {
        let conf = try map("v6_conf").lookup(g, as: eipt6_conf.self) ?? eipt6_conf()
        let m = try map(DataplaneNames.map("v6_counters", g))
        let cpus = Dataplane.possibleCPUs
        var out: [Counters] = []
        for pos in 0...min(conf.positions, EIPT6_MAX_POSITIONS) {
            let per = try m.lookupPerCPU(pos, as: eipt_counter.self, cpus: cpus)
            out.append(Counters(packets: per.reduce(0) { $0 + $1.packets }, bytes: per.reduce(0) { $0 + $1.bytes }))
        }
        return out
    }

    /// How many set keys generation `g` holds in each of its maps: the address tries
    /// (v6_set_N), the /128 hashes (v6_sethost_N) and the `,port` tries (v6_setport_N).
    public func setKeys6(generation g: UInt32) throws(LoaderError) -> (prefixes: Int, hosts: Int, ports: Int) {
        (try map(DataplaneNames.map("v6_set", g)).keys(eipt6_set_key.self).count,
         try map(DataplaneNames.map("v6_sethost", g)).keys(eipt6_set_host_key.self).count,
         try map(DataplaneNames.map("v6_setport", g)).keys(eipt6_setport_key.self).count)
    }

    /// v6_stats summed over CPUs, indexed by EIPT6_STAT_*.
    public func stats6() throws(LoaderError) -> [UInt64] {
        let m = try map("v6_stats")
        let cpus = Dataplane.possibleCPUs
        var out: [UInt64] = []
        for i in 0..<UInt32(EIPT6_STAT_COUNT.rawValue) {
            out.append(try m.lookupPerCPU(i, as: UInt64.self, cpus: cpus).reduce(0, +))
        }
        return out
    }

    /// Zeroes every IPv6 counter of `generation`.
    public func zeroCounters6(generation g: UInt32) throws(LoaderError) {
        let m = try map(DataplaneNames.map("v6_counters", g))
        let zeros = [eipt_counter](repeating: eipt_counter(), count: Dataplane.possibleCPUs)
        for pos in 0...EIPT6_MAX_POSITIONS {
            let r = zeros.withUnsafeBufferPointer { v in
                withUnsafePointer(to: pos) { k in bpf_map_update_elem(m.fd, k, v.baseAddress, UInt64(BPF_ANY)) }
            }
            guard r == 0 else { throw LoaderError.errno("zero IPv6 counters of generation \(g)", r) }
        }
    }

    func live6() throws(LoaderError) -> eipt_live {
        try map("live6").lookup(UInt32(0), as: eipt_live.self) ?? eipt_live()
    }
}

enum TableEncoding6 {
    static func bytes(_ b: IPBits) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: b.hi >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: b.lo >> (56 - 8 * UInt64($0))) }
    }

    /// The sets looked up by address alone whose every member is a /128 (hash:ip without a
    /// netmask, or a hash:net holding only hosts): the program finds them with one hash
    /// lookup (v6_sethost_N, EIPT6_SET_HOSTS) instead of a walk of the trie. An exact match
    /// is what the trie's longest prefix would give when no member is shorter.
    static func hostSets(_ tables: CompiledTables6) -> Set<UInt32> {
        var plain = Set<UInt32>(), shorter = Set<UInt32>()
        for e in tables.entries { if let s = e.tests.set, s.port == .none { plain.insert(s.id) } }
        for m in tables.setMembers where m.port == nil && m.prefixLength != 128 { shorter.insert(m.set) }
        for m in tables.setMembers where m.port != nil { shorter.insert(m.set) }
        return plain.subtracting(shorter)
    }

    static func row(_ e: CompiledTables6.Entry, hostSets: Set<UInt32> = []) -> eipt6_rule {
        var r = eipt6_rule()
        r.pos = e.position
        r.verdict = e.verdict.rawValue
        var tests: UInt32 = 0, neg: UInt32 = 0
        func mark(_ bit: eipt6_test, _ negated: Bool) {
            tests |= bit.rawValue
            if negated { neg |= bit.rawValue }
        }
        let t = e.tests
        if let s = t.source {
            mark(EIPT6_T_SRC, s.negated)
            withUnsafeMutableBytes(of: &r.src) { $0.copyBytes(from: bytes(s.value.bits)) }
            withUnsafeMutableBytes(of: &r.src_mask) { $0.copyBytes(from: bytes(s.value.maskBits)) }
        }
        if let d = t.destination {
            mark(EIPT6_T_DST, d.negated)
            withUnsafeMutableBytes(of: &r.dst) { $0.copyBytes(from: bytes(d.value.bits)) }
            withUnsafeMutableBytes(of: &r.dst_mask) { $0.copyBytes(from: bytes(d.value.maskBits)) }
        }
        if let p = t.proto { mark(EIPT6_T_PROTO, p.negated); r.proto = p.value }
        if let s = t.sourcePorts {
            mark(EIPT6_T_SPORT, s.negated)
            r.sport_lo = s.value.lowerBound
            r.sport_hi = s.value.upperBound
        }
        if let d = t.destinationPorts {
            mark(EIPT6_T_DPORT, d.negated)
            r.dport_lo = d.value.lowerBound
            r.dport_hi = d.value.upperBound
        }
        if let i = t.icmp {
            mark(EIPT6_T_ICMP, i.negated)
            r.icmp_type = i.value.type
            r.icmp_code_lo = i.value.codes.lowerBound
            r.icmp_code_hi = i.value.codes.upperBound
        }
        if let h = t.hopLimit {
            mark(EIPT6_T_HL, h.negated)
            r.hl_op = switch h.value.comparison {
            case .eq: UInt8(EIPT6_HL_EQ)
            case .lt: UInt8(EIPT6_HL_LT)
            case .gt: UInt8(EIPT6_HL_GT)
            }
            r.hl_value = h.value.value
        }
        if let rt = t.routing {
            mark(EIPT6_T_RT, false)
            r.rt_segs_lo = rt.segmentsLeft.lowerBound
            r.rt_segs_hi = rt.segmentsLeft.upperBound
            var flags: UInt32 = rt.segmentsNegated ? EIPT6_RT_INV_SEGS : 0
            if let ty = rt.type {
                flags |= EIPT6_RT_TYPE | (ty.negated ? EIPT6_RT_INV_TYPE : 0)
                r.rt_type = ty.value
            }
            if let len = rt.length {
                flags |= EIPT6_RT_LEN | (len.negated ? EIPT6_RT_INV_LEN : 0)
                r.rt_len = len.value
            }
            r.rt_flags = UInt8(flags)
        }
        if let h = t.headers {
            mark(EIPT6_T_HDR, false)
            r.hdr_match = h.mask
            r.hdr_mode = switch h.mode {
            case .exactly: UInt8(EIPT6_HDR_EXACTLY)
            case .notExactly: UInt8(EIPT6_HDR_NOT_EXACTLY)
            case .allOf: UInt8(EIPT6_HDR_ALL_OF)
            case .noneOf: UInt8(EIPT6_HDR_NONE_OF)
            }
        }
        if let f = t.fragment {
            mark(EIPT6_T_FRAG, false)
            r.frag_id_lo = f.ids.lowerBound
            r.frag_id_hi = f.ids.upperBound
            var flags: UInt32 = f.idsNegated ? EIPT6_FRAG_INV_IDS : 0
            if f.reservedZero { flags |= EIPT6_FRAG_RES }
            if f.first { flags |= EIPT6_FRAG_FIRST }
            if f.more { flags |= EIPT6_FRAG_MORE }
            if f.last { flags |= EIPT6_FRAG_LAST }
            r.frag_flags = UInt8(flags)
        }
        if let c = t.conntrack {
            mark(EIPT6_T_CT, c.negated)
            r.ct_states = UInt8(truncatingIfNeeded: c.value.rawValue)
        }
        if let s = t.set {
            mark(EIPT6_T_SET, s.negated)
            r.set_id = s.id
            switch s.port {
            case .none: r.set_flags = hostSets.contains(s.id) ? UInt8(EIPT6_SET_HOSTS) : 0
            case .source: r.set_flags = UInt8(EIPT6_SET_PORT)
            case .destination: r.set_flags = UInt8(EIPT6_SET_PORT | EIPT6_SET_DST_PORT)
            }
        }
        r.tests = tests
        r.neg = neg
        return r
    }
}

extension Dataplane {
    /// Passes every IPv6 packet untouched while on (live6's EIPT_LIVE_PASS_ALL).
    public func setPassAll6(_ on: Bool) throws(LoaderError) {
        try setLive6Flags(set: on ? EIPT_LIVE_PASS_ALL : 0, clear: on ? 0 : EIPT_LIVE_PASS_ALL)
    }

    /// Writes `tables` into the IPv6 generation that is not live (the live one when none was
    /// ever written) and makes it live.
    public func install6(_ tables: CompiledTables6) throws(LoaderError) {
        let (g, active) = try liveGeneration6()
        let idle = active ? 1 - g : g
        try write6(tables, generation: idle)
        try activate6(generation: idle)
    }
}
