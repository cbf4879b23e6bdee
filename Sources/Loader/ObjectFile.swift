import CLibbpf
import Glibc

/// A BPF object file loaded from disk (the benchmark's reference programs and its softirq
/// meter, compiled by scripts/bench), with the links of whatever it attached. Dropping it
/// detaches those links and closes the object; program handles taken from it stay valid.
public struct BPFObjectFile: ~Copyable {
    let object: BpfObject
    private var links: [OpaquePointer] = []
    public let path: String

    /// Opens and loads every program and map of the object at `path`.
    public init(path: String) throws(LoaderError) {
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        guard let pointer = bpf_object__open_file(path, &opts) else {
            throw LoaderError.lastErrno("open bpf object \(path)")
        }
        let object = BpfObject(pointer)
        let r = bpf_object__load(object.pointer)
        guard r == 0 else { throw LoaderError.errno("load bpf object \(path)", r) }
        self.object = object
        self.path = path
    }

    /// A descriptor of the program `name` of this object, for test runs.
    public func program(_ name: String) throws(LoaderError) -> XDPProgramHandle {
        guard let prog = bpf_object__find_program_by_name(object.pointer, name) else {
            throw LoaderError("bpf object \(path): no program \(name)")
        }
        return XDPProgramHandle(fd: try OwnedFD.duplicate(bpf_program__fd(prog), "duplicate program descriptor \(name)"))
    }

    /// Attaches every program by its section name (tracepoints here); the links live as
    /// long as this value.
    public mutating func attachAll() throws(LoaderError) {
        var prog = bpf_object__next_program(object.pointer, nil)
        while let p = prog {
            guard let link = bpf_program__attach(p) else {
                throw LoaderError.lastErrno("attach program \(String(cString: bpf_program__name(p))) of \(path)")
            }
            links.append(link)
            prog = bpf_object__next_program(object.pointer, p)
        }
    }

    /// The per-CPU 64-bit values of `key` in the PERCPU_ARRAY `map`, one per possible CPU.
    public func perCPUValues(map name: String, key: UInt32) throws(LoaderError) -> [UInt64] {
        guard let m = bpf_object__find_map_by_name(object.pointer, name) else {
            throw LoaderError("bpf object \(path): no map \(name)")
        }
        return try MapAccess(fd: bpf_map__fd(m), name: name).lookupPerCPU(key, as: UInt64.self, cpus: Dataplane.possibleCPUs)
    }

    deinit {
        for link in links { bpf_link__destroy(link) }
    }
}

/// A map of another tool's program (xdp-filter's `filter_ipv4`, for one), found by name
/// among the maps of the program attached to an interface: where the tool pinned it
/// depends on which bpffs it found first, the program's map list does not.
public struct ForeignMap: ~Copyable {
    let fd: OwnedFD
    public let name: String

    public init(named name: String, usedBy program: borrowing XDPProgramHandle) throws(LoaderError) {
        var ids = [UInt32](repeating: 0, count: 64)
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = ids.withUnsafeMutableBufferPointer { b in
            info.nr_map_ids = UInt32(b.count)
            info.map_ids = UInt64(UInt(bitPattern: b.baseAddress))
            return bpf_obj_get_info_by_fd(program.fd.raw, &info, &len)
        }
        guard r == 0 else { throw LoaderError.errno("list the maps of an xdp program", r) }
        for id in ids.prefix(Int(min(info.nr_map_ids, 64))) {
            let fd = bpf_map_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            var m = bpf_map_info()
            var mlen = UInt32(MemoryLayout<bpf_map_info>.size)
            let mapName = bpf_obj_get_info_by_fd(fd, &m, &mlen) == 0
                ? withUnsafeBytes(of: m.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } : ""
            if mapName == name {
                self.fd = OwnedFD(fd)
                self.name = name
                return
            }
            close(fd)
        }
        throw LoaderError("open map \(name): the xdp program has no such map")
    }

    /// Writes `value` on every CPU under each of `keys` (a PERCPU hash of 32-bit keys and
    /// 64-bit values), in batches where the kernel has them.
    public func fillPerCPU(keys: [UInt32], value: UInt64) throws(LoaderError) {
        let cpus = Dataplane.possibleCPUs
        let perKey = [UInt64](repeating: value, count: cpus)
        let access = MapAccess(fd: fd.raw, name: name)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        var done = 0
        while done < keys.count {
            let chunk = Array(keys[done..<min(keys.count, done + 4096)])
            let values = Array(repeating: perKey, count: chunk.count).flatMap { $0 }
            var n = UInt32(chunk.count)
            let r = chunk.withUnsafeBufferPointer { kb in
                values.withUnsafeBufferPointer { vb in bpf_map_update_batch(fd.raw, kb.baseAddress, vb.baseAddress, &n, &opts) }
            }
            if r != 0 {
                // No batch for this map type: one element at a time, all CPUs at once.
                for var k in chunk {
                    let u = perKey.withUnsafeBufferPointer { bpf_map_update_elem(fd.raw, &k, $0.baseAddress, UInt64(BPF_ANY)) }
                    guard u == 0 else { throw LoaderError.errno("update map \(access.name)", u) }
                }
            }
            done += chunk.count
        }
    }
}
