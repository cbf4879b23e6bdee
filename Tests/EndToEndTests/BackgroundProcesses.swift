import Foundation
import TestSupport

/// Results of concurrent commands, gathered under a lock.
final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var all: [(String, RunResult, Duration)] = []
    func add(_ what: String, _ r: RunResult, _ took: Duration) {
        lock.lock()
        all.append((what, r, took))
        lock.unlock()
    }
}

/// Busy loops hogging the CPUs, each under `timeout` so none outlives a crashed test; stopped
/// by pid.
final class BusyLoops {
    private var pids: [Int32] = []

    init(count: Int, seconds: Int = 600) throws {
        for _ in 0..<count {
            let r = Run.run(["sh", "-c", "timeout \(seconds) sh -c 'while :; do :; done' >/dev/null 2>&1 </dev/null & echo $!"])
            guard let pid = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                stop()
                throw FirewallUnderTest.Failure("start a busy loop: \(r.stderr)")
            }
            pids.append(pid)
        }
    }

    /// `timeout` passes SIGTERM on to the loop it runs.
    func stop() {
        for pid in pids { kill(pid, SIGTERM) }
        pids = []
    }

    deinit { stop() }
}

/// `flock -o LOCK sleep 60`: holds the state lock as a stuck process would (`-o`: sleep does
/// not inherit the lock, so ending flock releases it).
final class LockHolderProcess {
    let pid: Int32
    private var stopped = false

    init(lock: String) throws {
        let r = Run.run(["sh", "-c", "flock -o \(FirewallUnderTest.quote(lock)) sleep 60 >/dev/null 2>&1 </dev/null & echo $!"])
        guard let pid = Int32(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw FirewallUnderTest.Failure("start flock: \(r.stderr)")
        }
        self.pid = pid
        // Until it holds the lock (flock -n fails while it does), bounded.
        for _ in 0..<200 where Run.run(["flock", "-n", lock, "true"]).status == 0 { usleep(10_000) }
    }

    /// Ends sleep (flock's child, by its pid) and then flock, which releases the lock.
    func stop() {
        guard !stopped else { return }
        stopped = true
        let children = Fixtures.text(URL(fileURLWithPath: "/proc/\(pid)/task/\(pid)/children"))
        for c in children.split(separator: " ").compactMap({ Int32($0) }) { kill(c, SIGTERM) }
        kill(pid, SIGTERM)
    }

    deinit { stop() }
}
