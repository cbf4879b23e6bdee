import Foundation
import TestSupport
import XCTest

/// Everything the console test needs, started in order and torn down in reverse (also on
/// failure): a private PostgreSQL (initdb in a temp dir, run as `postgres` through runuser,
/// Unix socket only), the schema, a node agent (`serve --listen`) in a namespace `fw0`
/// (198.18.0.2) with a peer namespace (198.18.0.1) to send packets from, the console in the
/// node's namespace, and a headless Chromium there with its DevTools port.
final class ConsoleLab: @unchecked Sendable {
    let work: String
    let ns: NetworkNamespace
    let peer: NetworkNamespace
    static let nodeAddress = "198.18.0.2", peerAddress = "198.18.0.1"
    let agentPort = 8443, consolePort = 9443, devtoolsPort = 9222
    let nodeToken = "node-" + UUID().uuidString
    let user = "admin", password = "correct horse battery staple"
    private var processes: [(String, Process)] = []
    private var pgStarted = false, mounted = false, attached = false, closed = false

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static let pgBin: String? = {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }()

    /// Why this test cannot run here, or nil.
    static var unavailableReason: String? {
        if let r = NetworkNamespace.unavailableReason { return r }
        if pgBin == nil { return "PostgreSQL's server is not installed (apt-get install postgresql; scripts/setup does)" }
        for tool in ["chromium", "psql", "runuser", "openssl", "curl", "python3"] where !Run.has(tool) {
            return "'\(tool)' is not installed (scripts/setup installs it)"
        }
        return nil
    }

    var databaseURL: String { "postgres://postgres@/fleet?host=\(work)/pgsock" }
    var env: [String: String] {
        ["EBPF_IPTABLES_STATE": work + "/state", "EBPF_IPTABLES_CONFIG": work + "/config", "EBPF_IPTABLES_BPFFS": work + "/bpffs/pins"]
    }
    var consoleURL: String { "https://127.0.0.1:\(consolePort)" }

    /// The console's own environment additions (ConsoleLoginThrottleTests: a short window).
    private let consoleEnv: [String: String]

    /// `node: false` and `browser: false`: PostgreSQL and the console only (with its
    /// certificate, in the namespace, loopback up), for tests that talk HTTPS with curl.
    init(node: Bool = true, browser: Bool = true, consoleEnv: [String: String] = [:]) throws {
        self.consoleEnv = consoleEnv
        ns = try NetworkNamespace(prefix: "cons")
        peer = try NetworkNamespace(prefix: "cons-p")
        work = "/tmp/\(ns.name)"
        try? FileManager.default.removeItem(atPath: work)
        for sub in ["bpffs", "state", "config", "bin", "tls", "pg", "pgsock", "chromium", "shots"] {
            try FileManager.default.createDirectory(atPath: work + "/" + sub, withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: work)
        do {
            try startDatabase()
            if node { try startNode() } else { try startConsoleOnly() }
            try startConsole()
            if browser { try startBrowser() }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    // MARK: PostgreSQL

    private func must(_ argv: [String], stdin: String? = nil, env: [String: String]? = nil, _ what: String) throws -> String {
        let r = Run.run(argv, stdin: stdin, env: env, deadline: .seconds(60))
        guard r.status == 0 else { throw Failure("\(what): \(argv.joined(separator: " ")) exited \(r.status): \(r.stderr)\(r.stdout)") }
        return r.stdout
    }

    private func startDatabase() throws {
        guard let bin = Self.pgBin else { throw Failure("no initdb") }
        _ = try must(["chown", "postgres:postgres", work + "/pg", work + "/pgsock"], "chown")
        _ = try must(["runuser", "-u", "postgres", "--", bin + "/initdb", "-D", work + "/pg/data", "-A", "trust", "-U", "postgres", "--no-sync"], "initdb")
        _ = try must(["runuser", "-u", "postgres", "--", bin + "/pg_ctl", "-D", work + "/pg/data", "-l", work + "/pg/log", "-w", "-t", "60",
                      "-o", "-k \(work)/pgsock -c listen_addresses='' -c fsync=off", "start"], "pg_ctl start")
        pgStarted = true
        _ = try must(["psql", "-X", "-q", "-h", work + "/pgsock", "-U", "postgres", "-d", "postgres", "-c", "create database fleet"], "create database")
        // The schema: `ebpf-iptables db init` applies every migration (0001 the fleet's, 0002
        // the console's users and sessions), as an operator would.
        let initRun = Run.run([Run.binary, "db", "init", "--database", databaseURL], env: env, deadline: .seconds(60))
        guard initRun.status == 0 else { throw Failure("db init: \(initRun.status) \(initRun.stderr)") }
        guard try sql("select to_regclass('console_users') is not null") == "t" else {
            throw Failure("db init did not create console_users")
        }
    }

    /// One value per row, `|` between columns.
    @discardableResult
    func sql(_ text: String) throws -> String {
        try must(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", work + "/pgsock", "-U", "postgres", "-d", "fleet", "-c", text], "psql")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: the node

    var tls: String { work + "/tls" }

    private func makeCertificates() throws {
        _ = try must(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                      "-subj", "/CN=console test CA \(ns.name)", "-keyout", tls + "/ca.key", "-out", tls + "/ca.pem"], "CA")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: tls + "/server.ext", atomically: true, encoding: .utf8)
        _ = try must(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                      "-keyout", tls + "/server.key", "-out", tls + "/server.csr"], "server key")
        _ = try must(["openssl", "x509", "-req", "-in", tls + "/server.csr", "-CA", tls + "/ca.pem", "-CAkey", tls + "/ca.key",
                      "-CAcreateserial", "-days", "2", "-extfile", tls + "/server.ext", "-out", tls + "/server.pem"], "server certificate")
    }

    /// Our CLI in the node's namespace.
    @discardableResult
    func cli(_ args: [String], tool: String = "ebpf-iptables", stdin: String? = nil) -> RunResult {
        Run.run(["ip", "netns", "exec", ns.name, work + "/bin/" + tool] + args, stdin: stdin, env: env, deadline: .seconds(120))
    }

    static let ruleset = """
    *filter
    :INPUT ACCEPT [0:0]
    :FORWARD ACCEPT [0:0]
    :OUTPUT ACCEPT [0:0]
    -A INPUT -p udp -m udp --dport 5060 -m set --match-set peers src -j ACCEPT
    -A INPUT -p udp -m udp --dport 5060 -j DROP
    COMMIT

    """

    private func startNode() throws {
        for name in ["ebpf-iptables", "ebpf-iptables-save", "ebpf-iptables-restore", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: work + "/bin/" + name, withDestinationPath: Run.binary)
        }
        _ = try must(["mount", "-t", "bpf", "bpf", work + "/bpffs"], "mount bpffs")
        mounted = true
        var setup = [["ip", "link", "add", "gen0", "netns", peer.name, "type", "veth", "peer", "name", "fw0", "netns", ns.name],
                     ["ip", "-n", peer.name, "link", "set", "gen0", "up"],
                     ["ip", "-n", ns.name, "link", "set", "fw0", "up"],
                     ["ip", "-n", ns.name, "link", "set", "lo", "up"],
                     ["ip", "-n", peer.name, "addr", "add", Self.peerAddress + "/24", "dev", "gen0"],
                     ["ip", "-n", ns.name, "addr", "add", Self.nodeAddress + "/24", "dev", "fw0"]]
        for k in ["all", "default", "fw0"] { setup.append(["ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"]) }
        for cmd in setup { _ = try must(cmd, "namespace setup") }
        try makeCertificates()
        try "\(nodeToken)\n".write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
        let a = cli(["attach", "fw0"])
        guard a.status == 0 else { throw Failure("attach fw0: \(a.stderr)") }
        attached = true
        // The fleet's `peers` exists in the database first: the node, following it
        // (`serve --database`), creates it in its kernel and loads its members, and the
        // ruleset then references it, as on a real edge node.
        try sql("select fleet_create('peers', 'hash:ip', 'family inet hashsize 1024 maxelem 65536 comment bucketsize 12', 'test')")
        try sql("select fleet_add('peers', '198.51.100.7', 'carrier A', null, 'test')")
        try spawn("serve", [work + "/bin/ebpf-iptables", "serve", "--listen", "127.0.0.1:\(agentPort)", "--cert", tls + "/server.pem",
                            "--key", tls + "/server.key", "--tokens", work + "/tokens",
                            "--database", databaseURL, "--node-name", "edge1"], env: env)
        try waitHTTPS("https://127.0.0.1:\(agentPort)/v1/status", what: "serve", log: "serve")
        let deadline = ContinuousClock.now + .seconds(30)
        while !cli(["list", "peers"], tool: "ebpf-ipset").stdout.contains("198.51.100.7") {
            guard ContinuousClock.now < deadline else { throw Failure("the node did not load the database's peers within 30 s:\n\(logOf("serve"))") }
            usleep(100_000)
        }
        let r = cli([], tool: "ebpf-iptables-restore", stdin: Self.ruleset)
        guard r.status == 0 else { throw Failure("restore: \(r.stderr)") }
        // edge1's row is the node's own heartbeat; edge2 stands for a node that went away.
        try sql("""
            insert into fleet_nodes (name, group_name, api_url, applied_seq, last_seen, xdp_share, status)
            values ('edge2', 'sip', null, 0, now() - interval '5 minutes', null, 'unreachable')
            """)
        let beat = ContinuousClock.now + .seconds(60)
        while try sql("select count(*) from fleet_nodes where name = 'edge1' and xdp_share is not null") != "1" {
            guard ContinuousClock.now < beat else { throw Failure("edge1's heartbeat with its XDP share did not arrive within 60 s:\n\(logOf("serve"))") }
            usleep(200_000)
        }
    }

    // MARK: the console and the browser

    /// What the console needs of startNode without a node: the binary, loopback, certificates.
    private func startConsoleOnly() throws {
        try FileManager.default.createSymbolicLink(atPath: work + "/bin/ebpf-iptables", withDestinationPath: Run.binary)
        _ = try must(["ip", "-n", ns.name, "link", "set", "lo", "up"], "loopback up")
        try makeCertificates()
        try "\(nodeToken)\n".write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
    }

    private func startConsole() throws {
        let add = cli(["console", "adduser", user, "--database", databaseURL], stdin: password + "\n")
        guard add.status == 0 else { throw Failure("console adduser: \(add.stderr)") }
        try spawn("console", [work + "/bin/ebpf-iptables", "console", "--listen", "127.0.0.1:\(consolePort)", "--database", databaseURL,
                              "--cert", tls + "/server.pem", "--key", tls + "/server.key", "--node-token", work + "/tokens",
                              "--node-ca", tls + "/ca.pem"], env: env.merging(consoleEnv) { $1 })
        try waitHTTPS(consoleURL + "/login", what: "console", log: "console")
    }

    private func startBrowser() throws {
        try spawn("chromium", ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                               "--no-first-run", "--disable-extensions", "--disable-background-networking",
                               "--remote-debugging-port=\(devtoolsPort)", "--user-data-dir=\(work)/chromium",
                               "--window-size=1280,860", "about:blank"], env: ["HOME": work + "/chromium"])
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if ns.run(["curl", "-s", "--max-time", "1", "http://127.0.0.1:\(devtoolsPort)/json/list"]).stdout.contains("webSocketDebuggerUrl") { return }
            usleep(200_000)
        }
        throw Failure("chromium's DevTools port did not answer within 30 s:\n\(logOf("chromium"))")
    }

    func logOf(_ name: String) -> String { Fixtures.text(URL(fileURLWithPath: "\(work)/\(name).log")) }

    private func spawn(_ name: String, _ argv: [String], env extra: [String: String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", ns.name] + argv
        var e = ProcessInfo.processInfo.environment
        for (k, v) in extra { e[k] = v }
        p.environment = e
        _ = FileManager.default.createFile(atPath: "\(work)/\(name).log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(work)/\(name).log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes.append((name, p))
    }

    private func waitHTTPS(_ url: String, what: String, log: String) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let p = processes.last(where: { $0.0 == log })?.1, !p.isRunning {
                throw Failure("\(what) exited \(p.terminationStatus):\n\(logOf(log))")
            }
            let r = ns.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url])
            if r.stdout != "000" && !r.stdout.isEmpty { return }
            usleep(100_000)
        }
        throw Failure("\(what) did not answer on \(url) within 60 s:\n\(logOf(log))")
    }

    // MARK: clients

    /// curl in the node's namespace: status, headers, body.
    func curl(_ args: [String]) -> (status: Int, headers: String, body: String) {
        let out = work + "/curl-headers"
        let r = ns.run(["curl", "-sk", "--max-time", "10", "-D", out, "-o", "-", "-w", "\n%{http_code}"] + args)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, Fixtures.text(URL(fileURLWithPath: out)), lines.dropLast().joined(separator: "\n"))
    }

    struct PageState {
        var url: String
        var title: String
        var text: String
        var html: String
    }

    /// One DevTools action (Tests/ConsoleTests/Browser/cdp.py) on the running Chromium.
    func browser(_ args: [String]) throws -> PageState {
        let script = Fixtures.packageRoot.appendingPathComponent("Tests/ConsoleTests/Browser/cdp.py").path
        let r = Run.run(["ip", "netns", "exec", ns.name, "python3", script, String(devtoolsPort)] + args, deadline: .seconds(40))
        let json = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]
        guard r.status == 0, let json else {
            throw Failure("browser \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        }
        return PageState(url: json["url"] as? String ?? "", title: json["title"] as? String ?? "",
                         text: json["text"] as? String ?? "", html: json["html"] as? String ?? "")
    }

    /// UDP datagrams from the peer namespace to the node's port 5060.
    func sendUDP(count: Int) {
        ns.run(["true"])
        peer.run(["ping", "-c", "1", "-W", "1", Self.nodeAddress])  // resolve ARP first
        peer.run(["python3", "-c", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  + "for i in range(\(count)):\n    s.sendto(b'INVITE', ('\(Self.nodeAddress)', 5060))\n"])
    }

    func close() {
        guard !closed else { return }
        closed = true
        for (_, p) in processes.reversed() where p.isRunning {
            p.terminate()
            let deadline = ContinuousClock.now + .seconds(10)
            while p.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        if attached { _ = cli(["detach", "fw0"]) }
        if mounted { Run.run(["umount", work + "/bpffs"]) }
        if pgStarted, let bin = Self.pgBin {
            Run.run(["runuser", "-u", "postgres", "--", bin + "/pg_ctl", "-D", work + "/pg/data", "-m", "immediate", "-w", "stop"], deadline: .seconds(30))
        }
        if ProcessInfo.processInfo.environment["CONSOLE_TEST_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) }
    }
}
