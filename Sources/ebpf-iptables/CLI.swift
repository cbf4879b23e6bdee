import Agent
import ArgumentParser
import Foundation
import Loader
import Runtime

/// What every command shares: the firewall built from the environment, and how a result
/// reaches stdout, stderr and the exit status.
enum CLI {
    static func firewall() -> Firewall {
        let paths = Paths.fromEnvironment()
        return Firewall(paths: paths, kernel: SystemKernel(runner: ChildProcessRunner()), host: PinnedXDPHost(pinRoot: paths.pinRoot))
    }

    static func emit(_ r: ToolResult) {
        if !r.stdout.isEmpty { FileHandle.standardOutput.write(Data(r.stdout.utf8)) }
        if !r.stderr.isEmpty { FileHandle.standardError.write(Data(r.stderr.utf8)) }
    }

    /// Runs `request` through the agent when one answers on the control socket (its answer
    /// printed byte for byte, with its exit status), else in-process: the same answer either way.
    static func run(_ request: FirewallRequest) -> Int32 {
        switch AgentClient.forward(request, paths: Paths.fromEnvironment()) {
        case .result(let r)?:
            emit(r)
            return r.status
        case .failure(let message, let status)?:
            Diagnostics.fail("ebpf-iptables: \(message)")
            return status
        case .runLocally?, nil:
            let v = Libbpf.version
            return Self.status { try firewall().perform(request, libbpf: "\(v.major).\(v.minor)") }
        }
    }

    /// Runs one firewall operation and returns the exit status to use.
    static func status(_ body: () throws -> ToolResult) -> Int32 {
        do {
            let r = try body()
            emit(r)
            return r.status
        } catch let e as RuntimeError {
            Diagnostics.fail("ebpf-iptables: \(e)")
            // A busy lock is a resource problem, as iptables' own lock: 4.
            if case .lockBusy = e { return 4 }
            return 1
        } catch {
            Diagnostics.fail("ebpf-iptables: \(error)")
            return 1
        }
    }
}
