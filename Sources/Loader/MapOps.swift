import CLibbpf
import Glibc

/// Typed access to one map through its descriptor. Keys and values are the C structs of
/// bpf/ebpf_iptables.h, passed by their bytes.
struct MapAccess {
    let fd: Int32
    let name: String

    func update<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, _ value: V, flags: UInt64 = UInt64(BPF_ANY)) throws(LoaderError) {
        var k = key, v = value
        let r = bpf_map_update_elem(fd, &k, &v, flags)
        guard r == 0 else { throw LoaderError.errno("update map \(name)", r) }
    }

    func lookup<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, as: V.Type) throws(LoaderError) -> V? {
        var k = key
        let v = UnsafeMutablePointer<V>.allocate(capacity: 1)
        defer { v.deallocate() }
        let r = bpf_map_lookup_elem(fd, &k, v)
        if r == -ENOENT { return nil }
        guard r == 0 else { throw LoaderError.errno("read map \(name)", r) }
        return v.pointee
    }

    /// Writes all pairs: one BPF_MAP_UPDATE_BATCH call per chunk where the map type has it,
    /// else one update per element.
    func updateAll<K: BitwiseCopyable, V: BitwiseCopyable>(keys: [K], values: [V]) throws(LoaderError) {
        precondition(keys.count == values.count)
        guard !keys.isEmpty else { return }
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        opts.elem_flags = UInt64(BPF_ANY)
        var done = 0
        var batchWorks = true
        while done < keys.count && batchWorks {
            var n = UInt32(min(keys.count - done, 65536))
            let r = keys[done...].withUnsafeBufferPointer { kb in
                values[done...].withUnsafeBufferPointer { vb in
                    bpf_map_update_batch(fd, kb.baseAddress, vb.baseAddress, &n, &opts)
                }
            }
            if r == -EINVAL || r == -ENOTSUP || r == -524 {
                batchWorks = false // LPM tries have no batch update: one element at a time
            } else if r != 0 {
                throw LoaderError.errno("batch update map \(name)", r)
            } else {
                done += Int(n)
            }
        }
        while done < keys.count {
            try update(keys[done], values[done])
            done += 1
        }
    }

    /// Every key of a hash or LPM map.
    func keys<K: BitwiseCopyable>(_: K.Type) throws(LoaderError) -> [K] {
        var keys: [K] = []
        let cur = UnsafeMutablePointer<K>.allocate(capacity: 1)
        let next = UnsafeMutablePointer<K>.allocate(capacity: 1)
        defer { cur.deallocate(); next.deallocate() }
        var r = bpf_map_get_next_key(fd, nil, next)
        while r == 0 {
            keys.append(next.pointee)
            cur.pointee = next.pointee
            r = bpf_map_get_next_key(fd, cur, next)
        }
        guard r == -ENOENT else { throw LoaderError.errno("list keys of map \(name)", r) }
        return keys
    }

    /// Deletes one key; a missing key is not an error.
    func delete<K: BitwiseCopyable>(_ key: K) throws(LoaderError) {
        var k = key
        let r = bpf_map_delete_elem(fd, &k)
        guard r == 0 || r == -ENOENT else { throw LoaderError.errno("delete from map \(name)", r) }
    }

    /// Deletes every key of a hash or LPM map.
    func clear<K: BitwiseCopyable>(keyType: K.Type) throws(LoaderError) {
        // Collect first: deleting while walking get_next_key restarts the walk.
        let keys = try keys(K.self)
        guard !keys.isEmpty else { return }
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        var n = UInt32(keys.count)
        let b = keys.withUnsafeBufferPointer { bpf_map_delete_batch(fd, $0.baseAddress, &n, &opts) }
        if b == 0 && Int(n) == keys.count { return }
        for k in keys { try delete(k) }
    }

    /// The per-CPU values of one key of a PERCPU map, summed by `combine`.
    func lookupPerCPU<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, as: V.Type, cpus: Int) throws(LoaderError) -> [V] {
        var k = key
        let stride = (MemoryLayout<V>.size + 7) & ~7
        let buf = UnsafeMutableRawPointer.allocate(byteCount: stride * cpus, alignment: 8)
        defer { buf.deallocate() }
        let r = bpf_map_lookup_elem(fd, &k, buf)
        guard r == 0 else { throw LoaderError.errno("read map \(name)", r) }
        return (0..<cpus).map { buf.load(fromByteOffset: $0 * stride, as: V.self) }
    }
}

extension Dataplane {
    func map(_ name: String) throws(LoaderError) -> MapAccess {
        MapAccess(fd: try maps.fd(name), name: name)
    }

    static var possibleCPUs: Int {
        let n = libbpf_num_possible_cpus()
        return n > 0 ? Int(n) : 1
    }
}

/// Sizes of the shared structs as Swift imports them from bpf/ebpf_iptables.h, for the
/// layout test (the C side has _Static_assert; the BPF side compiles the same header).
public enum MapLayout {
    public static let sizes: [String: Int] = [
        "eipt_live": MemoryLayout<eipt_live>.size,
        "eipt_gen_config": MemoryLayout<eipt_gen_config>.size,
        "eipt_rule_info": MemoryLayout<eipt_rule_info>.size,
        "eipt_pos": MemoryLayout<eipt_pos>.size,
        "eipt_proto_port_key": MemoryLayout<eipt_proto_port_key>.size,
        "eipt_src_key": MemoryLayout<eipt_src_key>.size,
        "eipt_src_proto_port_key": MemoryLayout<eipt_src_proto_port_key>.size,
        "eipt_src_host_key": MemoryLayout<eipt_src_host_key>.size,
        "eipt_spp_host_key": MemoryLayout<eipt_spp_host_key>.size,
        "eipt_fb_rule": MemoryLayout<eipt_fb_rule>.size,
        "eipt_ext": MemoryLayout<eipt_ext>.size,
        "eipt_counter": MemoryLayout<eipt_counter>.size,
        "eipt_frag_key": MemoryLayout<eipt_frag_key>.size,
        "eipt_frag_value": MemoryLayout<eipt_frag_value>.size,
    ]
    /// Offsets inside eipt_fb_rule that the program reads.
    public static let fallbackOffsets: [String: Int?] = [
        "pos": MemoryLayout<eipt_fb_rule>.offset(of: \.pos),
        "src_addr": MemoryLayout<eipt_fb_rule>.offset(of: \.src_addr),
        "sport_lo": MemoryLayout<eipt_fb_rule>.offset(of: \.sport_lo),
        "len_lo": MemoryLayout<eipt_fb_rule>.offset(of: \.len_lo),
        "proto": MemoryLayout<eipt_fb_rule>.offset(of: \.proto),
        "ct_states": MemoryLayout<eipt_fb_rule>.offset(of: \.ct_states),
        "ttl_val": MemoryLayout<eipt_fb_rule>.offset(of: \.ttl_val),
    ]
}
