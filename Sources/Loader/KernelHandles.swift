import CLibbpf
import Glibc

/// A file descriptor this process owns (a BPF program or map); closed when dropped.
struct OwnedFD: ~Copyable {
    let raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    /// A private duplicate of a descriptor someone else owns (libbpf's object, for one).
    static func duplicate(_ fd: Int32, _ context: String) throws(LoaderError) -> OwnedFD {
        let d = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard d >= 0 else { throw LoaderError.lastErrno(context) }
        return OwnedFD(d)
    }

    deinit { close(raw) }
}

/// The map descriptors of one data plane, by map name; all closed together when dropped.
/// (Swift collections cannot hold non-copyable values, so the set owns the raw numbers.)
struct MapSet: ~Copyable {
    private let fds: [String: Int32]

    /// Takes ownership of `fds`.
    init(owning fds: [String: Int32]) { self.fds = fds }

    func fd(_ name: String) throws(LoaderError) -> Int32 {
        guard let fd = fds[name] else { throw LoaderError("map \(name): not in the data plane") }
        return fd
    }

    deinit {
        for fd in fds.values { close(fd) }
    }
}

/// A libbpf `bpf_object`; closed (with the descriptors libbpf owns) when dropped.
struct BpfObject: ~Copyable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { bpf_object__close(pointer) }
}

/// The BPF map and program names, as the object declares and the pin root holds them.
enum DataplaneNames {
    /// The program's pin name (whichever of the two entry programs is loaded).
    static let program = "eipt_xdp"
    /// The lean entry program (bpf/ebpf_iptables.bpf.c), loaded for shapes of keyed tables only.
    static let leanProgram = "eipt_xdp_lean"
    /// The kernel names an ebpf-iptables data plane program has.
    static let programNames: Set<String> = [program, leanProgram]
    static let perGeneration = ["rule_info", "proto_port", "src", "src_proto_port", "src_host", "src_proto_port_host", "fallback", "ext", "counters", "replies",
                                      "v6_rules", "v6_set", "v6_sethost", "v6_setport", "v6_counters"]
    static let shared = ["live", "gen_config", "guard_src", "stats", "fragments", "local_routes", "local_state", "reject_config", "reject_peers", "reject_global", "recent", "recent_lists", "time_config",
                                "live6", "v6_conf", "v6_stats"]
    static var maps: [String] {
        shared + [0, 1].flatMap { g in perGeneration.map { "\($0)_\(g)" } }
    }
    static func map(_ base: String, _ generation: UInt32) -> String { "\(base)_\(generation)" }
}
