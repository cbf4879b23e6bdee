import Foundation
import Loader
import TestSupport
import XCTest

/// setns(2): Glibc's module map hides it behind _GNU_SOURCE.
@_silgen_name("setns") private func c_setns(_ fd: Int32, _ nstype: Int32) -> Int32
private let cloneNewNet: Int32 = 0x4000_0000 // CLONE_NEWNET

/// Shared set-up for tests that need the kernel: root, CAP_BPF, namespaces, bpffs.
enum Privileged {
    /// Why BPF tests cannot run here, or nil when they can (printed when skipping).
    static let unavailableReason: String? = {
        if geteuid() != 0 { return "not root: loading XDP programs needs CAP_BPF and CAP_NET_ADMIN" }
        if !FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") {
            return "the kernel has no BTF (/sys/kernel/btf/vmlinux): the conntrack kfuncs cannot be resolved"
        }
        return nil
    }()

    static func skipUnlessPrivileged() throws {
        if let why = unavailableReason {
            print("skipping: \(why)")
            throw XCTSkip(why)
        }
    }

    /// Runs `body` with the calling thread inside network namespace `name` (setns is per
    /// thread, and BPF_PROG_TEST_RUN, conntrack lookups, sockets and netlink all use the
    /// calling thread's namespace), then moves the thread back. Spawns no process inside.
    static func inNamespace<T: ~Copyable>(_ name: String, _ body: () throws -> T) throws -> T {
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else { throw XCTSkip("cannot open /proc/thread-self/ns/net") }
        defer { close(home) }
        let target = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw NSError(domain: "netns", code: Int(errno)) }
        defer { close(target) }
        guard c_setns(target, cloneNewNet) == 0 else { throw NSError(domain: "setns", code: Int(errno)) }
        defer { precondition(c_setns(home, cloneNewNet) == 0, "could not return to the test's namespace") }
        return try body()
    }
}

/// A namespace with an exact name (`ebpt-ct-<pid>`), deleted when dropped, also on failure.
final class NamedNamespace {
    let name: String

    init(_ name: String) throws {
        self.name = name
        Run.run(["ip", "netns", "del", name]) // a leftover of a killed run
        let r = Run.run(["ip", "netns", "add", name])
        guard r.status == 0 else { throw NSError(domain: "netns", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    }

    /// Runs `ip -n NAME ARGS...` (or a command through `ip netns exec`), failing loudly.
    func ip(_ args: String) throws {
        try sh(["ip", "-n", name] + args.split(separator: " ").map(String.init))
    }

    func exec(_ args: String) throws {
        try sh(["ip", "netns", "exec", name] + args.split(separator: " ").map(String.init))
    }

    private func sh(_ argv: [String]) throws {
        let r = Run.run(argv)
        guard r.status == 0 else {
            throw NSError(domain: "cmd", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "\(argv.joined(separator: " ")): \(r.stderr)"])
        }
    }

    deinit { Run.run(["ip", "netns", "del", name]) }
}

/// A bpffs mounted by the test under /tmp, unmounted and removed when dropped.
final class TempBpffs {
    let path = "/tmp/ebpt-bpffs-\(getpid())"

    init() throws {
        mkdir(path, 0o700)
        let r = Run.run(["mount", "-t", "bpf", "bpf", path])
        guard r.status == 0 else { throw XCTSkip("cannot mount a bpffs at \(path): \(r.stderr)") }
    }

    deinit {
        Run.run(["umount", path])
        rmdir(path)
    }
}
