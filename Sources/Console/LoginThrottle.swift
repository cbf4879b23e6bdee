import Foundation

/// Failed logins counted per user name and per client address, in memory (docs/console.md):
/// after `attempts` failures for one key within `window`, the key is locked for one window,
/// and every attempt it takes part in is refused (429 with `Retry-After`) without looking at
/// the password, the right one included; when the lockout ends the key starts afresh. A
/// successful login clears its user name's failures (not its address's: one known account
/// must not let an address try others forever).
///
/// Attempts are admitted before the password is checked and counted as pending until they
/// end, so concurrent requests cannot get more than `attempts` tries past the check.
/// Names of users that do not exist are counted like any other (a lockout says nothing about
/// which names exist). The table is swept of stale keys as it grows; each failure costs the
/// caller a bcrypt hash, which bounds how fast it can grow.
public final class LoginThrottle: @unchecked Sendable {
    public struct Policy: Sendable, Equatable {
        public var attempts: Int
        public var window: Duration
        public init(attempts: Int = 5, window: Duration = .seconds(15 * 60)) {
            self.attempts = attempts
            self.window = window
        }
    }

    public enum Key: Hashable, Sendable, CustomStringConvertible {
        case user(String)
        case address(String)
        public var description: String {
            switch self {
            case .user(let u): return "user '\(u)'"
            case .address(let a): return "address \(a)"
            }
        }
    }

    /// An admitted attempt; hand it back to `finish` exactly once.
    public struct Attempt: Sendable {
        let keys: [Key]
        public let user: String
    }

    public enum Verdict: Sendable {
        case admitted(Attempt)
        /// Refused; retry after this many whole seconds (at least 1); the keys that refused.
        case refused(retryAfter: Int, keys: [Key])
    }

    private struct Entry {
        var failures: [ContinuousClock.Instant] = []
        var pending = 0
        var lockedUntil: ContinuousClock.Instant?
    }

    public let policy: Policy
    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var sweepAt = 1024

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// The keys an attempt counts against; an unknown address (not IP) counts by user only.
    /// A name is kept by its first `nameBytes` bytes: a form may post megabytes of name, and
    /// the table must not keep them for a window (names sharing the prefix share a count).
    static func keys(user: String, address: String?) -> [Key] {
        let name = user.utf8.count > nameBytes ? String(decoding: Array(user.utf8.prefix(nameBytes)), as: UTF8.self) : user
        return [.user(name)] + (address.map { [Key.address($0)] } ?? [])
    }

    static let nameBytes = 256

    /// Admits the attempt, or says how long until it may be tried.
    public func admit(user: String, address: String?, now: ContinuousClock.Instant = .now) -> Verdict {
        lock.lock(); defer { lock.unlock() }
        let keys = Self.keys(user: user, address: address)
        var wait: Duration = .zero
        var refusing: [Key] = []
        for k in keys {
            var e = entries[k] ?? Entry()
            if let until = e.lockedUntil {
                if until > now {
                    wait = max(wait, until - now)
                    refusing.append(k)
                    continue
                }
                // The lockout ran its window: the key starts afresh.
                e.lockedUntil = nil
                e.failures = []
            }
            e.failures.removeAll { now - $0 >= policy.window }
            entries[k] = e
            if e.failures.count + e.pending >= policy.attempts {
                // Only attempts still in flight can fill the count: they end within seconds.
                wait = max(wait, .seconds(1))
                refusing.append(k)
            }
        }
        if !refusing.isEmpty {
            return .refused(retryAfter: Self.wholeSeconds(wait), keys: refusing)
        }
        for k in keys { entries[k, default: Entry()].pending += 1 }
        return .admitted(Attempt(keys: keys, user: user))
    }

    /// Ends an admitted attempt: `succeeded` true or false, nil when it ended without an
    /// answer (the database failed). Returns the keys this failure locked.
    @discardableResult
    public func finish(_ attempt: Attempt, succeeded: Bool?, now: ContinuousClock.Instant = .now) -> [Key] {
        lock.lock(); defer { lock.unlock() }
        var locked: [Key] = []
        for k in attempt.keys {
            var e = entries[k] ?? Entry()
            e.pending = max(0, e.pending - 1)
            switch succeeded {
            case true?:
                if case .user = k { e.failures = [] }
            case false?:
                e.failures.removeAll { now - $0 >= policy.window }
                e.failures.append(now)
                if e.failures.count >= policy.attempts && e.lockedUntil == nil {
                    e.lockedUntil = now + policy.window
                    e.failures = []
                    locked.append(k)
                }
            case nil:
                break
            }
            entries[k] = e
        }
        if entries.count >= sweepAt { sweep(now) }
        return locked
    }

    /// How many keys are tracked (tests: the sweep keeps the table bounded).
    public var trackedKeys: Int { lock.lock(); defer { lock.unlock() }; return entries.count }

    /// Drops keys with nothing left to remember; the next sweep when the table doubles.
    private func sweep(_ now: ContinuousClock.Instant) {
        entries = entries.filter { _, e in
            e.pending > 0 || (e.lockedUntil.map { $0 > now } ?? false) || e.failures.contains { now - $0 < policy.window }
        }
        sweepAt = max(1024, entries.count * 2)
    }

    static func wholeSeconds(_ d: Duration) -> Int {
        let (s, atto) = d.components
        return max(1, Int(s) + (atto > 0 ? 1 : 0))
    }
}
