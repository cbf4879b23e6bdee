import Foundation
import TestSupport
import XCTest

/// `ebpf-iptables serve` with the REST API, started in a namespace this value creates, driven
/// by curl run inside that namespace (a real HTTPS client). The namespace (`fw0`, 198.18.0.2)
/// has a peer namespace on the veth's other end (`gen0`, 198.18.0.1) to send traffic from;
/// XDP is attached to `fw0` before the daemon starts. Certificates come from openssl: a CA,
/// the server's certificate (for 127.0.0.1), a client certificate the CA signed, and one a
/// rogue CA signed. Everything goes with `close()` (also called on deinit): the daemon
/// (SIGTERM, then SIGKILL), the attachment, the bpffs mount, the files; the namespaces go
/// with their values.
final class AgentUnderTest: @unchecked Sendable {
    let ns: NetworkNamespace
    let peer: NetworkNamespace
    let work: String
    let port = 8443
    let interface = "fw0"
    static let address = "198.18.0.2", peerAddress = "198.18.0.1"
    let fullToken = "full-" + UUID().uuidString
    let readOnlyToken = "ro-" + UUID().uuidString
    let mutualTLS: Bool
    private var daemon: Process?
    private var mounted = false
    private var closed = false

    var env: [String: String] {
        ["EBPF_IPTABLES_STATE": work + "/state", "EBPF_IPTABLES_CONFIG": work + "/config", "EBPF_IPTABLES_BPFFS": work + "/bpffs/pins"]
    }

    /// Why these tests cannot run here, or nil.
    static var unavailableReason: String? {
        if let r = NetworkNamespace.unavailableReason { return r }
        for tool in ["curl", "openssl", "ping"] where !Run.has(tool) { return "'\(tool)' is not installed" }
        return nil
    }

    /// Added to the daemon's environment only.
    let daemonEnv: [String: String]

    init(prefix: String, mutualTLS: Bool = false, attach: Bool = true, daemonEnv: [String: String] = [:]) throws {
        self.mutualTLS = mutualTLS
        self.daemonEnv = daemonEnv
        ns = try NetworkNamespace(prefix: prefix)
        peer = try NetworkNamespace(prefix: prefix + "-p")
        work = FileManager.default.temporaryDirectory.appendingPathComponent(ns.name).path
        try? FileManager.default.removeItem(atPath: work)
        for sub in ["bpffs", "state", "config", "bin", "tls"] {
            try FileManager.default.createDirectory(atPath: work + "/" + sub, withIntermediateDirectories: true)
        }
        for name in ["ebpf-iptables", "ebpf-iptables-save", "ebpf-iptables-restore", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: work + "/bin/" + name, withDestinationPath: Run.binary)
        }
        let m = Run.run(["mount", "-t", "bpf", "bpf", work + "/bpffs"])
        guard m.status == 0 else { throw Failure("mount bpffs: \(m.stderr)") }
        mounted = true
        var setup = [["ip", "link", "add", "gen0", "netns", peer.name, "type", "veth", "peer", "name", interface, "netns", ns.name],
                     ["ip", "-n", peer.name, "link", "set", "gen0", "up"],
                     ["ip", "-n", ns.name, "link", "set", interface, "up"],
                     ["ip", "-n", ns.name, "link", "set", "lo", "up"],
                     ["ip", "-n", peer.name, "addr", "add", Self.peerAddress + "/24", "dev", "gen0"],
                     ["ip", "-n", ns.name, "addr", "add", Self.address + "/24", "dev", interface]]
        for k in ["all", "default", interface] {
            setup.append(["ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"])
        }
        for cmd in setup {
            let r = Run.run(cmd)
            guard r.status == 0 else { throw Failure("\(cmd.joined(separator: " ")): \(r.stderr)") }
        }
        try makeCertificates()
        try "# tokens for the test\n\n\(fullToken)\n\(readOnlyToken) read-only\n".write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
        if attach {
            let r = cli(["attach", interface])
            guard r.status == 0 else { throw Failure("attach \(interface): \(r.stderr)") }
        }
        try start()
    }

    deinit { close() }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // MARK: certificates

    var tls: String { work + "/tls" }

    private func openssl(_ args: [String]) throws {
        let r = Run.run(["openssl"] + args)
        guard r.status == 0 else { throw Failure("openssl \(args.joined(separator: " ")): \(r.stderr)") }
    }

    /// A CA and what it signs; a second, rogue CA for a client certificate the server must refuse.
    private func makeCertificates() throws {
        for ca in ["ca", "rogue-ca"] {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                         "-subj", "/CN=\(ca) \(ns.name)", "-keyout", "\(tls)/\(ca).key", "-out", "\(tls)/\(ca).pem"])
        }
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: tls + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: tls + "/client.ext", atomically: true, encoding: .utf8)
        for (name, ca) in [("server", "ca"), ("client", "ca"), ("rogue-client", "rogue-ca")] {
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=\(name)",
                         "-keyout", "\(tls)/\(name).key", "-out", "\(tls)/\(name).csr"])
            try openssl(["x509", "-req", "-in", "\(tls)/\(name).csr", "-CA", "\(tls)/\(ca).pem", "-CAkey", "\(tls)/\(ca).key",
                         "-CAcreateserial", "-days", "2", "-extfile", "\(tls)/\(name == "server" ? "server" : "client").ext",
                         "-out", "\(tls)/\(name).pem"])
        }
    }

    // MARK: the daemon

    var log: String { Fixtures.text(URL(fileURLWithPath: work + "/serve.log")) }

    func start() throws {
        var args = [work + "/bin/ebpf-iptables", "serve", "--listen", "127.0.0.1:\(port)",
                    "--cert", tls + "/server.pem", "--key", tls + "/server.key", "--tokens", work + "/tokens"]
        if mutualTLS { args += ["--client-ca", tls + "/ca.pem"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", ns.name] + args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env.merging(daemonEnv, uniquingKeysWith: { $1 }) { e[k] = v }
        p.environment = e
        _ = FileManager.default.createFile(atPath: work + "/serve.log", contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: work + "/serve.log"))
        p.standardOutput = logHandle
        p.standardError = logHandle
        try p.run()
        daemon = p
        // Ready when the port answers TLS and HTTP (any status), within 60 s.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard p.isRunning else { throw Failure("serve exited \(p.terminationStatus):\n\(log)") }
            let r = ns.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                            "https://127.0.0.1:\(port)/v1/status"] + (mutualTLS ? ["--cert", tls + "/client.pem", "--key", tls + "/client.key"] : []))
            if r.stdout != "000" && !r.stdout.isEmpty { return }
            usleep(100_000)
        }
        throw Failure("serve did not answer on 127.0.0.1:\(port) within 60 s:\n\(log)")
    }

    /// SIGTERM, then SIGKILL after 10 s; the daemon's process group is `ip netns exec`'s child.
    func stop() {
        guard let p = daemon else { return }
        daemon = nil
        if p.isRunning {
            p.terminate()
            let deadline = ContinuousClock.now + .seconds(10)
            while p.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        stop()
        if FileManager.default.fileExists(atPath: work + "/state/attachment.json") { _ = cli(["detach", interface]) }
        if mounted { Run.run(["umount", work + "/bpffs"]) }
        try? FileManager.default.removeItem(atPath: work)
    }

    // MARK: clients

    /// Our CLI in the namespace (it forwards to the daemon when the agent's socket answers).
    @discardableResult
    func cli(_ args: [String], tool: String = "ebpf-iptables", stdin: String? = nil) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, work + "/bin/" + tool] + args, stdin: stdin, env: env, deadline: .seconds(120))
    }

    /// The kernel's own tools in the namespace: the oracle.
    @discardableResult
    func kernel(_ argv: [String], stdin: String? = nil) -> RunResult { ns.run(argv, stdin: stdin) }

    /// The kernel's rules without comments and counters.
    func kernelRules() -> String {
        kernel(["iptables-save"]).stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.hasPrefix(":") ? String($0.split(separator: " ").prefix(2).joined(separator: " ")) : String($0) }
            .joined(separator: "\n")
    }

    struct Reply {
        var status: Int
        var body: String
        var headers: String
        /// curl's own exit status (0: an HTTP answer came).
        var curl: Int32
        var curlError: String

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
        var array: [Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [Any] }
    }

    enum Credential { case full, readOnly, none, token(String) }
    enum ClientCertificate { case ours, rogue, none }

    /// One HTTPS request with curl in the namespace. `body` goes as is (malformed JSON too).
    func request(_ method: String, _ path: String, body: String? = nil, token: Credential = .full,
                 certificate: ClientCertificate? = nil) -> Reply {
        var args = ["curl", "-sS", "--max-time", "60", "--cacert", tls + "/ca.pem", "-X", method,
                    "-D", "-", "-o", "/dev/fd/3", "-w", "%{http_code}"]
        switch certificate ?? (mutualTLS ? .ours : .none) {
        case .ours: args += ["--cert", tls + "/client.pem", "--key", tls + "/client.key"]
        case .rogue: args += ["--cert", tls + "/rogue-client.pem", "--key", tls + "/rogue-client.key"]
        case .none: break
        }
        switch token {
        case .full: args += ["-H", "Authorization: Bearer \(fullToken)"]
        case .readOnly: args += ["-H", "Authorization: Bearer \(readOnlyToken)"]
        case .token(let t): args += ["-H", "Authorization: \(t)"]
        case .none: break
        }
        if body != nil { args += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        args.append("https://127.0.0.1:\(port)\(path)")
        // Headers and status on stdout, the body on fd 3 (a file), kept apart.
        let bodyFile = work + "/body-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: bodyFile) }
        let quoted = args.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let r = ns.run(["sh", "-c", "exec 3>'\(bodyFile)'; \(quoted)"], stdin: body ?? "")
        let out = r.stdout
        let code = Int(out.suffix(3)) ?? 0
        let headers = String(out.dropLast(3))
        return Reply(status: code, body: Fixtures.text(URL(fileURLWithPath: bodyFile)), headers: headers, curl: r.status, curlError: r.stderr)
    }

    /// JSON text of `value`.
    static func json(_ value: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    /// One ICMP echo from the peer to the firewall: true when the reply came.
    func pingFromPeer() -> Bool {
        peer.run(["ping", "-c", "1", "-W", "1", Self.address]).status == 0
    }
}

/// Responses seen in a test, checked at the end against docs/openapi.yaml: the status is one
/// the operation documents and the body matches its schema (python3's jsonschema, which
/// schemathesis brings).
final class OpenAPIResponses {
    private var seen: [[String: Any]] = []

    func record(_ method: String, _ template: String, _ reply: AgentUnderTest.Reply) {
        seen.append(["method": method.lowercased(), "path": template, "status": String(reply.status), "body": reply.body])
    }

    /// nil when every response matched; the mismatches otherwise.
    func check() -> String? {
        guard !seen.isEmpty else { return nil }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-responses-\(getpid())-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try? AgentUnderTest.json(seen).write(toFile: file, atomically: true, encoding: .utf8)
        let r = Run.run(["python3", "-c", Self.script, OpenAPIDocument.path, file])
        if r.status != 0 { return r.stdout + r.stderr }
        return nil
    }

    static let script = #"""
import json, sys, yaml, jsonschema
doc = yaml.safe_load(open(sys.argv[1]))
seen = json.load(open(sys.argv[2]))
def resolve(node):
    if isinstance(node, dict):
        if "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target = doc
            for p in parts: target = target[p]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list): return [resolve(v) for v in node]
    return node
bad = []
for s in seen:
    op = doc["paths"].get(s["path"], {}).get(s["method"])
    if op is None:
        bad.append(f'{s["method"]} {s["path"]}: not in the document'); continue
    resp = op["responses"].get(s["status"])
    if resp is None:
        bad.append(f'{s["method"]} {s["path"]}: status {s["status"]} not documented'); continue
    resp = resolve(resp)
    content = resp.get("content", {})
    if "application/json" in content:
        try:
            body = json.loads(s["body"])
        except Exception as e:
            bad.append(f'{s["method"]} {s["path"]} {s["status"]}: not JSON: {e}: {s["body"][:200]}'); continue
        try:
            jsonschema.validate(body, content["application/json"]["schema"])
        except jsonschema.ValidationError as e:
            bad.append(f'{s["method"]} {s["path"]} {s["status"]}: {e.message} at {list(e.absolute_path)}')
print("\n".join(bad))
print(f"{len(seen)} responses checked, {len(bad)} mismatches")
sys.exit(1 if bad else 0)
"""#
}

/// docs/openapi.yaml.
enum OpenAPIDocument {
    static var path: String { Fixtures.packageRoot.appendingPathComponent("docs/openapi.yaml").path }
}
