import CBpfObject
import Compiler
import CLibbpf
import Glibc

/// The kernel's local routing table (table 255), which `-m addrtype` looks addresses up in
/// (inet_dev_addr_type, net/ipv4/fib_frontend.c), copied into the program's `local_routes`
/// map together with the routing generation it was taken at (`local_state`; see
/// bpf/ext_addrtype.h). The program trusts the copy only while the namespace's generation
/// is still that one, so a copy taken before an address change is never used after it.
public enum LocalRoutes {
    static let lockPath = "/run/ebpf-iptables-local-routes.lock"
    static let mutex = ProcessMutex()
    /// One route of table 255 as RTM_GETROUTE dumps it.
    public struct Route: Equatable, Sendable {
        public var destination: UInt32 // host order
        public var length: UInt8
        public var type: UInt8 // RTN_*
        public var ifindex: UInt32 // RTA_OIF; 0 when absent
        /// TOS, multipath, nexthop object, dead or linkdown nexthop, source prefix: the kernel's
        /// lookup may skip the route or take another device than RTA_OIF.
        public var irregular: Bool
        public init(destination: UInt32, length: UInt8, type: UInt8, ifindex: UInt32, irregular: Bool = false) {
            self.destination = destination
            self.length = length
            self.type = type
            self.ifindex = ifindex
            self.irregular = irregular
        }
    }

    /// One prefix of the copy: what the first route of the prefix says (fib_table_lookup
    /// takes the first alias of the longest prefix that fits).
    public struct Entry: Equatable, Sendable {
        public var destination: UInt32
        public var length: UInt8
        public var type: UInt8
        public var ifindex: UInt32
        /// The program answers MAYBE for addresses that land here.
        public var unsure: Bool
        public init(destination: UInt32, length: UInt8, type: UInt8, ifindex: UInt32, unsure: Bool) {
            self.destination = destination
            self.length = length
            self.type = type
            self.ifindex = ifindex
            self.unsure = unsure
        }
    }

    /// The routes of table 255 in dump order, merged by prefix. A prefix is unsure when a
    /// route of it is irregular, when its routes disagree on type or device, or when its type
    /// is not one fib_table_lookup returns as a result (blackhole, unreachable, prohibit, throw
    /// and the rest make the lookup fail, and inet_dev_addr_type then says UNICAST: left to
    /// the kernel rather than mirrored).
    public static func entries(_ routes: [Route]) -> [Entry] {
        var order: [UInt64] = []
        var byKey: [UInt64: Entry] = [:]
        for r in routes {
            let mask: UInt32 = r.length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(min(r.length, 32)))
            let dst = r.destination & mask
            let key = UInt64(dst) << 8 | UInt64(r.length)
            let regular = !r.irregular && (1...5).contains(r.type)
            if var e = byKey[key] {
                if e.type != r.type || e.ifindex != r.ifindex || !regular { e.unsure = true }
                byKey[key] = e
            } else {
                order.append(key)
                byKey[key] = Entry(destination: dst, length: r.length, type: r.type, ifindex: r.ifindex, unsure: !regular)
            }
        }
        return order.compactMap { byKey[$0] }
    }

    /// Table 255 of the calling thread's network namespace (RTM_GETROUTE dump over NETLINK_ROUTE).
    public static func dump() throws(LoaderError) -> [Route] {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else { throw LoaderError.lastErrno("netlink route socket") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // nlmsghdr (16) + rtmsg (12): RTM_GETROUTE (26), NLM_F_REQUEST | NLM_F_DUMP, AF_INET.
        var req = [UInt8](repeating: 0, count: 28)
        func put32(_ at: Int, _ v: UInt32) { for i in 0..<4 { req[at + i] = UInt8(v >> (8 * UInt32(i)) & 0xff) } }
        put32(0, 28)
        req[4] = 26
        req[6] = 0x01
        req[7] = 0x03 // NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH (0x300)
        let seq = UInt32(truncatingIfNeeded: time(nil))
        put32(8, seq)
        req[16] = UInt8(AF_INET)
        var kernel = [UInt8](repeating: 0, count: 12)
        kernel[0] = UInt8(AF_NETLINK & 0xff)
        let sent = kernel.withUnsafeBytes { k in
            req.withUnsafeBytes { r in
                sendto(fd, r.baseAddress, r.count, 0, k.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(k.count))
            }
        }
        guard sent == req.count else { throw LoaderError.lastErrno("netlink route dump request") }

        var routes: [Route] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        // A dump is a bounded number of datagrams: 16384 prefixes at most are copied, and
        // each datagram holds dozens of routes.
        for _ in 0..<65536 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LoaderError.lastErrno("netlink route dump")
            }
            var off = 0
            while off + 16 <= n {
                let len = Int(le32(buf, off))
                let type = UInt16(buf[off + 4]) | UInt16(buf[off + 5]) << 8
                guard len >= 16, off + len <= n else { throw LoaderError("netlink route dump: malformed message") }
                switch type {
                case 3: return routes // NLMSG_DONE
                case 2: // NLMSG_ERROR
                    let code = len >= 20 ? Int32(bitPattern: le32(buf, off + 16)) : -EPROTO
                    throw LoaderError.errno("netlink route dump", code == 0 ? -EPROTO : code)
                case 24: // RTM_NEWROUTE
                    if let r = route(buf, off, len) { routes.append(r) }
                default: break
                }
                off += (len + 3) & ~3
            }
        }
        throw LoaderError("netlink route dump: no end")
    }

    private static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    /// An RTM_NEWROUTE message at `off` (nlmsghdr, rtmsg, attributes) when it is an IPv4 route
    /// of table 255.
    private static func route(_ b: [UInt8], _ off: Int, _ len: Int) -> Route? {
        guard len >= 28, b[off + 16] == UInt8(AF_INET) else { return nil }
        let dstLen = b[off + 17], srcLen = b[off + 18], tos = b[off + 19]
        var table = UInt32(b[off + 20])
        let type = b[off + 23]
        let flags = le32(b, off + 24)
        var dst: UInt32 = 0
        var oif: UInt32 = 0
        var multi = false
        var a = off + 28
        while a + 4 <= off + len {
            let alen = Int(UInt16(b[a]) | UInt16(b[a + 1]) << 8)
            let atype = (UInt16(b[a + 2]) | UInt16(b[a + 3]) << 8) & 0x3fff
            guard alen >= 4, a + alen <= off + len else { break }
            switch atype {
            case 1 where alen >= 8: // RTA_DST, network order
                dst = UInt32(b[a + 4]) << 24 | UInt32(b[a + 5]) << 16 | UInt32(b[a + 6]) << 8 | UInt32(b[a + 7])
            case 4 where alen >= 8: oif = le32(b, a + 4) // RTA_OIF
            case 15 where alen >= 8: table = le32(b, a + 4) // RTA_TABLE
            case 9, 30: multi = true // RTA_MULTIPATH, RTA_NH_ID
            default: break
            }
            a += (alen + 3) & ~3
        }
        guard table == 255 else { return nil }
        // RTNH_F_DEAD (1), RTNH_F_LINKDOWN (16): fib_table_lookup may skip the route.
        let irregular = tos != 0 || srcLen != 0 || multi || oif == 0 || flags & (1 | 16) != 0
        return Route(destination: dst, length: dstLen, type: type, ifindex: oif, irregular: irregular)
    }

    /// The routing generation of the calling thread's namespace: (rt_genid, fib_seq), read by
    /// the embedded object's `eipt_route_gen` program, loaded alone for this (no map but its
    /// read-only data is created) and run once with BPF_PROG_TEST_RUN.
    public static func generation() throws(LoaderError) -> (UInt32, UInt32) {
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let objPtr: OpaquePointer? = "ebpf_iptables_route_gen".withCString { name in
            opts.object_name = name
            return bpf_object__open_mem(eipt_bpf_object_bytes(), Int(eipt_bpf_object_size()), &opts)
        }
        guard let objPtr else { throw LoaderError.lastErrno("open embedded bpf object") }
        let object = BpfObject(objPtr)
        var prog = bpf_object__next_program(object.pointer, nil)
        var reader: OpaquePointer?
        while let p = prog {
            let isReader = String(cString: bpf_program__name(p)) == "eipt_route_gen"
            bpf_program__set_autoload(p, isReader)
            if isReader { reader = p }
            prog = bpf_object__next_program(object.pointer, p)
        }
        guard let reader else { throw LoaderError("embedded bpf object: no program eipt_route_gen") }
        // No map but the read-only data: libbpf binds the object's .rodata map to every program
        // it loads and warns on stderr when that map was not created.
        var map = bpf_object__next_map(object.pointer, nil)
        while let m = map {
            bpf_map__set_autocreate(m, String(cString: bpf_map__name(m)).hasPrefix(".rodata"))
            map = bpf_object__next_map(object.pointer, m)
        }
        let r = bpf_object__load(object.pointer)
        guard r == 0 else { throw LoaderError.errno("load eipt_route_gen", r) }
        var frame = [UInt8](repeating: 0, count: 64)
        var out = [UInt8](repeating: 0, count: 64 + 256)
        var run = bpf_test_run_opts()
        run.sz = MemoryLayout<bpf_test_run_opts>.size
        run.repeat = 1
        let rr = frame.withUnsafeMutableBytes { inp in
            out.withUnsafeMutableBytes { o in
                run.data_in = UnsafeRawPointer(inp.baseAddress)
                run.data_size_in = UInt32(inp.count)
                run.data_out = o.baseAddress
                run.data_size_out = UInt32(o.count)
                return bpf_prog_test_run_opts(bpf_program__fd(reader), &run)
            }
        }
        guard rr == 0 else { throw LoaderError.errno("run eipt_route_gen", rr) }
        guard run.retval == XDPAction.drop else { throw LoaderError("eipt_route_gen: the namespace could not be read") }
        return (le32(out, 0), le32(out, 4))
    }
}

extension Dataplane {
    /// What `syncLocalRoutes` did.
    public struct LocalRoutesSync: Equatable, Sendable {
        /// Prefixes copied (0 when not valid).
        public var entries: Int
        /// Whether the copy is valid (the generation held still across the dump).
        public var valid: Bool
    }

    /// Copies table 255 into `local_routes` and marks it valid at the generation it was
    /// taken at: the copy is invalidated first (addrtype answers MAYBE meanwhile), the
    /// generation read before and after the dump must agree (else tried again, 5 times at
    /// most; then left invalid), and only then is `local_state` written. Call it in the
    /// namespace of the interface the program is attached to.
    @discardableResult
    public func syncLocalRoutes() throws(LoaderError) -> LocalRoutesSync {
        // Two writers interleaving (the agent's watcher thread and a command, or two
        // processes) could mark one's half-written trie valid with the other's generation:
        // one writer at a time, machine-wide (a lock file; without one, in-process only).
        let lock = Glibc.open(LocalRoutes.lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if lock >= 0 { _ = flock(lock, LOCK_EX) }
        defer { if lock >= 0 { close(lock) } }
        LocalRoutes.mutex.lock()
        defer { LocalRoutes.mutex.unlock() }
        let state = try map("local_state")
        try state.update(UInt32(0), eipt_local_state())
        for _ in 0..<5 {
            let before = try LocalRoutes.generation()
            let routes = try LocalRoutes.dump()
            let after = try LocalRoutes.generation()
            guard before == after else { continue }
            let entries = LocalRoutes.entries(routes)
            guard entries.count <= Int(EIPT_MAX_LOCAL_ROUTES) else { return LocalRoutesSync(entries: 0, valid: false) }
            try writeLocalRoutes(entries)
            var s = eipt_local_state()
            s.valid = 1
            s.rt_genid = before.0
            s.fib_seq = before.1
            try state.update(UInt32(0), s)
            return LocalRoutesSync(entries: entries.count, valid: true)
        }
        return LocalRoutesSync(entries: 0, valid: false)
    }

    /// Replaces the copy with `entries` and marks it valid at `generation` (tests: a copy
    /// the kernel's table does not hold, or an old generation).
    public func setLocalRoutes(_ entries: [LocalRoutes.Entry], generation: (UInt32, UInt32)?) throws(LoaderError) {
        let state = try map("local_state")
        try state.update(UInt32(0), eipt_local_state())
        try writeLocalRoutes(entries)
        guard let generation else { return }
        var s = eipt_local_state()
        s.valid = 1
        s.rt_genid = generation.0
        s.fib_seq = generation.1
        try state.update(UInt32(0), s)
    }

    private func writeLocalRoutes(_ entries: [LocalRoutes.Entry]) throws(LoaderError) {
        let trie = try map("local_routes")
        try trie.clear(keyType: eipt_src_key.self)
        let keys = entries.map { eipt_src_key(prefixlen: UInt32($0.length), addr: $0.destination.bigEndian) }
        let values = entries.map {
            eipt_local_route(type: $0.type, flags: $0.unsure ? UInt8(EIPT_LOCAL_UNSURE) : 0, pad: 0, ifindex: $0.ifindex)
        }
        try trie.updateAll(keys: keys, values: values)
    }
}

extension Dataplane {
    /// Whether `tables` hold an addrtype test (which reads the copy of table 255).
    static func usesLocalRoutes(_ tables: CompiledTables) -> Bool {
        tables.fallback.contains { $0.ext.contains { if case .addrtype = $0 { true } else { false } } }
    }

    /// Attaching or replacing an XDP program bumps the namespace's rt_genid (measured: a
    /// replacement on a veth moved it 28 -> 29), so a copy taken before is stale from then
    /// on and addrtype answers MAYBE until the next write: a copy that was valid is taken
    /// again. Safe either way; without this XDP simply decides less (AddrtypeOracleTests:
    /// 24 drops instead of 81 with specialised programs swapped in after the restore).
    func retakeLocalRoutesIfValid() {
        guard (try? localRoutesState().valid) == true else { return }
        syncLocalRoutesOrInvalidate()
    }

    /// Called whenever a generation is written: takes a fresh copy of table 255 when the
    /// tables test addrtype. A failure leaves the copy invalid (addrtype then answers MAYBE,
    /// and the kernel decides those rules): never a reason to refuse the tables.
    func refreshLocalRoutesIfUsed(_ tables: CompiledTables) {
        guard Self.usesLocalRoutes(tables) else { return }
        syncLocalRoutesOrInvalidate()
    }

    /// A fresh copy, or on failure an invalid one (addrtype answers MAYBE): never an error.
    private func syncLocalRoutesOrInvalidate() {
        do {
            try syncLocalRoutes()
        } catch {
            _ = try? map("local_state").update(UInt32(0), eipt_local_state())
        }
    }
}

/// A process-wide mutex (pthread; the Loader does not use Foundation).
final class ProcessMutex: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
    }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

extension Dataplane {
    /// What `local_state` holds: whether a copy is marked valid, and the routing generation
    /// it was taken at (the program compares it with the live one).
    public struct LocalRoutesState: Equatable, Sendable {
        public var valid: Bool
        public var rtGenid: UInt32
        public var fibSeq: UInt32
    }

    public func localRoutesState() throws(LoaderError) -> LocalRoutesState {
        let s = try map("local_state").lookup(UInt32(0), as: eipt_local_state.self) ?? eipt_local_state()
        return LocalRoutesState(valid: s.valid != 0, rtGenid: s.rt_genid, fibSeq: s.fib_seq)
    }
}
