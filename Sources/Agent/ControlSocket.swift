import Dispatch
import Foundation
import Logging
import Runtime

/// The agent's Unix stream socket, the one the CLI forwards its commands to. Mode 0600
/// (only root edits the firewall); a file left by an agent that died is replaced, one that
/// still answers is not (two agents would be two owners of one firewall). Each connection
/// carries one request, run by the service's serial queue.
public final class ControlSocket: @unchecked Sendable {
    public let path: String
    let service: FirewallService
    private var listener: Int32 = -1
    private let stateLock = NSLock()
    private var stopped = false

    public init(path: String, service: FirewallService) {
        self.path = path
        self.service = service
    }

    /// Binds and listens; returns once clients can connect (readiness follows this).
    public func start() throws {
        if FileManager.default.fileExists(atPath: path) || isSymlink(path) {
            if let fd = AgentClient.connect(path) {
                close(fd)
                throw ControlSocketError.alreadyServed(path)
            }
            unlink(path)
            service.logger.info("control socket: removed stale \(path)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError.system("control socket: socket", errno) }
        // The socket is created 0600 (umask during bind), never briefly open to others.
        let old = umask(0o177)
        let bound = try UnixAddress.with(path) { addr, len in bind(fd, addr, len) }
        let bindErrno = errno
        umask(old)
        guard bound == 0 else {
            close(fd)
            throw ControlSocketError.system("control socket: bind \(path)", bindErrno)
        }
        chmod(path, 0o600)
        guard listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw ControlSocketError.system("control socket: listen", e)
        }
        listener = fd
        let t = Thread { [self] in acceptLoop(fd) }
        t.name = "control-socket"
        t.start()
        service.logger.info("control socket: listening on \(path)")
    }

    /// Stops accepting and removes the socket file (only if it is still ours).
    public func stop() {
        stateLock.lock()
        defer { stateLock.unlock() }
        guard !stopped else { return }
        stopped = true
        if listener >= 0 {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            listener = -1
        }
        unlink(path)
        service.logger.info("control socket: removed \(path)")
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                stateLock.lock(); let done = stopped; stateLock.unlock()
                if !done { service.logger.error("control socket: accept: \(String(cString: strerror(errno)))") }
                return
            }
            // Not inherited by the kernel tools the request runs.
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            DispatchQueue.global().async { [self] in
                serve(connection: c)
                close(c)
            }
        }
    }

    /// One request, one answer. A client that sends nothing within the timeout is dropped.
    private func serve(connection c: Int32) {
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let response: ControlResponse
        do {
            guard let bytes = try ControlFrame.read(from: c) else { return }
            let req = try ControlFrame.decode(ControlRequest.self, bytes)
            response = handle(req)
        } catch {
            service.logger.warning("control socket: bad request: \(error)")
            response = .failure(message: "agent: bad request: \(error)", status: 2)
        }
        do {
            try ControlFrame.write(try ControlFrame.encode(response), to: c)
        } catch {
            // The client went away; what ran, ran (the log line of the request says so).
            service.logger.warning("control socket: answer not delivered: \(error)")
        }
    }

    func handle(_ req: ControlRequest) -> ControlResponse {
        let mine = service.paths
        if req.stateDir != mine.stateDir || req.pinRoot != mine.pinRoot {
            return .failure(message: "the agent on \(path) runs the firewall of state \(mine.stateDir) and pins \(mine.pinRoot); this command was for state \(req.stateDir) and pins \(req.pinRoot) (a different firewall): set EBPF_IPTABLES_NO_AGENT=1 to run it alone", status: 1)
        }
        do {
            let r = try service.performSync(req.request, cwd: req.cwd)
            return .result(r)
        } catch FirewallService.CwdError.unreachable(let dir) {
            return .runLocally(reason: "the agent cannot enter \(dir)")
        } catch let e as RuntimeError {
            if case .lockBusy = e { return .failure(message: "\(e)", status: 4) }
            return .failure(message: "\(e)", status: 1)
        } catch {
            return .failure(message: "\(error)", status: 1)
        }
    }

    private func isSymlink(_ p: String) -> Bool {
        var st = stat()
        return lstat(p, &st) == 0
    }
}
