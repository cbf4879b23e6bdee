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

    /// Runs `request` on the caller's thread; for callers already serialised (tests, the
    /// boot sequence before any front end listens).
    public func performNow(_ request: FirewallRequest) throws -> ToolResult {
        let start = ContinuousClock.now
        var result: ToolResult? = nil
        var failure: String? = nil
        defer {
            let done = Completed(request: request, result: result, error: failure, duration: ContinuousClock.now - start)
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
