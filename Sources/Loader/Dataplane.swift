import CBpfObject
import CLibbpf
import Compiler
import Glibc

/// The loaded XDP program and its maps (see bpf/ebpf_iptables.h for what each holds).
///
/// Obtain one with `load()` (a fresh program from the embedded object) or
/// `open(pinnedAt:)` (the one a previous process pinned). Dropping it closes this
/// process's descriptors; pinned or attached objects stay in the kernel.
public struct Dataplane: ~Copyable {
    /// Where `pin` and `open` look when not told otherwise.
    public static let defaultPinRoot = "/sys/fs/bpf/ebpf-iptables"

    let program: OwnedFD
    let maps: MapSet
    /// The verifier's statistics of this load (`verification time ...`, `processed N insns ...`); empty when
    /// opened from pins.
    public let verifierStats: String

    /// The kernel's id of the program (what `bpftool prog show id N` and XDP queries name).
    public let programID: UInt32

    init(program: consuming OwnedFD, maps: consuming MapSet, verifierStats: String) throws(LoaderError) {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = bpf_obj_get_info_by_fd(program.raw, &info, &len)
        guard r == 0 else { throw LoaderError.errno("read program info", r) }
        self.programID = info.id
        self.program = program
        self.maps = maps
        self.verifierStats = verifierStats
    }

    /// Loads the embedded XDP object into the kernel: both generations empty and
    /// `live.flags = EIPT_LIVE_EMPTY` (everything passes until a generation is activated).
    /// Fails before loading when the kernel lacks the conntrack kfunc `bpf_xdp_ct_lookup`.
    public static func load(shape: ProgramShape = .full) throws(LoaderError) -> Dataplane {
        let dp = try loadLogged(shape: shape, reuse: MapReuse())
        try dp.setLiveFlags(EIPT_LIVE_EMPTY)
        return dp
    }

    /// Loads the embedded object with `shape`, on the maps in `reuse` where given, with the
    /// verifier's statistics (and its log's end when it refuses).
    static func loadLogged(shape: ProgramShape, reuse: borrowing MapReuse) throws(LoaderError) -> Dataplane {
        try probeConntrackKfunc()
        let stats = UnsafeMutablePointer<CChar>.allocate(capacity: 65536)
        defer { stats.deallocate() }
        stats[0] = 0
        do throws(LoaderError) {
            // Statistics only (BPF_LOG_STATS): a full log costs time and could overflow.
            return try loadObject(logLevel: 4, log: stats, logSize: 65536, shape: shape, reuse: reuse)
        } catch {
            guard error.code == EACCES || error.code == EINVAL || error.code == E2BIG else { throw error }
            // Load again with the full verifier log; keep its end, where the reason is.
            let size = 16 << 20
            let log = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { log.deallocate() }
            log[0] = 0
            do throws(LoaderError) {
                _ = try loadObject(logLevel: 1, log: log, logSize: size, shape: shape, reuse: reuse)
            } catch {
                let again = error
                let text = String(cString: log)
                let tail = text.count > 8000 ? "...\n" + String(text.suffix(8000)) : text
                throw LoaderError("\(again.message)\nverifier log:\n\(tail)", code: again.code)
            }
            throw error
        }
    }

    /// Opens the embedded object, sets its shape (`eipt_shape`) and, for a replacement
    /// program, makes it use the maps in `reuse` (name -> descriptor, borrowed for the
    /// call) instead of creating its own; then loads it.
    static func loadObject(logLevel: UInt32, log: UnsafeMutablePointer<CChar>, logSize: Int,
                           shape: ProgramShape, reuse: borrowing MapReuse)
        throws(LoaderError) -> Dataplane
    {
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let objPtr: OpaquePointer? = "ebpf_iptables".withCString { name in
            opts.object_name = name
            return bpf_object__open_mem(eipt_bpf_object_bytes(), Int(eipt_bpf_object_size()), &opts)
        }
        guard let objPtr else { throw LoaderError.lastErrno("open embedded bpf object") }
        let object = BpfObject(objPtr)
        // One of the two entry programs, by shape: the lean one when the shape holds keyed
        // tables only (no call, no fallback code in it), else the one with every path.
        let name = shape.isLean ? DataplaneNames.leanProgram : DataplaneNames.program
        guard let prog = bpf_object__find_program_by_name(object.pointer, name) else {
            throw LoaderError("open embedded bpf object: no program \(name)")
        }
        for other in DataplaneNames.programNames where other != name {
            if let p = bpf_object__find_program_by_name(object.pointer, other) { bpf_program__set_autoload(p, false) }
        }
        try ProgramShape.setInitialValue(shape, of: object.pointer)
        var m = bpf_object__next_map(object.pointer, nil)
        while let map = m {
            let name = String(cString: bpf_map__name(map))
            if !name.hasPrefix("."), let fd = reuse.fd(for: name) {
                let r = bpf_map__reuse_fd(map, fd)
                guard r == 0 else { throw LoaderError.errno("reuse map \(name) for the replacement program", r) }
            }
            m = bpf_object__next_map(object.pointer, map)
        }
        bpf_program__set_log_buf(prog, log, logSize)
        bpf_program__set_log_level(prog, logLevel)
        let r = bpf_object__load(object.pointer)
        guard r == 0 else { throw LoaderError.errno("load xdp program \(name)", r) }
        let stats = String(cString: log).split(separator: "\n").filter { $0.hasPrefix("processed") || $0.hasPrefix("verification time") }
            .joined(separator: "\n")

        let progFD = try OwnedFD.duplicate(bpf_program__fd(prog), "duplicate program descriptor")
        var fds: [String: Int32] = [:]
        do throws(LoaderError) {
            for name in DataplaneNames.maps {
                guard let map = bpf_object__find_map_by_name(object.pointer, name) else {
                    throw LoaderError("load xdp program: the object has no map \(name)")
                }
                let d = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0)
                guard d >= 0 else { throw LoaderError.lastErrno("duplicate map descriptor \(name)") }
                fds[name] = d
            }
        } catch {
            for fd in fds.values { close(fd) }
            throw error
        }
        return try Dataplane(program: progFD, maps: MapSet(owning: fds), verifierStats: stats)
    }

    /// Fails with a clear message when the running kernel's BTF lacks the conntrack kfunc.
    static func probeConntrackKfunc() throws(LoaderError) {
        guard let btf = btf__load_vmlinux_btf() else {
            throw LoaderError.lastErrno("read the kernel's btf (/sys/kernel/btf/vmlinux)")
        }
        defer { btf__free(btf) }
        for name in ["bpf_xdp_ct_lookup", "bpf_ct_release"] {
            if btf__find_by_name_kind(btf, name, UInt32(12) /* BTF_KIND_FUNC: both an enum and a macro in C, ambiguous in Swift */) < 0 {
                throw LoaderError("probe kernel: kfunc \(name) is missing (conntrack built without BPF support, or a kernel older than 6.0)")
            }
        }
    }

    /// Pins the program and every map under `root` (created when missing; it must be on a bpffs).
    public func pin(at root: String = Dataplane.defaultPinRoot) throws(LoaderError) {
        if mkdir(root, 0o700) != 0 && Glibc.errno != EEXIST {
            throw LoaderError.lastErrno("create pin root \(root)")
        }
        let r = bpf_obj_pin(program.raw, "\(root)/\(DataplaneNames.program)")
        guard r == 0 else { throw LoaderError.errno("pin program at \(root)/\(DataplaneNames.program)", r) }
        for name in DataplaneNames.maps {
            let r = bpf_obj_pin(try maps.fd(name), "\(root)/\(name)")
            guard r == 0 else { throw LoaderError.errno("pin map at \(root)/\(name)", r) }
        }
    }

    /// The data plane a previous process pinned under `root`.
    public static func open(pinnedAt root: String = Dataplane.defaultPinRoot) throws(LoaderError) -> Dataplane {
        let p = bpf_obj_get("\(root)/\(DataplaneNames.program)")
        guard p >= 0 else { throw LoaderError.errno("open pinned program \(root)/\(DataplaneNames.program)", p) }
        let program = OwnedFD(p)
        var fds: [String: Int32] = [:]
        for name in DataplaneNames.maps {
            let fd = bpf_obj_get("\(root)/\(name)")
            guard fd >= 0 else {
                for fd in fds.values { close(fd) }
                throw LoaderError.errno("open pinned map \(root)/\(name)", fd)
            }
            fds[name] = fd
        }
        return try Dataplane(program: program, maps: MapSet(owning: fds), verifierStats: "")
    }

    /// The id of the program pinned under `root`, or nil when there is none: two system
    /// calls, to tell whether a data plane opened earlier is still the pinned one.
    public static func pinnedProgramID(at root: String = Dataplane.defaultPinRoot) -> UInt32? {
        let p = bpf_obj_get("\(root)/\(DataplaneNames.program)")
        guard p >= 0 else { return nil }
        defer { close(p) }
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(p, &info, &len) == 0 else { return nil }
        return info.id
    }

    /// Removes every pin under `root` and the directory; missing pins are not an error.
    /// The program lives on while attached or open elsewhere.
    public static func unpin(at root: String = Dataplane.defaultPinRoot) throws(LoaderError) {
        // "_next": a replacement's pin left by a process killed before its rename (ProgramSwap).
        for name in [DataplaneNames.program, DataplaneNames.program + "_next"] + DataplaneNames.maps {
            let path = "\(root)/\(name)"
            if unlink(path) != 0 && Glibc.errno != ENOENT { throw LoaderError.lastErrno("unpin \(path)") }
        }
        if rmdir(root) != 0 && Glibc.errno != ENOENT { throw LoaderError.lastErrno("remove pin root \(root)") }
    }

    /// Runs the program on `packet` (an Ethernet frame) `repeat` times with
    /// BPF_PROG_TEST_RUN, in the calling thread's network namespace (which is where
    /// conntrack and route lookups look). Counters, stats and the fragment table change as
    /// for real packets. The frame arrives on `ingress` (an interface of that namespace),
    /// or on loopback when nil.
    public func testRun(packet: [UInt8], repeat count: UInt32 = 1, ingress: String? = nil) throws(LoaderError) -> TestRunResult {
        guard !packet.isEmpty else { throw LoaderError("test run: empty packet") }
        var ctx = xdp_md()
        if let ingress { ctx = try XDPProgramHandle.context(frame: packet, interface: ingress) }
        var out = [UInt8](repeating: 0, count: packet.count + 256)
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = Int32(clamping: max(count, 1))
        let r = packet.withUnsafeBytes { inp in
            out.withUnsafeMutableBytes { o in
                withUnsafeMutablePointer(to: &ctx) { c in
                    opts.data_in = inp.baseAddress
                    opts.data_size_in = UInt32(inp.count)
                    opts.data_out = o.baseAddress
                    opts.data_size_out = UInt32(o.count)
                    if ingress != nil {
                        opts.ctx_in = UnsafeRawPointer(c)
                        opts.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                    }
                    return bpf_prog_test_run_opts(program.raw, &opts)
                }
            }
        }
        guard r == 0 else { throw LoaderError.errno("test run on a \(packet.count)-byte packet", r) }
        return TestRunResult(action: opts.retval, nanosecondsPerRun: opts.duration)
    }
}

/// What BPF_PROG_TEST_RUN reported for one packet.
public struct TestRunResult: Equatable, Sendable {
    /// The XDP action: 1 XDP_DROP, 2 XDP_PASS (see `XDPAction`).
    public var action: UInt32
    /// Mean kernel time per run in nanoseconds, as the kernel measured it.
    public var nanosecondsPerRun: UInt32
}

/// The XDP actions the program returns.
public enum XDPAction {
    public static let drop: UInt32 = 1
    public static let pass: UInt32 = 2
    public static let tx: UInt32 = 3
}
