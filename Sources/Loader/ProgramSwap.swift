import CLibbpf
import Compiler
import Glibc

/// The program's shape section (bpf/ebpf_iptables.bpf.c: `eipt_shape`, alone in it).
enum ShapeSection {
    static let name = ".rodata.shape"
    /// Kernel map names are cut to 15 bytes (BPF_OBJ_NAME_LEN).
    static func kernelName(_ name: String) -> String { String(decoding: Array(name.utf8.prefix(15)), as: UTF8.self) }
}

extension ProgramShape {
    /// Sets the object's `eipt_shape` before the load (libbpf freezes .rodata.* sections: the
    /// verifier then reads the value as a constant and drops the paths it rules out).
    static func setInitialValue(_ shape: ProgramShape, of object: OpaquePointer) throws(LoaderError) {
        guard let m = bpf_object__find_map_by_name(object, ShapeSection.name) else {
            throw LoaderError("open embedded bpf object: no \(ShapeSection.name) section (an object older than shapes)")
        }
        var bits = shape.programBits
        let r = bpf_map__set_initial_value(m, &bits, 4)
        guard r == 0 else { throw LoaderError.errno("set the program's shape", r) }
    }
}

/// Maps a replacement program takes over from the running one, so nothing they hold is lost
/// (tables, counters, sets, limit buckets, recent lists, fragments): by object name (the
/// pinned ones) or, for the others, by the kernel's 15-byte name where that is unique.
struct MapReuse: ~Copyable {
    var byName: [String: Int32] = [:]
    /// Owned: opened by id from the running program, closed when dropped.
    var byKernelName: [String: Int32] = [:]

    func fd(for name: String) -> Int32? { byName[name] ?? byKernelName[ShapeSection.kernelName(name)] }

    deinit { for fd in byKernelName.values { close(fd) } }
}

extension Dataplane {
    /// The shape this program was loaded with: the value of its frozen `.rodata.shape` map.
    public func shape() throws(LoaderError) -> ProgramShape { try Dataplane.shape(programFD: program.raw) }

    static func shape(programFD: Int32) throws(LoaderError) -> ProgramShape {
        for (id, name) in try mapsOf(programFD: programFD) where name == ShapeSection.kernelName(ShapeSection.name) {
            let fd = bpf_map_get_fd_by_id(id)
            guard fd >= 0 else { throw LoaderError.errno("open the program's shape map", fd) }
            defer { close(fd) }
            guard let bits = try MapAccess(fd: fd, name: ShapeSection.name).lookup(UInt32(0), as: UInt32.self) else {
                throw LoaderError("read the program's shape: the map is empty")
            }
            return bits == EIPT_SHAPE_ALL ? .full : ProgramShape(generationBits: bits)
        }
        return .full // an object older than shapes: every path is there
    }

    /// Ids and kernel names of the maps program `programFD` uses.
    static func mapsOf(programFD: Int32) throws(LoaderError) -> [(UInt32, String)] {
        var ids = [UInt32](repeating: 0, count: 128)
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let r = ids.withUnsafeMutableBufferPointer { b in
            info.nr_map_ids = UInt32(b.count)
            info.map_ids = UInt64(UInt(bitPattern: b.baseAddress))
            return bpf_obj_get_info_by_fd(programFD, &info, &len)
        }
        guard r == 0 else { throw LoaderError.errno("list the maps of the xdp program", r) }
        var out: [(UInt32, String)] = []
        for id in ids.prefix(Int(min(info.nr_map_ids, 128))) {
            let fd = bpf_map_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var m = bpf_map_info()
            var mlen = UInt32(MemoryLayout<bpf_map_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &m, &mlen) == 0 else { continue }
            out.append((id, withUnsafeBytes(of: m.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }))
        }
        return out
    }

    /// The shape the generations that judge packets need now, from their gen_config flags
    /// (what the Loader wrote with their tables, and live edits added): the live one, the
    /// other too during a transition, none while the program passes everything (`empty`);
    /// and generation `including` (one just written, about to judge).
    public func neededShape(including extra: UInt32? = nil) throws(LoaderError) -> ProgramShape {
        let live = try liveEntry()
        var gens: [UInt32] = []
        if live.flags & EIPT_LIVE_EMPTY == 0 {
            gens.append(live.generation == 0 ? 0 : 1)
            if live.flags & EIPT_LIVE_BOTH != 0 { gens.append(live.generation == 0 ? 1 : 0) }
        }
        if let extra { gens.append(extra == 0 ? 0 : 1) }
        var s: ProgramShape = []
        for g in Set(gens) { s.formUnion(ProgramShape(generationBits: try generationConfig(g).flags)) }
        return s
    }

    /// This program's maps, to be taken over by a replacement.
    func reusableMaps() throws(LoaderError) -> MapReuse {
        var reuse = MapReuse()
        for name in DataplaneNames.maps { reuse.byName[name] = try maps.fd(name) }
        var seen: [String: Int] = [:]
        let all = try Dataplane.mapsOf(programFD: program.raw)
        for (_, name) in all { seen[name, default: 0] += 1 }
        for (id, name) in all where !name.hasPrefix(".") && seen[name] == 1 {
            let fd = bpf_map_get_fd_by_id(id)
            guard fd >= 0 else { throw LoaderError.errno("open map \(name) of the running program", fd) }
            reuse.byKernelName[name] = fd
        }
        return reuse
    }

    /// Replaces this program by one of `shape` on the same maps, whole: the new program is
    /// loaded on this one's maps (tables, counters, sets and every other state carry over,
    /// nothing is copied), pinned under `pinRoot` in place of this one (pinned beside it,
    /// then renamed over it: the pin names one program or the other, never none), then swapped
    /// in on every interface of the calling thread's namespace that runs this program, each
    /// with one atomic replace (XDP_FLAGS_REPLACE, expecting this program: a packet is judged
    /// by the old program or the new one, never by parts of both). Both programs are correct
    /// for the tables while both run: the caller widens before tables need more, and narrows
    /// after they need less. Returns the new data plane; this one stays usable (same maps).
    public func replaced(shape: ProgramShape, pinRoot: String?) throws(LoaderError) -> Dataplane {
        let reuse = try reusableMaps()
        let next = try Dataplane.loadLogged(shape: shape, reuse: reuse)
        if let pinRoot {
            // bpffs refuses dots in names (reserved, bpf_lookup): "_next".
            let temp = "\(pinRoot)/\(DataplaneNames.program)_next"
            _ = unlink(temp)
            let r = bpf_obj_pin(next.program.raw, temp)
            guard r == 0 else { throw LoaderError.errno("pin the replacement program at \(temp)", r) }
            guard rename(temp, "\(pinRoot)/\(DataplaneNames.program)") == 0 else {
                let e = LoaderError.lastErrno("rename the replacement program's pin over \(pinRoot)/\(DataplaneNames.program)")
                _ = unlink(temp)
                throw e
            }
            // Tests stand in for a process killed between the pin and the swap.
            if getenv("EBPF_IPTABLES_TEST_STOP_AFTER_PIN").map({ String(cString: $0) }) == "1" {
                throw LoaderError("replace the xdp program: stopped after the pin (EBPF_IPTABLES_TEST_STOP_AFTER_PIN)")
            }
        }
        for (index, mode) in try interfacesRunning(programID: programID) {
            try Dataplane.replaceAttached(index: index, mode: mode, old: program.raw, new: next.program.raw)
        }
        next.retakeLocalRoutesIfValid()
        return next
    }

    /// Interfaces (index, mode) of the calling thread's namespace running program `id`.
    func interfacesRunning(programID id: UInt32) throws(LoaderError) -> [(Int32, XDPMode)] {
        guard let list = if_nameindex() else { throw LoaderError.lastErrno("list interfaces") }
        defer { if_freenameindex(list) }
        var out: [(Int32, XDPMode)] = []
        var i = 0
        while list[i].if_index != 0 {
            let name = String(cString: list[i].if_name)
            if let a = try? Dataplane.attached(interface: name), a.programID == id {
                out.append((Int32(list[i].if_index), a.mode))
            }
            i += 1
        }
        return out
    }

    /// One atomic replace of the XDP program on interface `index`: refused (EEXIST) unless
    /// `old` is the program attached there.
    static func replaceAttached(index: Int32, mode: XDPMode, old: Int32, new: Int32) throws(LoaderError) {
        var opts = bpf_xdp_attach_opts()
        withUnsafeMutableBytes(of: &opts) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        opts.sz = MemoryLayout<bpf_xdp_attach_opts>.size
        opts.old_prog_fd = old
        let r = bpf_xdp_attach(index, new, mode.flags | (1 << 4) /* XDP_FLAGS_REPLACE */, &opts)
        guard r == 0 else { throw LoaderError.errno("replace the xdp program on interface index \(index)", r) }
    }

    /// After a replacement was cut short (a process killed between its steps), an interface
    /// may still run the previous program while the pin names its replacement: both work on
    /// the same maps. Finishes the swap on `interface` when the attached program is an
    /// ebpf-iptables program using this data plane's `live` map; true when it did.
    public func adoptAttached(interface: String) throws(LoaderError) -> Bool {
        guard let a = try Dataplane.attachedDataplane(interface: interface), a.programID != programID else { return false }
        let fd = bpf_prog_get_fd_by_id(a.programID)
        guard fd >= 0 else { throw LoaderError.errno("open xdp program id \(a.programID)", fd) }
        let old = OwnedFD(fd)
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let r = bpf_obj_get_info_by_fd(try maps.fd("live"), &info, &len)
        guard r == 0 else { throw LoaderError.errno("read the live map's id", r) }
        guard try Dataplane.mapsOf(programFD: old.raw).contains(where: { $0.0 == info.id }) else { return false }
        try Dataplane.replaceAttached(index: try Dataplane.interfaceIndex(interface, context: "adopt \(interface)"),
                                      mode: a.mode, old: old.raw, new: program.raw)
        retakeLocalRoutesIfValid()
        return true
    }
}
