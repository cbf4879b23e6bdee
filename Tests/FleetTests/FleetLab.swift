import Foundation
import TestSupport
import Verifier
import XCTest

/// Three firewall nodes, each in its own network namespace (`rx0`, 198.18.0.2, its own MAC),
/// joined by veths (`s1`..`s3`) to one sender namespace; each with its own bpffs mount, state
/// and config directories, a UDP receiver on 5060 that writes when each source is first
/// heard, and `ebpf-iptables serve --database` connecting as its own database role
/// (`node1`..) through its own socket directory (a symlink to the server's: removing it cuts
/// the node off).
final class FleetLab: @unchecked Sendable {
    static let ruleset = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -m udp --dport 5060 -m set --match-set peers src -j ACCEPT
        -A INPUT -p udp -m udp --dport 5060 -j DROP
        COMMIT

        """
    static let receiver = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("0.0.0.0", 5060))
        seen = set()
        f = open(sys.argv[1], "a", buffering=1)
        print("listening", flush=True)
        while True:
            d, (a, p) = s.recvfrom(2048)
            t = time.time()
            if a not in seen:
                seen.add(a)
                f.write("%s %.6f\\n" % (a, t))

        """
    static let address: UInt32 = 0xC612_0002 // 198.18.0.2

    final class Node {
        let index: Int
        let ns: NetworkNamespace
        let root: String
        var bpffs: String { root + "/bpffs" }
        var state: String { root + "/state" }
        var config: String { root + "/config" }
        var bin: String { root + "/bin" }
        var log: String { root + "/serve.log" }
        var socketLink: String { root + "/sock" }
        var mac: [UInt8] { [0x02, 0xee, 0, 0, 0, UInt8(index)] }
        var servePID: Int32?
        var receiverPID: Int32?
        var receiverFile = ""
        var mounted = false

        init(index: Int, root: String) throws {
            self.index = index
            self.root = root
            ns = try NetworkNamespace(prefix: "ebfl\(index)")
        }

        var environment: [String: String] {
            ["EBPF_IPTABLES_BPFFS": bpffs + "/pins", "EBPF_IPTABLES_STATE": state, "EBPF_IPTABLES_CONFIG": config]
        }

        @discardableResult
        func ours(_ args: [String], tool: String = "ebpf-iptables", stdin: String? = nil) -> RunResult {
            var env = environment
            env["EBPF_IPTABLES_NO_AGENT"] = "1"
            return Run.run(["ip", "netns", "exec", ns.name, bin + "/" + tool] + args, stdin: stdin, env: env, deadline: .seconds(120))
        }

        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// The changes this node recorded as applied (`A seq` lines of its journal).
        func journalApplied() -> [Int64] {
            let text = (try? String(contentsOfFile: state + "/fleet-applied", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { l in l.hasPrefix("A ") ? Int64(l.dropFirst(2)) : nil }
        }

        /// The largest seq in the journal (snapshots included).
        func appliedSeq() -> Int64 {
            let text = (try? String(contentsOfFile: state + "/fleet-applied", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { Int64($0.split(separator: " ").last ?? "") }.max() ?? -1
        }

        /// The members of `set` in this node's kernel, as `ipset save` prints them.
        func kernelMembers(_ set: String) -> Set<String> {
            let out = ns.run(["ipset", "save", set]).stdout
            return Set(out.split(separator: "\n").compactMap { l in
                let w = l.split(separator: " ")
                return w.count >= 3 && w[0] == "add" ? String(w[2]) : nil
            })
        }

        /// Packets XDP dropped, from `status`.
        func xdpDropped() -> Int {
            let out = ours(["status"]).stdout
            guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("packets: ") }),
                  let n = Int(line.dropFirst("packets: ".count).prefix { $0.isNumber }) else { return -1 }
            return n
        }

        /// Sources the receiver heard first, with the time (epoch seconds).
        func heard() -> [String: Double] {
            let text = (try? String(contentsOfFile: receiverFile, encoding: .utf8)) ?? ""
            var out: [String: Double] = [:]
            for l in text.split(separator: "\n") {
                let w = l.split(separator: " ")
                if w.count == 2, let t = Double(w[1]) { out[String(w[0])] = t }
            }
            return out
        }
    }

    let server: PostgresServer
    let sender: NetworkNamespace
    let root: String
    var nodes: [Node] = []
    var senders: [FrameSender] = []
    let database = "fleet"

    init(server: PostgresServer, nodeCount: Int = 3) throws {
        self.server = server
        root = "/tmp/ebpf-fleet-lab-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        sender = try NetworkNamespace(prefix: "ebfls")
        for k in 1...nodeCount {
            let n = try Node(index: k, root: root + "/n\(k)")
            nodes.append(n)
            for d in [n.bpffs, n.state, n.config, n.bin] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
            for name in ["ebpf-iptables", "ebpf-ipset"] {
                try FileManager.default.createSymbolicLink(atPath: n.bin + "/" + name, withDestinationPath: Run.binary)
            }
            try FileManager.default.createSymbolicLink(atPath: n.socketLink, withDestinationPath: server.socketDir)
            try must(["mount", "-t", "bpf", "bpf", n.bpffs])
            n.mounted = true
            let steps: [[String]] = [
                ["ip", "link", "add", "s\(k)", "netns", sender.name, "type", "veth", "peer", "name", "rx0", "netns", n.ns.name],
                ["ip", "-n", sender.name, "link", "set", "s\(k)", "up"],
                ["ip", "-n", n.ns.name, "link", "set", "rx0", "address", n.mac.map { String(format: "%02x", $0) }.joined(separator: ":")],
                ["ip", "-n", n.ns.name, "addr", "add", "198.18.0.2/24", "dev", "rx0"],
                ["ip", "-n", n.ns.name, "link", "set", "rx0", "up"],
                ["ip", "-n", n.ns.name, "link", "set", "lo", "up"],
            ] + ["all", "default", "rx0"].map { ["ip", "netns", "exec", n.ns.name, "sysctl", "-qw", "net.ipv4.conf.\($0).rp_filter=0"] }
            for s in steps { try must(s) }
            senders.append(try FrameSender(namespace: sender.name, interface: "s\(k)"))
        }
        try Data(Self.receiver.utf8).write(to: URL(fileURLWithPath: root + "/recv.py"))
    }

    func must(_ argv: [String]) throws {
        let r = Run.run(argv)
        guard r.status == 0 else { throw FleetTestFailure("\(argv.joined(separator: " ")): \(r.stderr)") }
    }

    /// Node `n`'s database URL: its own role, through its own socket link.
    func url(for n: Node) -> String { "postgres://node\(n.index)@/\(database)?host=\(n.socketLink)&port=\(server.port)" }
    var adminURL: String { server.url(database) }

    /// The local set, the ruleset, XDP attached (the CLI alone, before the agent starts).
    func prepare(_ n: Node) throws {
        var r = n.ours(["create", "peers", "hash:ip"], tool: "ebpf-ipset")
        guard r.status == 0 else { throw FleetTestFailure("node\(n.index) create peers: \(r.stderr)") }
        r = n.ours(["restore"], stdin: Self.ruleset)
        guard r.status == 0 else { throw FleetTestFailure("node\(n.index) restore: \(r.stderr)") }
        r = n.ours(["attach", "rx0"])
        guard r.status == 0 else { throw FleetTestFailure("node\(n.index) attach: \(r.stderr)") }
    }

    func startReceiver(_ n: Node, tag: String) throws {
        if let pid = n.receiverPID { kill(pid, SIGKILL); n.receiverPID = nil }
        n.receiverFile = n.root + "/heard-\(tag)"
        let r = Run.run(["sh", "-c", "ip netns exec \(n.ns.name) python3 -u \(root)/recv.py \(n.receiverFile) > \(n.root)/recv-\(tag).out 2>&1 & echo $!"])
        guard r.status == 0, let pid = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw FleetTestFailure("receiver: \(r.stderr)") }
        n.receiverPID = pid
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            if ((try? String(contentsOfFile: "\(n.root)/recv-\(tag).out", encoding: .utf8)) ?? "").contains("listening") { return }
            usleep(20_000)
        }
        throw FleetTestFailure("receiver on node\(n.index) did not start")
    }

    /// The REST API's token in `listen` mode (read-only: enough for /metrics).
    static let metricsToken = "fleet-metrics-token"
    static let apiPort = 8443

    /// `group`: the node follows only that node group's sets (`--group`). `listen`: also the
    /// REST API on 127.0.0.1:8443 in the node's namespace (a self-signed certificate), for
    /// its /metrics (`metrics(n)`).
    func startServe(_ n: Node, group: String? = nil, listen: Bool = false) throws {
        let env = n.environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var extra = group.map { " --group '\($0)'" } ?? ""
        if listen {
            if !FileManager.default.fileExists(atPath: n.root + "/api.pem") {
                try must(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", n.root + "/api.key", "-out", n.root + "/api.pem"])
                try Data("\(Self.metricsToken) read-only\n".utf8).write(to: URL(fileURLWithPath: n.root + "/tokens"))
            }
            extra += " --listen 127.0.0.1:\(Self.apiPort) --cert \(n.root)/api.pem --key \(n.root)/api.key --tokens \(n.root)/tokens"
        }
        let cmd = "env \(env) ip netns exec \(n.ns.name) \(n.bin)/ebpf-iptables serve --database '\(url(for: n))' --node-name node\(n.index)\(extra) >>\(n.log) 2>&1 & echo $!"
        let r = Run.run(["sh", "-c", cmd])
        guard r.status == 0, let pid = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw FleetTestFailure("serve: \(r.stderr)") }
        n.servePID = pid
    }

    /// The node's /metrics (serve started with `listen`), as name -> value; waits (bounded)
    /// for the API to answer.
    func metrics(_ n: Node) -> [String: Double] {
        let until = Date().addingTimeInterval(20)
        while Date() < until {
            let r = n.ns.run(["curl", "-sk", "--max-time", "2", "-H", "Authorization: Bearer \(Self.metricsToken)",
                              "https://127.0.0.1:\(Self.apiPort)/metrics"])
            if r.status == 0, r.stdout.contains("ebpf_iptables_") {
                var out: [String: Double] = [:]
                for line in r.stdout.split(separator: "\n") where !line.hasPrefix("#") {
                    let w = line.split(separator: " ")
                    if w.count == 2, let v = Double(w[1]) { out[String(w[0])] = v }
                }
                return out
            }
            usleep(100_000)
        }
        return [:]
    }

    func killServe(_ n: Node, _ signal: Int32 = SIGKILL) {
        guard let pid = n.servePID else { return }
        kill(pid, signal)
        let until = Date().addingTimeInterval(10)
        while kill(pid, 0) == 0 && Date() < until { usleep(20_000) }
        n.servePID = nil
    }

    /// Waits (bounded) until `text` shows in the node's log after `from` bytes.
    @discardableResult
    func waitForLog(_ n: Node, _ text: String, from: Int = 0, seconds: Double = 60) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            let all = n.logText()
            if all.utf8.count > from, String(decoding: Array(all.utf8)[from...], as: UTF8.self).contains(text) { return true }
            usleep(50_000)
        }
        return false
    }

    /// One UDP datagram to 5060 from `source` to node `n`.
    func send(from source: UInt32, to n: Node, id: UInt16 = 1) throws {
        var p = Probe(source: source, destination: Self.address, proto: 17)
        p.destinationPort = 5060
        try senders[n.index - 1].send(p.frame(sourceMAC: [2, 0, 0, 0, 0, UInt8(n.index)], destinationMAC: n.mac, ipID: id))
    }

    func close() {
        for n in nodes {
            killServe(n)
            if let pid = n.receiverPID { kill(pid, SIGKILL) }
            if FileManager.default.fileExists(atPath: n.state + "/attachment.json") { n.ours(["detach", "rx0"]) }
            if n.mounted { Run.run(["umount", n.bpffs]); n.mounted = false }
        }
        nodes.removeAll()
        senders.removeAll()
        try? FileManager.default.removeItem(atPath: root)
    }
}

func dotted(_ a: UInt32) -> String { "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)" }
