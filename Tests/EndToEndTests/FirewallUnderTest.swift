import Foundation
import TestSupport
import XCTest

/// Our side of a comparison with the kernel's own tools: a network namespace whose veth end
/// `fw0` has the XDP program attached (so every command goes through both layers), a peer
/// namespace at the veth's other end to send frames from, its own bpffs mount, state
/// directory, and our binary under its multi-call names (`ebpf-iptables`,
/// `ebpf-iptables-save`, `ebpf-iptables-restore`, `ebpf-ipset`). Commands run inside the
/// namespace, so the kernel layer they edit is the namespace's, never the host's.
final class FirewallUnderTest {
    let ns: NetworkNamespace
    let peer: NetworkNamespace
    let work: URL
    let interface = "fw0"
    /// `EBPF_IPTABLES_STATE` and `EBPF_IPTABLES_BPFFS` for every command of ours.
    let env: [String: String]
    /// What `ebpf-iptables attach` said.
    private(set) var attachResult: RunResult?
    private var mounted = false

    /// The firewall's address on the veth and the peer's, when `addresses` is asked for.
    static let address = "198.18.0.2", peerAddress = "198.18.0.1"

    /// `attach`: attach the program before returning (fails the test when it cannot).
    /// `addresses`: give both veth ends an address (for traffic), and let the firewall accept
    /// spoofed sources (rp_filter off).
    init(prefix: String, attach: Bool = true, mode: String = "native", addresses: Bool = false,
         file: StaticString = #filePath, line: UInt = #line) throws {
        ns = try NetworkNamespace(prefix: prefix)
        peer = try NetworkNamespace(prefix: prefix + "-p")
        work = FileManager.default.temporaryDirectory.appendingPathComponent(ns.name)
        try? FileManager.default.removeItem(at: work)
        for sub in ["bpffs", "state", "bin"] {
            try FileManager.default.createDirectory(at: work.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for name in ["ebpf-iptables", "ebpf-iptables-save", "ebpf-iptables-restore", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: work.appendingPathComponent("bin/" + name).path,
                                                       withDestinationPath: Run.binary)
        }
        env = ["EBPF_IPTABLES_STATE": work.appendingPathComponent("state").path,
               "EBPF_IPTABLES_BPFFS": work.appendingPathComponent("bpffs/pins").path]
        // `ip netns exec` remounts /sys, hiding the host's bpffs: pins live on a mount of our own.
        let m = Run.run(["mount", "-t", "bpf", "bpf", work.appendingPathComponent("bpffs").path])
        guard m.status == 0 else { throw Failure("mount bpffs: \(m.stderr)") }
        mounted = true
        var setup = [["ip", "link", "add", "gen0", "netns", peer.name, "type", "veth", "peer", "name", interface, "netns", ns.name],
                     ["ip", "-n", peer.name, "link", "set", "gen0", "up"],
                     ["ip", "-n", ns.name, "link", "set", interface, "up"]]
        if addresses {
            setup += [["ip", "-n", peer.name, "addr", "add", Self.peerAddress + "/24", "dev", "gen0"],
                      ["ip", "-n", ns.name, "addr", "add", Self.address + "/24", "dev", interface]]
            for k in ["all", "default", interface] {
                setup.append(["ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"])
            }
        }
        for cmd in setup {
            let r = Run.run(cmd)
            guard r.status == 0 else { throw Failure("\(cmd.joined(separator: " ")): \(r.stderr)") }
        }
        if attach {
            let r = ours("ebpf-iptables", ["attach", interface, "--mode", mode])
            attachResult = r
            XCTAssertEqual(r.status, 0, "attach \(interface): \(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.stderr, "", "attach \(interface)", file: file, line: line)
        }
    }

    deinit {
        if FileManager.default.fileExists(atPath: env["EBPF_IPTABLES_STATE", default: ""] + "/attachment.json") {
            _ = ours("ebpf-iptables", ["detach", interface])
        }
        if mounted { Run.run(["umount", work.appendingPathComponent("bpffs").path]) }
        try? FileManager.default.removeItem(at: work)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The directory of our multi-call names.
    var bin: String { work.appendingPathComponent("bin").path }

    /// Our `tool` (one of the multi-call names) with `args`, inside the namespace.
    @discardableResult
    func ours(_ tool: String, _ args: [String], stdin: String? = nil, deadline: Duration? = .seconds(120)) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, bin + "/" + tool] + args, stdin: stdin, env: env, deadline: deadline)
    }

    /// A shell line whose first word is one of our names (`ebpf-iptables -A INPUT ...`),
    /// quoted as a shell would read it, inside the namespace.
    func oursShell(_ line: String, deadline: Duration? = .seconds(120)) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, "sh", "-c", "PATH=\(Self.quote(bin)):$PATH; " + line], env: env, deadline: deadline)
    }

    /// The kernel's own tools in our namespace (what the kernel layer really holds).
    @discardableResult
    func kernel(_ argv: [String], stdin: String? = nil) -> RunResult { ns.run(argv, stdin: stdin) }

    /// The state's events log (prediction mismatches, drift, recoveries); "" when none.
    var events: String {
        Fixtures.text(URL(fileURLWithPath: env["EBPF_IPTABLES_STATE", default: ""] + "/events.log"))
    }

    /// The firewall's MAC address on the veth.
    var mac: [UInt8] {
        ns.run(["cat", "/sys/class/net/\(interface)/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: ":").compactMap { UInt8($0, radix: 16) }
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// iptables-save output without its `# Generated by` / `# Completed on` lines.
    static func withoutComments(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
    }
}
