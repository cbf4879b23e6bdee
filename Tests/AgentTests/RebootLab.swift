import Foundation
import TestSupport
import XCTest

/// A firewall namespace (`rx0`, 198.18.0.2) joined by a veth to a generator namespace
/// (`g0`), a bpffs mount of its own (`ip netns exec` hides /sys/fs/bpf), state and config
/// directories, and `ebpf-iptables serve` started and killed in it. `reboot()` is what a
/// reboot does to a firewall: new namespaces (empty kernel tables, the interface new), a
/// fresh bpffs (no pins); the state and config directories stay, as /var/lib and /etc do.
final class RebootLab {
    static let mac = "02:ee:00:00:00:02"
    static let macBytes: [UInt8] = [0x02, 0xee, 0, 0, 0, 0x02]
    static let address: UInt32 = 0xC612_0002 // 198.18.0.2

    private(set) var fw: NetworkNamespace
    private(set) var gen: NetworkNamespace
    let root: String
    var bpffs: String { root + "/bpffs" }
    var state: String { root + "/state" }
    var config: String { root + "/config" }
    var bin: String { root + "/bin" }
    var log: String { root + "/serve.log" }
    private(set) var servePID: Int32?
    private var mounted = false

    var environment: [String: String] {
        ["EBPF_IPTABLES_BPFFS": bpffs + "/pins", "EBPF_IPTABLES_STATE": state, "EBPF_IPTABLES_CONFIG": config]
    }

    init(_ tag: String) throws {
        fw = try NetworkNamespace(prefix: "ebpa-\(tag)")
        gen = try NetworkNamespace(prefix: "ebpa-\(tag)g")
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ebpa-\(tag)-\(getpid())-\(UUID().uuidString.prefix(6))").path
        for d in [bpffs, state, config, bin] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        for name in ["ebpf-iptables", "ebpf-iptables-restore", "ebpf-iptables-save", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + name, withDestinationPath: Run.binary)
        }
        try mountBpffs()
        try wire()
    }

    deinit { close() }

    private func mountBpffs() throws {
        let m = Run.run(["mount", "-t", "bpf", "bpf", bpffs])
        guard m.status == 0 else { throw RebootLabFailure("mount bpffs at \(bpffs): \(m.stderr)") }
        mounted = true
    }

    /// The veth pair and addresses.
    func wire() throws {
        let steps: [[String]] = [
            ["ip", "link", "add", "g0", "netns", gen.name, "type", "veth", "peer", "name", "rx0", "netns", fw.name],
            ["ip", "-n", gen.name, "link", "set", "g0", "up"],
            ["ip", "-n", fw.name, "link", "set", "rx0", "address", Self.mac],
            ["ip", "-n", fw.name, "addr", "add", "198.18.0.2/24", "dev", "rx0"],
            ["ip", "-n", fw.name, "link", "set", "rx0", "up"],
            ["ip", "-n", fw.name, "link", "set", "lo", "up"],
        ] + ["all", "default", "rx0"].map { ["ip", "netns", "exec", fw.name, "sysctl", "-qw", "net.ipv4.conf.\($0).rp_filter=0"] }
        for s in steps {
            let r = Run.run(s)
            guard r.status == 0 else { throw RebootLabFailure("\(s.joined(separator: " ")): \(r.stderr)") }
        }
    }

    /// What a reboot leaves: the agent gone, new namespaces, no pins; state and config kept.
    func reboot() throws {
        kill(SIGKILL)
        fw = try NetworkNamespace(prefix: "ebpa-rb")
        gen = try NetworkNamespace(prefix: "ebpa-rbg")
        Run.run(["umount", bpffs])
        mounted = false
        try mountBpffs()
        try wire()
    }

    /// ebpf-iptables under `tool` in the firewall namespace. `alone`: never through an agent.
    @discardableResult
    func ours(_ args: [String], tool: String = "ebpf-iptables", stdin: String? = nil, alone: Bool = false,
              deadline: Duration = .seconds(120)) -> RunResult {
        var env = environment
        if alone { env["EBPF_IPTABLES_NO_AGENT"] = "1" }
        return Run.run(["ip", "netns", "exec", fw.name, bin + "/" + tool] + args, stdin: stdin, env: env, deadline: deadline)
    }

    /// A kernel tool in the firewall namespace.
    @discardableResult
    func run(_ argv: [String], stdin: String? = nil) -> RunResult { fw.run(argv, stdin: stdin) }

    /// Starts `serve` in the background (its log in `log`); returns at once.
    func startServe() throws {
        let env = environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let r = Run.run(["sh", "-c", "env \(env) ip netns exec \(fw.name) \(bin)/ebpf-iptables serve >>\(log) 2>&1 & echo $!"])
        guard r.status == 0, let pid = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw RebootLabFailure("start serve: \(r.stderr)")
        }
        servePID = pid
    }

    /// Waits (bounded) until the log holds a line containing `text`, after `from` bytes.
    @discardableResult
    func waitForLog(_ text: String, from: Int = 0, seconds: Double = 60) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if logText(from: from).contains(text) { return true }
            if let pid = servePID, Glibc.kill(pid, 0) != 0 { return logText(from: from).contains(text) }
            usleep(50_000)
        }
        return false
    }

    func logText(from: Int = 0) -> String {
        let all = Fixtures.text(URL(fileURLWithPath: log))
        return from < all.utf8.count ? String(decoding: Array(all.utf8)[from...], as: UTF8.self) : ""
    }

    var logSize: Int { logText().utf8.count }

    /// Starts `serve` and waits until it serves (the saved ruleset restored by then).
    func startServeAndWait(seconds: Double = 120) throws {
        let from = logSize
        try startServe()
        guard waitForLog("serving (", from: from, seconds: seconds) else {
            throw RebootLabFailure("serve did not become ready in \(seconds) s; log:\n\(logText(from: from))")
        }
    }

    func kill(_ signal: Int32) {
        guard let pid = servePID else { return }
        Glibc.kill(pid, signal)
        let until = Date().addingTimeInterval(10)
        while Glibc.kill(pid, 0) == 0 && Date() < until { usleep(20_000) }
        servePID = nil
    }

    /// XDP's drop count, from `status`.
    func xdpDropped() -> Int {
        let out = ours(["status"]).stdout
        guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("packets: ") }),
              let n = Int(line.dropFirst("packets: ".count).prefix { $0.isNumber }) else { return -1 }
        return n
    }

    /// Sends one UDP frame from `source` to the firewall; returns whether XDP dropped it
    /// (its drop count moved within a bounded wait).
    func xdpDrops(_ sender: FrameSender, from source: UInt32, port: UInt16 = 9) throws -> Bool {
        let before = xdpDropped()
        var p = Probe(source: source, destination: Self.address, proto: 17)
        p.destinationPort = port
        try sender.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: Self.macBytes, ipID: 1))
        let until = Date().addingTimeInterval(1)
        while Date() < until {
            if xdpDropped() > before { return true }
            usleep(20_000)
        }
        return false
    }

    func sender() throws -> FrameSender { try FrameSender(namespace: gen.name, interface: "g0") }

    /// The kernel's rules and sets, comparable (no comments, no counters).
    func kernelState() -> String {
        let rules = run(["iptables-save"]).stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.hasPrefix(":") ? String($0.prefix { $0 != "[" }) : String($0) }
        let v6 = run(["ip6tables-save"]).stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.hasPrefix(":") ? String($0.prefix { $0 != "[" }) : String($0) }
        let sets = run(["ipset", "save"]).stdout.split(separator: "\n").map(String.init).sorted()
        return (rules + ["--v6"] + v6 + ["--sets"] + sets).joined(separator: "\n")
    }

    func write(_ text: String, _ name: String) throws -> String {
        let path = root + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func close() {
        kill(SIGKILL)
        if FileManager.default.fileExists(atPath: state + "/attachment.json") { ours(["detach", "rx0"], alone: true) }
        if mounted { Run.run(["umount", bpffs]); mounted = false }
        try? FileManager.default.removeItem(atPath: root)
    }
}

struct RebootLabFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// 198.18.x.y in host order.
func labAddress(_ dotted: String) -> UInt32 {
    dotted.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | (UInt32($1) ?? 0) }
}
