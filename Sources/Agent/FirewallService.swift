import Dispatch
import Foundation
import Logging
import Runtime

/// The agent's one owner of the running firewall. Every front end (the Unix control socket
/// the CLI forwards to, the REST API) submits `FirewallRequest`s here; they run one at a
/// time on a serial queue, off the network threads, and each also takes the state lock, so
/// an edit through the agent and one through a CLI running alone are serialised too.
public final class FirewallService: @unchecked Sendable {
    public let firewall: Firewall
    public let paths: Paths
    public let logger: Logger
    let libbpf: String
    let queue = DispatchQueue(label: "ebpf-iptables.firewall")
    private let observersLock = NSLock()
    private var observers: [@Sendable (Completed) -> Void] = []

    /// What one request did and how long it took, for metrics and the log.
    public struct Completed: Sendable {
        public var request: FirewallRequest
        public var result: ToolResult?
        public var error: String?
        public var duration: Duration
    }

    /// The agent's own working directory, returned to after each client's.
    private let home = FileManager.default.currentDirectoryPath

    public init(firewall: Firewall, paths: Paths, logger: Logger, libbpf: String = "") {
        self.firewall = firewall
        self.paths = paths
        self.logger = logger
        self.libbpf = libbpf
    }

    /// Called after every request, on the service's queue.
    public func observe(_ body: @escaping @Sendable (Completed) -> Void) {
        observersLock.lock(); defer { observersLock.unlock() }
        observers.append(body)
    }

    /// Runs `request` on the serial queue. A thrown error is a failure of ours (tool missing,
    /// lock busy, I/O), never the tool's own refusal, which is a `ToolResult` with its status.
    public func perform(_ request: FirewallRequest) async throws -> ToolResult {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<ToolResult, Error>) in
            queue.async {
                c.resume(with: Result { try self.performNow(request) })
            }
        }
    }

    /// A client's working directory the agent cannot enter (removed, or in another mount
    /// namespace): the client runs the request itself.
    public enum CwdError: Error { case unreachable(String) }

    /// Runs `request` on the serial queue from a thread that may block (the control socket's
    /// connections), in the client's working directory, so that relative file names in its
    /// argv and the kernel tools' messages about them are the client's. The queue is serial,
    /// so changing the process's directory for the request is safe; it is put back after.
    public func performSync(_ request: FirewallRequest, cwd: String?) throws -> ToolResult {
        try queue.sync {
            guard let cwd, cwd != home else { return try performNow(request) }
            guard chdir(cwd) == 0 else { throw CwdError.unreachable(cwd) }
            defer { _ = chdir(home) }
            return try performNow(request)
        }
    }

    /// Waits until the request running now (if any) has finished: before the agent exits.
    public func performSyncBarrier() {
        queue.sync {}
    }

    /// Runs `request` on the caller's thread; for callers already serialised (tests, the
    /// boot sequence before any front end listens).
    public func performNow(_ request: FirewallRequest) throws -> ToolResult {
        let start = ContinuousClock.now
        var result: ToolResult? = nil
        var failure: String? = nil
        defer {
            let done = Completed(request: request, result: result, error: failure, duration: ContinuousClock.now - start)
            logCompleted(done)
            observersLock.lock(); let list = observers; observersLock.unlock()
            for o in list { o(done) }
        }
        do {
            result = try firewall.perform(request, libbpf: libbpf)
            return result!
        } catch {
            failure = "\(error)"
            throw error
        }
    }
}

extension FirewallService {
    /// One line per request: what it was, how it ended, how long it took.
    func logCompleted(_ c: Completed) {
        let ms = Double(c.duration.components.attoseconds) / 1e15 + Double(c.duration.components.seconds) * 1e3
        let took = String(format: "%.2f ms", ms)
        if let r = c.result {
            logger.info("request \(c.request.summary): exit \(r.status) in \(took)")
        } else {
            logger.error("request \(c.request.summary): failed in \(took): \(c.error ?? "")")
        }
    }
}

extension FirewallRequest {
    /// The request in a few words for the log (a restore's text is not repeated).
    public var summary: String {
        func clip(_ words: [String]) -> String {
            let s = words.joined(separator: " ")
            return s.count > 200 ? String(s.prefix(200)) + "…" : s
        }
        switch self {
        case let .iptables(argv, family): return "\(family == .ipv6 ? "ip6tables" : "iptables") \(clip(argv))"
        case let .ipset(argv, _): return "ipset \(clip(argv))"
        case let .restore(r): return "restore \(r.source)\(r.test ? " --test" : "")\(r.noflush ? " --noflush" : "")"
        case let .save(family, counters, table): return "save\(family == .ipv6 ? " -6" : "")\(counters ? " -c" : "")\(table.map { " -t \($0)" } ?? "")"
        case let .status(verbose): return verbose ? "status -v" : "status"
        case let .attach(i, mode): return "attach \(i) --mode \(mode)"
        case let .detach(i): return "detach \(i)"
        case let .recent(name, edit): return "recent \(name ?? "")\(edit.map { " \($0)" } ?? "")"
        }
    }
}
