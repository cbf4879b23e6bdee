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
