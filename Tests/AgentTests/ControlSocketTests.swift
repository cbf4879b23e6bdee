@testable import Agent
import Foundation
import IptParse
import Logging
import Runtime
import XCTest

/// The control socket's protocol and server, with a kernel layer that only answers (no
/// root, no namespace): framing, the round trip, 0600, stale and live socket files, paths
/// that name another firewall, the client's working directory, removal at stop.
final class ControlSocketTests: XCTestCase {
    /// Answers each call with its argv and the directory it ran in; `ipset fail` exits 1.
    struct EchoKernel: KernelLayer {
        func iptables(_ family: Family, _ argv: [String]) -> ToolResult {
            ToolResult(status: argv.first == "--bogus" ? 2 : 0, stdout: "iptables \(argv.joined(separator: " "))\n",
                       stderr: argv.first == "--bogus" ? "iptables v1.8.9 (nf_tables): unknown option \"--bogus\"\n" : "")
        }
        func restore(_ family: Family, _ text: String, noflush: Bool, counters: Bool) -> ToolResult { ToolResult(status: 0) }
        func save(_ family: Family, counters: Bool, table: String?) -> ToolResult { ToolResult(status: 0, stdout: "*filter\nCOMMIT\n") }
        func ipset(_ argv: [String], stdin: String?) -> ToolResult {
            if argv.first == "fail" { return ToolResult(status: 1, stderr: "ipset v7.17: failed\n") }
            return ToolResult(status: 0, stdout: "ipset \(argv.joined(separator: " ")) in \(FileManager.default.currentDirectoryPath) stdin=\(stdin ?? "-")\n")
        }
        func dryRun(_ family: Family, sets: String, base: String?, text: String, noflush: Bool) -> ToolResult { ToolResult(status: 0) }
        func keepConntrack(_ on: Bool) -> ToolResult { ToolResult(status: 0) }
    }

    struct NoHost: XDPHost {
        struct Refused: Error {}
        func open(interface: String) throws -> XDPLayer? { nil }
        func attach(interface: String, mode: String) throws -> XDPLayer { throw Refused() }
        func detach(interface: String) throws {}
    }

    var dir: String = ""
    var paths: Paths { Paths(pinRoot: dir + "/pins", stateDir: dir + "/state", configDir: dir + "/config") }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctlsock-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func makeService(lockWait: Duration = .seconds(5)) -> FirewallService {
        let fw = Firewall(paths: paths, kernel: EchoKernel(), host: NoHost(), lockWait: lockWait)
        return FirewallService(firewall: fw, paths: paths, logger: Logger(label: "test"), libbpf: "1.x")
    }

    func testFramesRoundTripOverASocketPair() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[1]) }
        let big = [UInt8](repeating: 0x41, count: 300_000)
        // Larger than a socket buffer: the writer must not block the reader's thread.
        let w = fds[0], r = fds[1]
        let writer = Thread { try? ControlFrame.write(big, to: w); try? ControlFrame.write([], to: w); close(w) }
        writer.start()
        XCTAssertEqual(try ControlFrame.read(from: r), big)
        XCTAssertEqual(try ControlFrame.read(from: r), [])
        // Then the peer closed: no further request.
        XCTAssertNil(try ControlFrame.read(from: r))
        fds[0] = -1
    }

    func testATruncatedFrameIsAnError() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer { close(fds[1]) }
        _ = [UInt8]([0, 0, 0, 10, 1, 2]).withUnsafeBytes { write(fds[0], $0.baseAddress, 6) }
        close(fds[0])
        XCTAssertThrowsError(try ControlFrame.read(from: fds[1])) { XCTAssertEqual($0 as? ControlSocketError, .truncated) }
    }

    func testResponsesRoundTripThroughJSON() throws {
        for r: ControlResponse in [.result(ToolResult(status: 2, stdout: "a\u{0}é\n", stderr: "b\n")),
                                   .failure(message: "lock busy", status: 4), .runLocally(reason: "x")] {
            XCTAssertEqual(try ControlFrame.decode(ControlResponse.self, try ControlFrame.encode(r)), r)
        }
    }

    func testForwardedAnswerEqualsTheInProcessOneAndSocketIs0600() throws {
        let service = makeService()
        let server = ControlSocket(path: paths.agentSocket, service: service)
        try server.start()
        defer { server.stop() }
        var st = stat()
        XCTAssertEqual(lstat(paths.agentSocket, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFSOCK)
        let requests: [FirewallRequest] = [
            .ipset(argv: ["add", "s", "1.2.3.4"], stdin: nil),
            .ipset(argv: ["fail"], stdin: nil),
            .ipset(argv: ["restore"], stdin: "create t hash:ip\n"),
            .iptables(argv: ["-A", "INPUT", "-j", "DROP"], family: .ipv4),
            .iptables(argv: ["--bogus"], family: .ipv6),
            .save(family: .ipv4, counters: false, table: nil),
        ]
        for r in requests {
            let local = try service.firewall.perform(r, libbpf: "1.x")
            XCTAssertEqual(AgentClient.forward(r, paths: paths, environment: [:]), .result(local), "\(r)")
        }
    }

    func testTheRequestRunsInTheClientsDirectory() throws {
        let service = makeService()
        let server = ControlSocket(path: paths.agentSocket, service: service)
        try server.start()
        defer { server.stop() }
        let here = FileManager.default.currentDirectoryPath
        let other = dir + "/client-cwd"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(other))
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        guard case .result(let r)? = AgentClient.forward(.ipset(argv: ["list"], stdin: nil), paths: paths, environment: [:]) else {
            return XCTFail("no answer")
        }
        // The agent is this process: its directory was the client's while the request ran...
        XCTAssertTrue(r.stdout.hasSuffix(" in \(other) stdin=-\n") || r.stdout.hasSuffix(" in /private\(other) stdin=-\n"), r.stdout)
        // ...and a directory the agent cannot enter makes the client run it alone.
        let gone = ControlRequest(request: .ipset(argv: ["list"], stdin: nil), stateDir: paths.stateDir, pinRoot: paths.pinRoot, cwd: dir + "/nowhere")
        XCTAssertEqual(server.handle(gone), .runLocally(reason: "the agent cannot enter \(dir)/nowhere"))
    }

    func testAnotherFirewallsPathsAreRefused() throws {
        let server = ControlSocket(path: paths.agentSocket, service: makeService())
        let other = ControlRequest(request: .status(verbose: false), stateDir: "/elsewhere", pinRoot: paths.pinRoot, cwd: "/")
        guard case .failure(let message, let status) = server.handle(other) else { return XCTFail("accepted") }
        XCTAssertEqual(status, 1)
        XCTAssertTrue(message.contains("different firewall") && message.contains("/elsewhere"), message)
    }

    func testNoAgentMeansInProcessAndNoAgentVariableForcesIt() throws {
        // No socket file.
        XCTAssertNil(AgentClient.forward(.status(verbose: false), paths: paths, environment: [:]))
        let server = ControlSocket(path: paths.agentSocket, service: makeService())
        try server.start()
        defer { server.stop() }
        XCTAssertNotNil(AgentClient.forward(.ipset(argv: ["list"], stdin: nil), paths: paths, environment: [:]))
        XCTAssertNil(AgentClient.forward(.ipset(argv: ["list"], stdin: nil), paths: paths, environment: ["EBPF_IPTABLES_NO_AGENT": "1"]))
    }

    func testAStaleSocketIsReplacedALiveOneIsNotAndStopRemovesIt() throws {
        // A socket file nobody listens on (an agent killed with -9 leaves one): ECONNREFUSED.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let p = Array(paths.agentSocket.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in p.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0)
        close(fd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: paths.agentSocket))
        XCTAssertNil(AgentClient.forward(.status(verbose: false), paths: paths, environment: [:]), "a dead socket answers nothing")

        let first = ControlSocket(path: paths.agentSocket, service: makeService())
        try first.start()
        let second = ControlSocket(path: paths.agentSocket, service: makeService())
        XCTAssertThrowsError(try second.start()) { XCTAssertEqual($0 as? ControlSocketError, .alreadyServed(paths.agentSocket)) }
        XCTAssertNotNil(AgentClient.forward(.ipset(argv: ["list"], stdin: nil), paths: paths, environment: [:]), "the refused second agent took nothing away")
        first.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: paths.agentSocket))
    }

    func testABusyLockIsExit4ThroughTheAgentAsInProcess() throws {
        let service = makeService(lockWait: .milliseconds(200))
        let server = ControlSocket(path: paths.agentSocket, service: service)
        try server.start()
        defer { server.stop() }
        // Another process's lock: flock(1) holds the state lock for a while.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [paths.lockFile, "sleep", "3"]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        var held = false
        for _ in 0..<100 where !held {
            usleep(20_000)
            let fd = open(paths.lockFile, O_RDWR)
            if fd >= 0 { held = flock(fd, LOCK_EX | LOCK_NB) != 0; if !held { flock(fd, LOCK_UN) }; close(fd) }
        }
        XCTAssertTrue(held, "flock did not take the lock")
        guard case .failure(_, let status)? = AgentClient.forward(.ipset(argv: ["add", "s", "1.2.3.4"], stdin: nil), paths: paths, environment: [:]) else {
            return XCTFail("not a failure")
        }
        XCTAssertEqual(status, 4)
    }

    func testNotifyReachesAPathAndAnAbstractSocket() throws {
        for abstract in [false, true] {
            let name = abstract ? "@ebpt-notify-\(getpid())" : dir + "/notify"
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            var p = Array(name.utf8)
            if abstract { p[0] = 0 }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in p.enumerated() { raw[i] = b } }
            let len = socklen_t(MemoryLayout<sa_family_t>.size + p.count + (abstract ? 0 : 1))
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            XCTAssertEqual(bound, 0, String(cString: strerror(errno)))
            XCTAssertTrue(ServiceNotify(environment: ["NOTIFY_SOCKET": name]).send("READY=1"))
            var buf = [UInt8](repeating: 0, count: 64)
            let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            XCTAssertEqual(n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "", "READY=1")
        }
        XCTAssertFalse(ServiceNotify(environment: [:]).send("READY=1"))
    }
}
