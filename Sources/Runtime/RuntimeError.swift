import Foundation

/// What can go wrong in the running firewall, as data: the CLI words it, tests match on it.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    /// A file or descriptor operation failed; `context` says on what.
    case io(String, Int32)
    /// The state lock stayed busy for `waited`; `holder` is what the holder wrote.
    case lockBusy(holder: LockHolder?, waited: Duration)
    /// A kernel tool could not be started or run (not installed, killed at its deadline).
    case tool(String)
    /// The data plane (libbpf, maps, pins) refused something.
    case dataplane(String)
    /// A command that needs an attached program ran without one, or the reverse.
    case attachment(String)
    /// The state directory holds something we cannot read.
    case state(String)

    public static func == (a: RuntimeError, b: RuntimeError) -> Bool { a.description == b.description }

    public var description: String {
        switch self {
        case .io(let what, let e): "\(what): \(String(cString: strerror(e))) (errno \(e))"
        case .lockBusy(let holder, let waited):
            if let h = holder {
                "the state lock is held by pid \(h.pid) (\(h.command))\(h.since.map { " for \(max(0, Int64(time(nil)) - $0)) s" } ?? "")\(h.pid > 0 && !StateLock.alive(h.pid) ? ", a process that no longer exists" : ""); gave up after \(Self.seconds(waited)) s (EBPF_IPTABLES_LOCK_WAIT)"
            } else {
                "the state lock is held by another command; gave up after \(Self.seconds(waited)) s (EBPF_IPTABLES_LOCK_WAIT)"
            }
        case .tool(let s), .dataplane(let s), .attachment(let s), .state(let s): s
        }
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)" : String(format: "%.1f", Double(ms) / 1000)
    }
}
