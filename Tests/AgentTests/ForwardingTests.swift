import Foundation
import TestSupport
import XCTest

/// A firewall namespace as the end-to-end tests build it (veth end `fw0` with XDP attached,
/// its own bpffs, state and config directories, our binary under its multi-call names), and
/// optionally the agent (`ebpf-iptables serve`) running in it, started and stopped as systemd
/// would: readiness and stopping are datagrams on a NOTIFY_SOCKET this lab binds.
final class AgentLab {
    let ns: NetworkNamespace
    let peer: NetworkNamespace
    let work: URL
    let interface = "fw0"
    let env: [String: String]
    private var mounted = false
    private(set) var agent: Process?
    private var notifyFD: Int32 = -1

    /// `leanClient`: `ebpf-iptables` and `ebpf-ipset` are the lean client (ebpf-iptables-client),
    /// which forwards edits itself and execs the full binary for the rest.
    init(prefix: String, leanClient: Bool = false) throws {
        ns = try NetworkNamespace(prefix: prefix)
        peer = try NetworkNamespace(prefix: prefix + "-p")
        work = FileManager.default.temporaryDirectory.appendingPathComponent(ns.name)
        try? FileManager.default.removeItem(at: work)
        for sub in ["bpffs", "state", "config", "bin", "cwd"] {
            try FileManager.default.createDirectory(at: work.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for name in ["ebpf-iptables", "ebpf-iptables-save", "ebpf-iptables-restore", "ebpf-ipset"] {
            let lean = leanClient && ["ebpf-iptables", "ebpf-ipset"].contains(name)
            try FileManager.default.createSymbolicLink(atPath: work.appendingPathComponent("bin/" + name).path,
                                                       withDestinationPath: lean ? Self.leanClientBinary : Run.binary)
        }
        env = ["EBPF_IPTABLES_STATE": work.appendingPathComponent("state").path,
               "EBPF_IPTABLES_BPFFS": work.appendingPathComponent("bpffs/pins").path,
               "EBPF_IPTABLES_CONFIG": work.appendingPathComponent("config").path]
        let m = Run.run(["mount", "-t", "bpf", "bpf", work.appendingPathComponent("bpffs").path])
        guard m.status == 0 else { throw LabFailure("mount bpffs: \(m.stderr)") }
        mounted = true
        for cmd in [["ip", "link", "add", "gen0", "netns", peer.name, "type", "veth", "peer", "name", interface, "netns", ns.name],
                    ["ip", "-n", peer.name, "link", "set", "gen0", "up"],
                    ["ip", "-n", ns.name, "link", "set", interface, "up"],
                    ["ip", "-n", ns.name, "link", "set", "lo", "up"]] {
            let r = Run.run(cmd)
            guard r.status == 0 else { throw LabFailure("\(cmd.joined(separator: " ")): \(r.stderr)") }
        }
    }

    deinit {
        stopAgent(signal: SIGKILL)
        if FileManager.default.fileExists(atPath: stateDir + "/attachment.json") {
            _ = ours("ebpf-iptables", ["detach", interface], env: ["EBPF_IPTABLES_NO_AGENT": "1"])
        }
        if mounted { Run.run(["umount", work.appendingPathComponent("bpffs").path]) }
        try? FileManager.default.removeItem(at: work)
    }

    /// The lean client, built beside the full binary.
    static var leanClientBinary: String {
        URL(fileURLWithPath: Run.binary).deletingLastPathComponent().appendingPathComponent("ebpf-iptables-client").path
    }

    var stateDir: String { env["EBPF_IPTABLES_STATE", default: ""] }
    var socketPath: String { stateDir + "/agent.sock" }
    var bin: String { work.appendingPathComponent("bin").path }
    var agentLog: String { (try? String(contentsOf: work.appendingPathComponent("agent.log"), encoding: .utf8)) ?? "" }

    /// Our `tool` inside the namespace; `env` adds to the lab's.
    @discardableResult
    func ours(_ tool: String, _ args: [String], stdin: String? = nil, env extra: [String: String] = [:]) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, bin + "/" + tool] + args, stdin: stdin, env: env.merging(extra) { $1 }, deadline: .seconds(120))
    }

    /// A shell line in the lab's `cwd` directory with our names first on PATH.
    func oursShell(_ line: String, env extra: [String: String] = [:]) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, "sh", "-c", "cd \(work.appendingPathComponent("cwd").path) && PATH=\(bin):$PATH; " + line],
                env: env.merging(extra) { $1 }, deadline: .seconds(300))
    }

    func kernel(_ argv: [String], stdin: String? = nil) -> RunResult { ns.run(argv, stdin: stdin) }

    /// Starts `serve` in the namespace and waits for READY=1 on the lab's notify socket.
    /// Returns what arrived first (READY=1 expected), nil when nothing did in time.
    func startAgent(extraEnv: [String: String] = [:], timeout: Int = 60) throws -> String? {
        if notifyFD < 0 { notifyFD = try bindNotify() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        p.arguments = ["netns", "exec", ns.name, bin + "/ebpf-iptables", "serve"]
        var e = ProcessInfo.processInfo.environment.merging(env) { $1 }.merging(extraEnv) { $1 }
        e["NOTIFY_SOCKET"] = notifyPath
        e.removeValue(forKey: "EBPF_IPTABLES_NO_AGENT")
        p.environment = e
        let logURL = work.appendingPathComponent("agent.log")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        agent = p
        return receiveNotify(timeout: timeout)
    }

    /// SIGTERM (or another signal) to the agent, and its exit status (nil when it had to be
    /// killed after `timeout`).
    @discardableResult
    func stopAgent(signal sig: Int32 = SIGTERM, timeout: Double = 30) -> Int32? {
        guard let p = agent else { return nil }
        agent = nil
        kill(p.processIdentifier, sig)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    var notifyPath: String { work.appendingPathComponent("notify").path }

    private func bindNotify() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let p = Array(notifyPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in p.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + p.count + 1)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard r == 0 else { close(fd); throw LabFailure("bind notify socket: \(String(cString: strerror(errno)))") }
        return fd
    }

    /// The next datagram on the notify socket, within `timeout` seconds.
    func receiveNotify(timeout: Int) -> String? {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(notifyFD, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(notifyFD, &buf, buf.count, 0)
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    func closeNotify() {
        if notifyFD >= 0 { close(notifyFD); notifyFD = -1 }
    }
}

struct LabFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The CLI forwarding to the agent: the same table of commands (edits, questions, errors with
/// their exit statuses and messages, files named relative to the client's directory) run in
/// a namespace whose agent answers and in one without an agent; every answer is the same,
/// byte for byte, and the agent's log shows it did the work.
final class ForwardingTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
    }

    func testForwardedAnswersEqualInProcessAnswers() throws {
        try compareForwardedWithInProcess(leanClient: false)
    }

    /// The same table with the lean client in front: what it forwards itself (iptables' and
    /// ipset's argv) and what it hands to the full binary (restore, save, status) answer the same.
    func testTheLeanClientsAnswersEqualInProcessAnswers() throws {
        guard FileManager.default.isExecutableFile(atPath: AgentLab.leanClientBinary) else {
            return XCTFail("\(AgentLab.leanClientBinary) not built (swift build builds every product)")
        }
        try compareForwardedWithInProcess(leanClient: true)
    }

    func compareForwardedWithInProcess(leanClient: Bool) throws {
        let viaAgent = try AgentLab(prefix: leanClient ? "fwc" : "fwa", leanClient: leanClient)
        let alone = try AgentLab(prefix: "fwl")
        for lab in [viaAgent, alone] {
            let r = lab.ours("ebpf-iptables", ["attach", lab.interface, "--mode", "generic"], env: ["EBPF_IPTABLES_NO_AGENT": "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let cwd = lab.work.appendingPathComponent("cwd")
            try "create extra hash:net family inet\nadd extra 198.18.9.0/24\n".write(to: cwd.appendingPathComponent("sets.txt"), atomically: true, encoding: .utf8)
            try "create broken hash:ip\nadd broken notanaddress\n".write(to: cwd.appendingPathComponent("broken.txt"), atomically: true, encoding: .utf8)
            try "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j DROP\n-A INPUT -m set --match-set wl src -j ACCEPT\nCOMMIT\n"
                .write(to: cwd.appendingPathComponent("rules.v4"), atomically: true, encoding: .utf8)
            try "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 99999 -j DROP\nCOMMIT\n"
                .write(to: cwd.appendingPathComponent("bad.v4"), atomically: true, encoding: .utf8)
        }
        // The agent waits for the state lock as long as its own EBPF_IPTABLES_LOCK_WAIT says
        // (the client's is not sent): the same bound on both sides for the exit-4 case.
        let lockWait = ["EBPF_IPTABLES_LOCK_WAIT": "0.3"]
        XCTAssertEqual(try viaAgent.startAgent(extraEnv: lockWait), "READY=1", viaAgent.agentLog)
        XCTAssertTrue(FileManager.default.fileExists(atPath: viaAgent.socketPath))

        // Shell lines run in each lab's cwd. `#save` marks an iptables-save whose
        // `# Generated by`/`# Completed on` lines (dates) and chain counters (stray packets of
        // each namespace's own) are left out of the comparison; `#set` an ipset save, whose
        // member order and initval follow each set's random hash seed; `#status` a status,
        // whose program id is the kernel's (one per namespace) and whose packet counts see
        // each namespace's stray packets (IPv6 autoconfiguration on the veth).
        let table: [String] = [
            "ebpf-ipset create wl hash:ip",
            "ebpf-ipset add wl 198.18.5.1",
            "ebpf-ipset add wl 198.18.5.1",                       // already added: ipset's exit 1
            "ebpf-ipset -exist add wl 198.18.5.1",
            "ebpf-ipset add nosuchset 198.18.5.1",
            "ebpf-ipset add wl not-an-address",
            "ebpf-ipset frobnicate",
            "ebpf-ipset restore -file sets.txt",                 // relative to the client's directory
            "ebpf-ipset restore -file broken.txt",
            "ebpf-ipset restore -file missing.txt",
            "printf 'add wl 198.18.5.2\\nadd wl 198.18.5.3\\n' | ebpf-ipset restore",
            "#set ebpf-ipset save wl",
            "ebpf-ipset list -n",
            "ebpf-ipset test wl 198.18.5.2",
            "ebpf-ipset test wl 198.18.5.99",
            "ebpf-ipset del wl 198.18.5.3",
            "ebpf-iptables-restore rules.v4",                    // relative file, read by the client
            "ebpf-iptables-restore bad.v4",
            "ebpf-iptables-restore missing.v4",
            "ebpf-iptables -A INPUT -p tcp --dport 22 -j DROP",
            "ebpf-iptables -A INPUT -s 198.18.7.0/24 -j ACCEPT",
            "ebpf-iptables -I INPUT 1 -p udp --dport 53 -j ACCEPT",
            "ebpf-iptables -A NOSUCHCHAIN -j DROP",
            "ebpf-iptables -A INPUT -p tcp --dport 99999 -j DROP",
            "ebpf-iptables --bogus-option",
            "ebpf-iptables -D INPUT -p tcp --dport 22 -j DROP",
            "ebpf-iptables -D INPUT -p tcp --dport 22 -j DROP",
            "ebpf-iptables -S",
            "ebpf-iptables -L INPUT -n",
            "ebpf-iptables -C INPUT -s 198.18.7.0/24 -j ACCEPT",
            "ebpf-iptables -P INPUT DROP",
            "ebpf-iptables -P INPUT ACCEPT",
            "ebpf-iptables -6 -A INPUT -j DROP",
            "ebpf-iptables -t nat -A POSTROUTING -o fw0 -j MASQUERADE",
            "#save ebpf-iptables-save",
            "#save ebpf-iptables-save -t filter",
            "ebpf-iptables-save -t nosuchtable",
            "ebpf-iptables ipset add wl 198.18.5.4",
            "#status ebpf-iptables status",
            "#status ebpf-iptables status -v",
            "ebpf-iptables attach nosuchif0",
            // Another process holds the state lock: exit 4 with our message (its pid differs).
            "#lock flock \"$EBPF_IPTABLES_STATE/lock\" sleep 1.5 & sleep 0.5; ebpf-ipset add wl 198.18.5.9; s=$?; wait; exit $s",
        ]
        var statuses = Set<Int32>()
        func normalize(_ s: String, _ lab: AgentLab, save: Bool, set: Bool = false, status: Bool = false, lock: Bool = false) -> String {
            var t = s.replacingOccurrences(of: lab.work.path, with: "WORK")
                .replacingOccurrences(of: lab.ns.name, with: "NS")
            if lock { t = t.replacingOccurrences(of: "pid [0-9]+", with: "pid N", options: .regularExpression) }
            if status {
                t = t.replacingOccurrences(of: "program id [0-9]+", with: "program id N", options: .regularExpression)
                t = t.split(separator: "\n", omittingEmptySubsequences: false).map {
                    $0.hasPrefix("packets:") ? $0.replacingOccurrences(of: "[0-9]+", with: "N", options: .regularExpression) : String($0)
                }.joined(separator: "\n")
            }
            if save {
                t = t.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.joined(separator: "\n")
                t = t.replacingOccurrences(of: "\\[[0-9]+:[0-9]+\\]", with: "[N:N]", options: .regularExpression)
            }
            if set {
                t = t.replacingOccurrences(of: " initval 0x[0-9a-f]+", with: "", options: .regularExpression)
                t = t.split(separator: "\n").sorted().joined(separator: "\n")
            }
            return t
        }
        for entry in table {
            let save = entry.hasPrefix("#save "), set = entry.hasPrefix("#set "), status = entry.hasPrefix("#status "), lock = entry.hasPrefix("#lock ")
            let line = entry.hasPrefix("#") ? String(entry.split(separator: " ", maxSplits: 1)[1]) : entry
            let a = viaAgent.oursShell(line, env: lockWait)
            let b = alone.oursShell(line, env: lockWait)
            statuses.insert(a.status)
            XCTAssertFalse(a.timedOut || b.timedOut, line)
            XCTAssertEqual(a.status, b.status, "\(line): exit status (agent: \(a.stderr); alone: \(b.stderr))")
            XCTAssertEqual(normalize(a.stdout, viaAgent, save: save, set: set, status: status),
                           normalize(b.stdout, alone, save: save, set: set, status: status), "\(line): stdout")
            XCTAssertEqual(normalize(a.stderr, viaAgent, save: save, lock: lock), normalize(b.stderr, alone, save: save, lock: lock), "\(line): stderr")
        }
        // The table reaches every exit status the tools and the lock give.
        XCTAssertTrue(statuses.isSuperset(of: [0, 1, 2, 4]), "\(statuses)")
        // The kernel layers ended equal, and the agent did the agent side's work: one log line
        // per request.
        XCTAssertEqual(normalize(viaAgent.kernel(["iptables-save"]).stdout, viaAgent, save: true),
                       normalize(alone.kernel(["iptables-save"]).stdout, alone, save: true))
        XCTAssertEqual(normalize(viaAgent.kernel(["ipset", "save"]).stdout, viaAgent, save: false, set: true),
                       normalize(alone.kernel(["ipset", "save"]).stdout, alone, save: false, set: true))
        let log = viaAgent.agentLog
        XCTAssertTrue(log.contains("request ipset add wl 198.18.5.1: exit 0"), log)
        XCTAssertTrue(log.contains("request iptables -A NOSUCHCHAIN -j DROP: exit"), log)
        XCTAssertTrue(log.contains("request restore rules.v4"), log)
        XCTAssertTrue(log.contains("request status: exit 0"), log)

        // SIGTERM: STOPPING=1, the socket removed, exit 0; the CLI then works alone.
        XCTAssertEqual(viaAgent.stopAgent(), 0, viaAgent.agentLog)
        XCTAssertEqual(viaAgent.receiveNotify(timeout: 5), "STOPPING=1")
        // The one-address edits went over netlink (same answers as the tool: above).
        let stopped = viaAgent.agentLog.split(separator: "\n").last { $0.contains("stopped (kernel layer: ") } ?? ""
        XCTAssertNotNil(stopped.range(of: "kernel layer: [1-9][0-9]* ipset edits over netlink", options: .regularExpression), viaAgent.agentLog)
        XCTAssertNotNil(stopped.range(of: "[1-9][0-9]* iptables-save answered from the last read", options: .regularExpression), viaAgent.agentLog)
        XCTAssertNotNil(stopped.range(of: "[1-9][0-9]* appends through iptables-restore", options: .regularExpression), viaAgent.agentLog)
        XCTAssertFalse(FileManager.default.fileExists(atPath: viaAgent.socketPath))
        let after = viaAgent.oursShell("ebpf-ipset add wl 198.18.5.77")
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertFalse(viaAgent.agentLog.contains("198.18.5.77"))
        viaAgent.closeNotify()
    }

    func testAKilledAgentLeavesTheCLIWorkingAloneAndARestartReplacesItsSocket() throws {
        let lab = try AgentLab(prefix: "fwk")
        XCTAssertEqual(lab.ours("ebpf-iptables", ["attach", lab.interface, "--mode", "generic"]).status, 0)
        XCTAssertEqual(try lab.startAgent(), "READY=1", lab.agentLog)
        XCTAssertEqual(lab.oursShell("ebpf-ipset create wl hash:ip && ebpf-ipset add wl 198.18.6.1").status, 0)
        XCTAssertTrue(lab.agentLog.contains("request ipset add wl 198.18.6.1: exit 0"), lab.agentLog)

        // kill -9: the socket file stays behind, nothing answers on it (ECONNREFUSED).
        lab.stopAgent(signal: SIGKILL)
        XCTAssertTrue(FileManager.default.fileExists(atPath: lab.socketPath))
        let r = lab.oursShell("ebpf-ipset add wl 198.18.6.2 && ebpf-iptables -A INPUT -m set --match-set wl src -j DROP && ebpf-iptables -S INPUT")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertTrue(r.stdout.contains("-A INPUT -m set --match-set wl src -j DROP"), r.stdout)
        XCTAssertTrue(lab.kernel(["ipset", "test", "wl", "198.18.6.2"]).status == 0)
        XCTAssertFalse(lab.agentLog.contains("198.18.6.2"))

        // A new agent replaces the stale file and is ready again.
        XCTAssertEqual(try lab.startAgent(), "READY=1", lab.agentLog)
        XCTAssertTrue(lab.agentLog.contains("removed stale"), lab.agentLog)
        let s = lab.oursShell("ebpf-iptables status")
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(lab.agentLog.contains("request status: exit 0"), lab.agentLog)
        // A second agent on the same state refuses to start: one owner per firewall.
        let second = Run.run(["ip", "netns", "exec", lab.ns.name, lab.bin + "/ebpf-iptables", "serve"], env: lab.env, deadline: .seconds(60))
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("another agent already answers"), second.stderr)
        XCTAssertEqual(lab.stopAgent(), 0)
        lab.closeNotify()
    }
}
