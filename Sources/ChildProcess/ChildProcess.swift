/// Runs other programs with posix_spawn, poll and waitpid only: no run loop, no helper
/// thread, no socket. (Foundation's `Process` starts CoreFoundation's run-loop helper, whose
/// wakeup "socket pair" is two UDP sockets on 127.0.0.1: in a network namespace whose `lo`
/// is down it prints `*** Could not create wakeup socket pair for CFSocket!!!` and can miss
/// the child's exit, so `waitUntilExit()` never returns.)
///
/// What it promises:
/// - the child is always reaped, also when a call throws (the handle's `deinit` kills it);
/// - our ends of its pipes are close-on-exec, and the child inherits no descriptor but 0, 1
///   and 2 (glibc 2.34's closefrom action);
/// - input is written while output is read, so no size of either deadlocks;
/// - signals are reset to their defaults and unblocked in the child;
/// - by default the child leads a process group of its own, and a deadline signals that
///   whole group: SIGTERM, then SIGKILL after `terminationGrace`;
/// - once the child has exited, descendants that still hold its output pipes get
///   `terminationGrace` to let go; then they are killed (when it has its own group) and the
///   pipes are closed, so a forgotten background job cannot keep `run` waiting.
public enum ChildProcess {
    /// What a child reads as standard input.
    public enum Input: Sendable, Equatable {
        /// /dev/null: reads see end of file at once.
        case null
        /// Our own standard input.
        case inherit
        /// These bytes through a pipe, then end of file.
        case bytes([UInt8])
        /// A pipe the caller feeds with `Running.write` and ends with `Running.closeStdin`
        /// (for `run`, the same as `.bytes([])`).
        case pipe

        /// The UTF-8 of `text`, then end of file.
        public static func text(_ text: String) -> Input { .bytes(Array(text.utf8)) }
    }

    /// Where a child's standard output or error goes.
    public enum Output: Sendable, Equatable {
        /// Into a pipe we read: `Result.stdout`/`stderr`, or `Running.readLine`.
        case capture
        /// Our own descriptor.
        case inherit
        /// /dev/null.
        case discard
    }

    /// The child's environment.
    public enum Environment: Sendable, Equatable {
        /// Ours, as it is.
        case inherit
        /// Ours with these variables added or replaced.
        case inheritAdding([String: String])
        /// Exactly these variables and no others.
        case exactly([String: String])
    }

    /// How a child ended.
    public enum Termination: Sendable, Equatable {
        /// It called exit with this code.
        case exited(Int32)
        /// This signal killed it.
        case signaled(Int32)

        /// The shell's number for it: the exit code, or 128 + the signal.
        public var status: Int32 {
            switch self {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }
    }

    /// One program to run and how.
    public struct Command: Sendable, Equatable {
        /// A path (when it contains a `/`) or a name looked up in the child's PATH.
        public var executable: String
        /// The arguments after argv[0].
        public var arguments: [String]
        /// argv[0] when it should differ from `executable` (some tools read their name there).
        public var argv0: String?
        public var environment: Environment
        public var stdin: Input
        public var stdout: Output
        public var stderr: Output
        /// For `run` (and `Running.wait()`): how long the child may take, from its start. When
        /// it passes, its process group gets SIGTERM, and SIGKILL `terminationGrace` later.
        /// Nil: no limit.
        public var deadline: Duration?
        /// How long SIGTERM is given before SIGKILL, and how long descendants may hold the
        /// output pipes after the child exited.
        public var terminationGrace: Duration
        /// Whether the child leads a process group of its own, so a deadline reaches its
        /// descendants too. Turn it off for a child that must read our terminal or get the
        /// terminal's Ctrl-C along with us: a background group that reads the terminal is
        /// stopped (SIGTTIN), and Ctrl-C goes to the foreground group only.
        public var newProcessGroup: Bool
        /// The child's working directory; nil: ours.
        public var workingDirectory: String?

        public init(_ executable: String, arguments: [String] = [], argv0: String? = nil,
                    environment: Environment = .inherit, stdin: Input = .null,
                    stdout: Output = .capture, stderr: Output = .capture,
                    deadline: Duration? = nil, terminationGrace: Duration = .seconds(2),
                    newProcessGroup: Bool = true, workingDirectory: String? = nil) {
            self.executable = executable
            self.arguments = arguments
            self.argv0 = argv0
            self.environment = environment
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.deadline = deadline
            self.terminationGrace = terminationGrace
            self.newProcessGroup = newProcessGroup
            self.workingDirectory = workingDirectory
        }
    }

    /// What a finished child left.
    public struct Result: Sendable, Equatable {
        public var termination: Termination
        /// Captured standard output (empty unless `.capture`).
        public var stdout: [UInt8]
        /// Captured standard error (empty unless `.capture`).
        public var stderr: [UInt8]
        /// Whether the deadline passed before the child exited, so we signalled it.
        public var timedOut: Bool

        /// The exit code, or 128 + the signal that killed it.
        public var status: Int32 { termination.status }
        /// `stdout` as UTF-8 (invalid sequences replaced).
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// `stderr` as UTF-8 (invalid sequences replaced).
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `command` to its end: feeds its input while collecting its output, enforces the
    /// deadline, reaps it. A nonzero exit is a `Result`, not an error; errors are about
    /// starting, feeding or watching the child (which is then killed and reaped).
    public static func run(_ command: Command) throws(ChildProcessError) -> Result {
        var child = try spawn(command)
        return try child.wait()
    }

    /// Starts `command` and hands back the running child, for one that stays up and is fed
    /// over time. Drop the handle only after `wait`: dropping it earlier kills the child.
    public static func spawn(_ command: Command) throws(ChildProcessError) -> Running {
        try Spawner.start(command)
    }

    /// Where `name` resolves in PATH (ours, or `path` when given), as `run` would find it; a
    /// name containing `/` is returned as it is.
    public static func lookUp(_ name: String, path: String? = nil) -> String? {
        Spawner.resolve(name, path: path ?? Sys.environmentValue("PATH"))
    }
}
