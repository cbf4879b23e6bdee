import CLibbpf
import Glibc

/// How an XDP program is attached: in the driver (`native`, veth and most NICs) or after
/// the kernel built an skb (`generic`, works everywhere, slower).
public enum XDPMode: String, Sendable {
    case native, generic

    var flags: UInt32 {
        switch self {
        case .native: return 1 << 2 // XDP_FLAGS_DRV_MODE
        case .generic: return 1 << 1 // XDP_FLAGS_SKB_MODE
        }
    }
}

/// The XDP program attached to an interface.
public struct XDPAttachment: Equatable, Sendable {
    public var programID: UInt32
    public var mode: XDPMode
    public init(programID: UInt32, mode: XDPMode) {
        self.programID = programID
        self.mode = mode
    }
}

extension Dataplane {
    /// Attaches the program to `interface` (in the calling thread's network namespace).
    /// Fails with EBUSY when another XDP program is already attached there.
    public func attach(interface: String, mode: XDPMode = .native) throws(LoaderError) {
        let index = try Dataplane.interfaceIndex(interface, context: "attach xdp to \(interface)")
        let flags = mode.flags | (1 << 0) // XDP_FLAGS_UPDATE_IF_NOEXIST: never replace a program
        let r = bpf_xdp_attach(index, program.raw, flags, nil)
        guard r == 0 else { throw LoaderError.errno("attach xdp to \(interface)", r) }
        retakeLocalRoutesIfValid()
    }

    /// Detaches whatever XDP program is attached to `interface`, in whichever mode it is.
    public static func detach(interface: String) throws(LoaderError) {
        let index = try interfaceIndex(interface, context: "detach xdp from \(interface)")
        guard let current = try attached(interface: interface) else { return }
        let r = bpf_xdp_detach(index, current.mode.flags, nil)
        guard r == 0 else { throw LoaderError.errno("detach xdp from \(interface)", r) }
    }

    /// The XDP program attached to `interface`, or nil.
    public static func attached(interface: String) throws(LoaderError) -> XDPAttachment? {
        let index = try interfaceIndex(interface, context: "query xdp on \(interface)")
        var opts = bpf_xdp_query_opts()
        // libbpf rejects the call (EINVAL, "non-zero extra bytes") unless the padding after
        // attach_mode is zero, and Swift's zero initializer sets fields, not padding.
        withUnsafeMutableBytes(of: &opts) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        opts.sz = MemoryLayout<bpf_xdp_query_opts>.size
        let r = bpf_xdp_query(index, 0, &opts)
        guard r == 0 else { throw LoaderError.errno("query xdp on \(interface)", r) }
        switch opts.attach_mode {
        case 1: return XDPAttachment(programID: opts.drv_prog_id, mode: .native) // XDP_ATTACHED_DRV
        case 2: return XDPAttachment(programID: opts.skb_prog_id, mode: .generic) // XDP_ATTACHED_SKB
        case 0: return nil
        default:
            throw LoaderError("query xdp on \(interface): attached in offload or several modes at once (mode \(opts.attach_mode))")
        }
    }

    /// The program attached to `interface` when it is an ebpf-iptables program (by its name),
    /// whoever loaded it; nil when nothing or another program is attached there.
    public static func attachedDataplane(interface: String) throws(LoaderError) -> XDPAttachment? {
        guard let a = try attached(interface: interface) else { return nil }
        let fd = bpf_prog_get_fd_by_id(a.programID)
        guard fd >= 0 else { throw LoaderError.errno("open xdp program id \(a.programID) of \(interface)", fd) }
        let owned = OwnedFD(fd)
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = bpf_obj_get_info_by_fd(owned.raw, &info, &len)
        guard r == 0 else { throw LoaderError.errno("read info of xdp program id \(a.programID)", r) }
        let name = withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return DataplaneNames.programNames.contains(name) ? a : nil
    }

    static func interfaceIndex(_ name: String, context: String) throws(LoaderError) -> Int32 {
        let i = if_nametoindex(name)
        guard i != 0 else { throw LoaderError.lastErrno(context) }
        return Int32(i)
    }
}
