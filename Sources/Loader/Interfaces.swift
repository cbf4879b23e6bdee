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

    static func interfaceIndex(_ name: String, context: String) throws(LoaderError) -> Int32 {
        let i = if_nametoindex(name)
        guard i != 0 else { throw LoaderError.lastErrno(context) }
        return Int32(i)
    }
}

extension Dataplane {
    /// Replaces `local_addrs` with the IPv4 addresses (and their subnet broadcast addresses) of
    /// the calling thread's network namespace. Returns how many were written.
    /// Packets to other destinations pass untouched unless `allDestinations` is set.
    @discardableResult
    public func fillLocalAddresses() throws(LoaderError) -> Int {
        let addresses = try Dataplane.localAddresses()
        try setLocalAddresses(addresses)
        return addresses.count
    }

    /// Replaces `local_addrs` with `addresses` (host order).
    public func setLocalAddresses(_ addresses: [UInt32]) throws(LoaderError) {
        guard addresses.count <= Int(EIPT_MAX_LOCAL_ADDRS) else {
            throw LoaderError("fill local addresses: \(addresses.count) addresses, at most \(EIPT_MAX_LOCAL_ADDRS)")
        }
        let m = try map("local_addrs")
        try m.clear(keyType: eipt_local_key.self)
        let keys = Set(addresses).map { eipt_local_key(addr: $0.bigEndian) }
        try m.updateAll(keys: keys, values: [UInt32](repeating: 1, count: keys.count))
    }

    /// IPv4 addresses of this namespace's interfaces, host order, with broadcast addresses.
    static func localAddresses() throws(LoaderError) -> [UInt32] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { throw LoaderError.lastErrno("list interface addresses") }
        defer { freeifaddrs(head) }
        var out: Set<UInt32> = []
        var cur = head
        while let ifa = cur {
            defer { cur = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let address = ipv4(sa)
            out.insert(address)
            // The kernel adds a broadcast route for the subnet of every address shorter
            // than /31, whether or not a broadcast address was given ("broadcast X.255" in
            // `ip route show table local`).
            if let m = ifa.pointee.ifa_netmask, m.pointee.sa_family == sa_family_t(AF_INET) {
                let mask = ipv4(m)
                if mask.nonzeroBitCount < 31 && address & 0xff00_0000 != 0x7f00_0000 {
                    out.insert(address | ~mask)
                }
            }
            if ifa.pointee.ifa_flags & UInt32(IFF_BROADCAST) != 0,
               let b = ifa.pointee.ifa_ifu.ifu_broadaddr, b.pointee.sa_family == sa_family_t(AF_INET) {
                out.insert(ipv4(b))
            }
        }
        return out.sorted()
    }

    private static func ipv4(_ sa: UnsafeMutablePointer<sockaddr>) -> UInt32 {
        sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
    }
}
