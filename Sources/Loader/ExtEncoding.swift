import CLibbpf
import Compiler

/// ExtTest -> `struct eipt_ext` (bpf/ebpf_iptables.h). One case per kind; the payload
/// goes into the kind's member of the union, in the byte order the kind's header says.
enum ExtEncoding {
    static func encode(_ t: ExtTest, generation: UInt32) throws(LoaderError) -> eipt_ext {
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
        case .recent(let r):
            e.kind = UInt16(EIPT_EXT_RECENT.rawValue)
            e.neg = r.negated ? 1 : 0
            put(RecentEncoding.payload(r, params: RecentModuleParams.current), into: &e)
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
