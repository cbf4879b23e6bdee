import ChildProcess

/// Runs the kernel's own tools (ip, iptables-restore, ipset, conntrack) for the verification.
public enum Shell {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// It ran past its deadline and was killed.
        public var timedOut: Bool
    }

    /// How long one tool may run: far beyond what any of ours needs, short of forever.
    public static let defaultDeadline: Duration = .seconds(600)

    /// Runs `argv` (its first word looked up in PATH) to its end. Never throws: a program that
    /// cannot be started gets the shell's statuses, 127 when it is not found and 126 when it
    /// cannot be executed, with the reason on stderr.
    @discardableResult
    public static func run(_ argv: [String], stdin: String? = nil, env: [String: String]? = nil,
                           deadline: Duration? = defaultDeadline) -> Result {
        guard let program = argv.first else {
            return Result(status: 127, stdout: "", stderr: "nothing to run\n", timedOut: false)
        }
        let command = ChildProcess.Command(program, arguments: Array(argv.dropFirst()),
                                           environment: env.map { .inheritAdding($0) } ?? .inherit,
                                           stdin: stdin.map { .text($0) } ?? .null, deadline: deadline)
        do {
            let r = try ChildProcess.run(command)
            var stderr = r.stderrText
            if r.timedOut { stderr += "\(program): killed after its deadline\n" }
            return Result(status: r.status, stdout: r.stdoutText, stderr: stderr, timedOut: r.timedOut)
        } catch {
            return Result(status: error.stage == .lookUp ? 127 : 126, stdout: "", stderr: "\(error)\n", timedOut: false)
        }
    }
}
