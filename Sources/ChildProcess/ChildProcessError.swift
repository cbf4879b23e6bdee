import Glibc

/// Why a child process could not be started, fed, read or waited for: what was being done,
/// to which program, and the errno.
public struct ChildProcessError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was being done when the call failed.
    public enum Stage: Sendable, Equatable {
        /// Looking the program's name up in PATH.
        case lookUp
        /// Making the pipes for its standard streams.
        case pipe
        /// posix_spawn itself (the exec's errno comes back from it too).
        case spawn
        /// Waiting for its pipes or its exit.
        case poll
        /// Reading its output; ETIMEDOUT when a deadline passed first.
        case read
        /// Writing its input; EPIPE when it closed its input, ETIMEDOUT when a deadline passed.
        case write
        /// Reaping it; ECHILD when someone else reaped it (SIGCHLD set to SIG_IGN).
        case wait
    }

    public var stage: Stage
    /// The program as the command named it.
    public var executable: String
    public var errno: Int32

    public init(_ stage: Stage, _ executable: String, errno: Int32) {
        self.stage = stage
        self.executable = executable
        self.errno = errno
    }

    public var description: String {
        let what: String
        switch stage {
        case .lookUp: what = "find \(executable) in PATH"
        case .pipe: what = "make the pipes for \(executable)"
        case .spawn: what = "start \(executable)"
        case .poll: what = "watch \(executable)"
        case .read: what = "read from \(executable)"
        case .write: what = "write to \(executable)"
        case .wait: what = "wait for \(executable)"
        }
        return "\(what): \(Self.explain(errno))"
    }

    /// `no such file or directory (ENOENT)`: the C library's text, lowercased as our messages
    /// are, with the symbolic name people search for.
    static func explain(_ code: Int32) -> String {
        var text = strerror(code).map { String(cString: $0) } ?? "error \(code)"
        if let first = text.first, first.isUppercase, !(text.dropFirst().first?.isUppercase ?? false) {
            text = first.lowercased() + text.dropFirst()
        }
        guard let name = names[code] else { return text }
        return "\(text) (\(name))"
    }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR",
        EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ETXTBSY: "ETXTBSY", EPIPE: "EPIPE",
        ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", ELOOP: "ELOOP", ETIMEDOUT: "ETIMEDOUT",
    ]
}
