import Runtime

extension FirewallService {
    /// Runs a question that is no `FirewallRequest` (the REST API's rule list with counters per
    /// layer, /metrics) on the same serial queue as the requests, so it waits its turn behind
    /// an edit rather than contending for the state lock. Observers are not told: it changes
    /// nothing, and persistence and the edit counters watch changes only.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Firewall) throws -> T) async throws -> T {
        let firewall = self.firewall
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            queue.async { c.resume(with: Result { try body(firewall) }) }
        }
    }
}
