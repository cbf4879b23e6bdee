import Foundation

/// Runs a program and collects its output; tests use it for the kernel's tools and our CLI.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// It ran past its deadline and was killed.
    public var timedOut: Bool
}

public enum Run {
    /// Runs `argv` through Verifier's Shell (ChildProcess underneath), killed after
    /// `deadline`.
    @discardableResult
    public static func run(_ argv: [String], stdin: String? = nil, env: [String: String]? = nil,
                           deadline: Duration? = Shell.defaultDeadline) -> RunResult {
        let r = Shell.run(argv, stdin: stdin, env: env, deadline: deadline)
        return RunResult(status: r.status, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut)
    }

    /// Whether `name` is on PATH.
    public static func has(_ name: String) -> Bool {
        run(["sh", "-c", "command -v \(name)"]).status == 0
    }

    /// The built ebpf-iptables binary beside the test bundle (.build/<config>/).
    public static var binary: String {
        let dir = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent("ebpf-iptables"),
                          Bundle.main.bundleURL.appendingPathComponent("ebpf-iptables")]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c.path) { return c.path }
        return Fixtures.packageRoot.appendingPathComponent(".build/debug/ebpf-iptables").path
    }
}
