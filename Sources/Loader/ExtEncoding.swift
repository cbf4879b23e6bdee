import CLibbpf
import Compiler

/// ExtTest -> `struct eipt_ext` (bpf/ebpf_iptables.h). One case per kind; the payload
/// goes into the kind's member of the union, in the byte order the kind's header says.
enum ExtEncoding {
    /// `stamp`: one value per generation write, never 0 (stateful kinds: a state slot set up
    /// by another write is a fresh bucket or counter).
    static func encode(_ t: ExtTest, generation: UInt32, stamp: UInt64 = 0) throws(LoaderError) -> eipt_ext {
        var e = eipt_ext()
        switch t {
        case .mac(let addr, let negated):
            guard addr.count == 6 else {
                throw LoaderError("write generation \(generation): a MAC address of \(addr.count) bytes")
            }
            e.kind = UInt16(EIPT_EXT_MAC.rawValue)
            e.neg = negated ? 1 : 0
            var m = eipt_ext_mac()
            withUnsafeMutableBytes(of: &m.addr) { buf in
                for i in 0..<6 { buf[i] = addr[i] }
            }
            put(m, into: &e)
        case .addrtype(let a, let negated):
            e.kind = UInt16(EIPT_EXT_ADDRTYPE.rawValue)
            e.neg = negated ? 1 : 0
            var m = eipt_ext_addrtype()
            m.src_mask = a.sourceMask ?? 0
            m.dst_mask = a.destinationMask ?? 0
            m.src_neg = a.sourceNegated ? 1 : 0
            m.dst_neg = a.destinationNegated ? 1 : 0
            m.limit_in = a.limitIfaceIn ? 1 : 0
            // A present test with an empty mask never holds; the program reads a 0 mask as no
            // test, so say it with the only bit no address type sets... none exists: refuse.
            if a.sourceMask == 0 || a.destinationMask == 0 {
                throw LoaderError("write generation \(generation): an addrtype test with no type")
            }
            put(m, into: &e)
        case .pkttype(let t, let negated):
            e.kind = UInt16(EIPT_EXT_PKTTYPE.rawValue)
            e.neg = negated ? 1 : 0
            var m = eipt_ext_pkttype()
            m.type = t
            put(m, into: &e)
        case .limit, .statistic, .hashlimit:
            e = StatefulExtEncoding.encode(t, stamp: stamp)
        case .string(let s, let negated):
            guard s.fitsRow else {
                throw LoaderError("write generation \(generation): a \(s.pattern.count)-byte string does not fit an ext row")
            }
            e.kind = UInt16(EIPT_EXT_STRING.rawValue)
            e.neg = negated ? 1 : 0
            var d = eipt_ext_string()
            d.from = s.from
            d.to = s.to
            d.patlen = UInt8(s.pattern.count)
            d.flags = UInt8((s.boyerMoore ? EIPT_STR_BM.rawValue : 0) | (s.ignoreCase ? EIPT_STR_ICASE.rawValue : 0))
            let pat = s.storedPattern, good = s.boyerMoore ? s.goodShift : []
            withUnsafeMutableBytes(of: &d.bytes) { buf in
                for (i, b) in pat.enumerated() { buf[i] = b }
                for (i, g) in good.enumerated() { buf[StringSearch.maxBoyerMoore + i] = UInt8(truncatingIfNeeded: g) }
            }
            put(d, into: &e)
        case .tcpOption(let o, let negated):
            e.kind = UInt16(EIPT_EXT_TCPOPT.rawValue)
            e.neg = negated ? 1 : 0
            put(eipt_ext_tcpopt(option: o), into: &e)
        case .ipRange(let dst, let lo, let hi, let negated):
            e.kind = UInt16(EIPT_EXT_IPRANGE.rawValue)
            e.neg = negated ? 1 : 0
            var r = eipt_ext_iprange()
            r.lo = lo
            r.hi = hi
            r.dst = dst ? 1 : 0
            put(r, into: &e)
        case .length(let r, let negated):
            e.kind = UInt16(EIPT_EXT_LENGTH.rawValue)
            e.neg = negated ? 1 : 0
            put(eipt_ext_length(lo: r.lowerBound, hi: r.upperBound), into: &e)
        case .ttl(let t):
            e.kind = UInt16(EIPT_EXT_TTL.rawValue)
            // ne is eq negated (enum eipt_ttl_op has no NE).
            let op: eipt_ttl_op = t.op == .lt ? EIPT_TTL_LT : t.op == .gt ? EIPT_TTL_GT : EIPT_TTL_EQ
            e.neg = t.op == .ne ? 1 : 0
            put(eipt_ext_ttl(op: UInt8(op.rawValue), value: t.value), into: &e)
        case .conntrack(let t):
            e.kind = UInt16(EIPT_EXT_CONNTRACK.rawValue)
            e.flags = t.newConnectionNATUnknown ? UInt8(EIPT_CTM_F_NEW_NAT_UNKNOWN) : 0
            var m = eipt_ext_conntrack()
            m.match = t.match.rawValue
            m.invert = t.invert.rawValue
            m.states = t.states
            m.proto = t.proto
            m.status = t.status
            // Addresses and masks in network order (the program compares them with the
            // entry's as read), ports host order.
            withUnsafeMutableBytes(of: &m.addr) { buf in
                for (i, a) in t.addresses.enumerated() { buf.storeBytes(of: a.address.bigEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
            withUnsafeMutableBytes(of: &m.mask) { buf in
                for (i, a) in t.addresses.enumerated() { buf.storeBytes(of: a.mask.bigEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
            withUnsafeMutableBytes(of: &m.port_lo) { buf in
                for (i, r) in t.ports.enumerated() { buf.storeBytes(of: r.lowerBound, toByteOffset: 2 * i, as: UInt16.self) }
            }
            withUnsafeMutableBytes(of: &m.port_hi) { buf in
                for (i, r) in t.ports.enumerated() { buf.storeBytes(of: r.upperBound, toByteOffset: 2 * i, as: UInt16.self) }
            }
            put(m, into: &e)
        case .recent(let r):
            e.kind = UInt16(EIPT_EXT_RECENT.rawValue)
            e.neg = r.negated ? 1 : 0
            put(RecentEncoding.payload(r, params: RecentModuleParams.current), into: &e)
        case .time(let t, let negated):
            guard !t.kernelTimezone else {
                throw LoaderError("write generation \(generation): a -m time test with --kerneltz")
            }
            e.kind = UInt16(EIPT_EXT_TIME.rawValue)
            e.neg = negated ? 1 : 0
            var d = eipt_ext_time()
            d.date_start = t.dateStart
            d.date_stop = t.dateStop
            d.daytime_start = t.daytimeStart
            d.daytime_stop = t.daytimeStop
            d.monthdays = t.monthdays
            d.weekdays = t.weekdays
            d.flags = t.contiguous ? UInt8(EIPT_TIME_F_CONTIGUOUS) : 0
            put(d, into: &e)
        case .memoNegation(let inner):
            // Never evaluated as its kind: eipt_stateful_begin answers it from the memo
            // (TableEncoding sets EIPT_EXT_ID_MEMO_NOT in its id).
            e = try encode(inner, generation: generation, stamp: stamp)
        case .proto(let p, let negated):
            e.kind = UInt16(EIPT_EXT_PROTO.rawValue)
            e.neg = negated ? 1 : 0
            put(eipt_ext_proto(proto: p), into: &e)
        }
        return e
    }

    /// A kind's payload struct into the row's `data` bytes.
    static func put<T: BitwiseCopyable>(_ payload: T, into e: inout eipt_ext) {
        precondition(MemoryLayout<T>.size <= MemoryLayout.size(ofValue: e.data))
        withUnsafeBytes(of: payload) { src in
            withUnsafeMutableBytes(of: &e.data) { dst in
                dst.copyMemory(from: src)
            }
        }
    }
}
