import ChildProcess

/// The process launcher the kernel layer runs its tools with: posix_spawn, a deadline, and
/// never Foundation's Process (whose run-loop helper needs a loopback socket and can miss a
/// child's exit, leaving a command hung with the state lock held).
public struct ChildProcessRunner: ToolRunner {
    public init() {}

    public func run(_ path: String, _ arguments: [String], stdin: String?, deadline: Duration) -> ToolResult {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let command = ChildProcess.Command(path, arguments: arguments, argv0: name, stdin: stdin.map { .text($0) } ?? .null,
                                           deadline: deadline)
        do {
            let r = try ChildProcess.run(command)
            if r.timedOut {
                return ToolResult(status: 124, stdout: r.stdoutText,
                                  stderr: r.stderrText + "ebpf-iptables: \(name) did not finish within \(deadline); it was killed\n")
            }
            return ToolResult(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
        } catch {
            return ToolResult(status: 1, stderr: "ebpf-iptables: \(error)\n")
        }
    }
}
