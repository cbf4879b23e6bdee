import CLibbpf
import Compiler
import IptParse

/// CompiledTables values in the byte layouts of bpf/ebpf_iptables.h: addresses and key
/// ports in network order, fallback ports in host order.
enum TableEncoding {
    static func key(_ pp: CompiledTables.ProtoPort) -> eipt_proto_port_key {
        eipt_proto_port_key(proto: pp.proto, any_port: pp.port == nil ? 1 : 0, dport: (pp.port ?? 0).bigEndian)
    }

    static func key(_ p: CompiledTables.Prefix) -> eipt_src_key {
        eipt_src_key(prefixlen: UInt32(p.length), addr: p.address.bigEndian)
    }

    static func key(_ s: CompiledTables.SourceProtoPort) -> eipt_src_proto_port_key {
        eipt_src_proto_port_key(prefixlen: 32 + UInt32(s.source.length), proto: s.protoPort.proto,
                                any_port: s.protoPort.port == nil ? 1 : 0,
                                dport: (s.protoPort.port ?? 0).bigEndian, addr: s.source.address.bigEndian)
    }

    static func hostKey(_ p: CompiledTables.Prefix) -> eipt_src_host_key {
        eipt_src_host_key(addr: p.address.bigEndian)
    }

    static func hostKey(_ s: CompiledTables.SourceProtoPort) -> eipt_spp_host_key {
        eipt_spp_host_key(proto: s.protoPort.proto, any_port: s.protoPort.port == nil ? 1 : 0,
                          dport: (s.protoPort.port ?? 0).bigEndian, addr: s.source.address.bigEndian)
    }

    /// The rule_info entry of a verdict (enum eipt_verdict).
    static func ruleInfo(_ v: CompiledTables.Verdict, reject: RejectReply? = nil) -> eipt_rule_info {
        var info = eipt_rule_info()
        switch v {
        case .accept: info.verdict = EIPT_ACCEPT.rawValue
        case .drop: info.verdict = EIPT_DROP.rawValue
        case .kernel: info.verdict = EIPT_KERNEL.rawValue
        case .continue: info.verdict = EIPT_CONTINUE.rawValue
        case .continueWithoutEntry: info.verdict = EIPT_CONTINUE_NO_CT.rawValue
        case .reject:
            // A reject position without its reply cannot be answered: the kernel decides it.
            guard let reject else { info.verdict = EIPT_KERNEL.rawValue; break }
            info.verdict = EIPT_REJECT.rawValue
            info.reject_with = reject.wire
        }
        return info
    }

    /// gen_config.flags of a generation: conntrack, NAT check, XDP-only, table shapes.
    static func generationFlags(_ t: CompiledTables) -> UInt32 {
        // The program's shape bits (ProgramShape): conntrack, NAT, xdp-only, the tables as
        // shapeFlags says, and whether fallback rows, ext tests and REJECT positions exist.
        ProgramShape(t).generationBits
    }

    /// EIPT_GEN_* bits of the keyed tables that hold entries of each shape.
    static func shapeFlags(_ t: CompiledTables) -> UInt32 {
        var f: UInt32 = 0
        for k in t.protoPort.keys { f |= flag(.protoPort(k)) }
        for k in t.source.keys { f |= flag(.source(k)) }
        for k in t.sourceProtoPort.keys { f |= flag(.sourceProtoPort(k)) }
        return f
    }

    /// The EIPT_GEN_* bit of the table (and shape) an entry lives in.
    static func flag(_ key: LiveKey) -> UInt32 {
        switch key {
        case .protoPort(let k): return k.port == nil ? EIPT_GEN_PP_ANY : EIPT_GEN_PP_PORT
        case .source(let p): return p.length == 32 ? EIPT_GEN_SRC_HOST : EIPT_GEN_SRC_TRIE
        case .sourceProtoPort(let s):
            switch (s.source.length == 32, s.protoPort.port == nil) {
            case (true, false): return EIPT_GEN_SPP_HOST_PORT
            case (true, true): return EIPT_GEN_SPP_HOST_ANY
            case (false, false): return EIPT_GEN_SPP_TRIE_PORT
            case (false, true): return EIPT_GEN_SPP_TRIE_ANY
            }
        }
    }

    static func mask(_ length: UInt8) -> UInt32 {
        length == 0 ? 0 : UInt32.max << (32 - UInt32(min(length, 32)))
    }

    /// The fallback list in position order (stable), checked against the array's size,
    /// and the extension tests its rows point into (`extStart`: the first free ext row).
    static func fallback(_ rules: [CompiledTables.FallbackRule], generation: UInt32,
                         extStart: UInt32 = 0) throws(LoaderError) -> (rows: [eipt_fb_rule], ext: [eipt_ext]) {
        guard rules.count <= Int(EIPT_MAX_FALLBACK) else {
            throw LoaderError("write generation \(generation): \(rules.count) fallback rules, at most \(EIPT_MAX_FALLBACK)")
        }
        let sorted = rules.enumerated().sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
        var out: [eipt_fb_rule] = []
        var ext: [eipt_ext] = []
        var ids: [ExtInstance: UInt32] = [:]
        let stamp = StatefulExtEncoding.writeStamp()
        for (_, rule) in sorted {
            var row = try encode(rule, generation: generation)
            if !rule.ext.isEmpty {
                row.ext_first = UInt16(truncatingIfNeeded: extStart + UInt32(ext.count))
                row.ext_count = UInt16(rule.ext.count)
                if rule.ext.contains(where: \.isStateful) { row.ext_flags = UInt8(EIPT_EXT_F_STATEFUL) }
                for e in rule.ext {
                    var encoded = try ExtEncoding.encode(e, generation: generation, stamp: stamp)
                    if let instance = e.instance {
                        // One id per instance, shared by every position it was inlined into.
                        let id = ids[instance] ?? UInt32(ids.count)
                        ids[instance] = id
                        guard id < UInt32(ExtTest.maxStatefulInstances) else {
                            throw LoaderError("write generation \(generation): more than \(ExtTest.maxStatefulInstances) stateful match instances")
                        }
                        encoded.id = id
                        if case .memoNegation = e { encoded.id |= EIPT_EXT_ID_MEMO_NOT }
                    }
                    ext.append(encoded)
                }
            }
            out.append(row)
        }
        guard extStart + UInt32(ext.count) <= EIPT_MAX_EXT else {
            throw LoaderError("write generation \(generation): \(extStart + UInt32(ext.count)) extension tests, at most \(EIPT_MAX_EXT)")
        }
        return (out, ext)
    }

    static func encode(_ f: CompiledTables.FallbackRule, generation: UInt32) throws(LoaderError) -> eipt_fb_rule {
        var r = eipt_fb_rule()
        r.pos = f.position
        func add(_ test: eipt_fb_test, negated: Bool) {
            r.tests |= test.rawValue
            if negated { r.neg |= test.rawValue }
        }
        if let s = f.source {
            add(EIPT_T_SRC, negated: s.negated)
            r.src_addr = s.value.address.bigEndian
            r.src_mask = mask(s.value.length).bigEndian
        }
        if let d = f.destination {
            add(EIPT_T_DST, negated: d.negated)
            r.dst_addr = d.value.address.bigEndian
            r.dst_mask = mask(d.value.length).bigEndian
        }
        if let p = f.proto {
            add(EIPT_T_PROTO, negated: p.negated)
            r.proto = p.value
        }
        if let s = f.sourcePorts {
            add(EIPT_T_SPORT, negated: s.negated)
            (r.sport_lo, r.sport_hi) = (s.value.lowerBound, s.value.upperBound)
        }
        if f.destinationPorts != nil && f.eitherPort != nil {
            throw LoaderError("write generation \(generation): fallback rule at \(f.position) has both --dport and --ports, the layout holds one range")
        }
        if let d = f.destinationPorts {
            add(EIPT_T_DPORT, negated: d.negated)
            (r.dport_lo, r.dport_hi) = (d.value.lowerBound, d.value.upperBound)
        }
        if let e = f.eitherPort {
            add(EIPT_T_PORTS, negated: e.negated)
            (r.dport_lo, r.dport_hi) = (e.value.lowerBound, e.value.upperBound)
        }
        if let t = f.tcpFlags {
            add(EIPT_T_TCP_FLAGS, negated: t.negated)
            (r.tcp_flags_mask, r.tcp_flags_cmp) = (t.value.mask, t.value.compare)
        }
        if let i = f.icmp {
            add(EIPT_T_ICMP, negated: i.negated)
            r.icmp_type = i.value.type
            (r.icmp_code_lo, r.icmp_code_hi) = (i.value.codes.lowerBound, i.value.codes.upperBound)
        }
        if let c = f.conntrack {
            guard c.value.rawValue & ~UInt16(0x1f) == 0 else {
                throw LoaderError("write generation \(generation): fallback rule at \(f.position) tests SNAT/DNAT conntrack states, which the data plane cannot see")
            }
            add(EIPT_T_CT, negated: c.negated)
            r.ct_states = UInt8(c.value.rawValue)
        }
        if let frag = f.fragment {
            add(EIPT_T_FRAG, negated: !frag)
        }
        if let l = f.length {
            add(EIPT_T_LEN, negated: l.negated)
            (r.len_lo, r.len_hi) = (l.value.lowerBound, l.value.upperBound)
        }
        if let t = f.ttl {
            switch t.op {
            case .eq: add(EIPT_T_TTL, negated: false); r.ttl_op = UInt8(EIPT_TTL_EQ.rawValue)
            case .ne: add(EIPT_T_TTL, negated: true); r.ttl_op = UInt8(EIPT_TTL_EQ.rawValue)
            case .lt: add(EIPT_T_TTL, negated: false); r.ttl_op = UInt8(EIPT_TTL_LT.rawValue)
            case .gt: add(EIPT_T_TTL, negated: false); r.ttl_op = UInt8(EIPT_TTL_GT.rawValue)
            }
            r.ttl_val = t.value
        }
        return r
    }
}
