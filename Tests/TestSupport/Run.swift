import Foundation

/// Runs a program and collects its output; tests use it for the kernel's tools and our CLI.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Run {
    @discardableResult
    public static func run(_ argv: [String], stdin: String? = nil, env: [String: String]? = nil) -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        if let env { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        do { try p.run() } catch { return RunResult(status: -1, stdout: "", stderr: "\(error)") }
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var o = Data(), e = Data()
        group.enter()
        DispatchQueue.global().async { o = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inp.fileHandleForWriting.close()
        group.wait()
        p.waitUntilExit()
        return RunResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
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
