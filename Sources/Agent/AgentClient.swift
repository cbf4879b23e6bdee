import Foundation
import Runtime

/// The CLI's side of the control socket: sends one request to the agent when one answers.
public enum AgentClient {
    /// nil: no agent answers (no socket file, connection refused: an agent that died leaves its
    /// file behind) or `EBPF_IPTABLES_NO_AGENT=1`; the CLI then runs the request itself.
    /// A connection made but dropped before the answer is an error: the request may have been
    /// applied, so running it again here could apply it twice.
    public static func forward(_ request: FirewallRequest, paths: Paths,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> ControlResponse? {
        if let v = environment["EBPF_IPTABLES_NO_AGENT"], !v.isEmpty, v != "0" { return nil }
        guard let fd = connect(paths.agentSocket) else { return nil }
        defer { close(fd) }
        do {
            let req = ControlRequest(request: request, stateDir: paths.stateDir, pinRoot: paths.pinRoot,
                                     cwd: FileManager.default.currentDirectoryPath)
            try ControlFrame.write(try ControlFrame.encode(req), to: fd)
            guard let answer = try ControlFrame.read(from: fd) else { throw ControlSocketError.truncated }
            let response = try ControlFrame.decode(ControlResponse.self, answer)
            if case .runLocally = response { return nil }
            return response
        } catch {
            return .failure(message: "agent at \(paths.agentSocket): \(error)", status: 1)
        }
    }

    /// A connected socket, or nil when nothing listens at `path`.
    public static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let ok = (try? UnixAddress.with(path) { addr, len in Glibc.connect(fd, addr, len) == 0 }) ?? false
        if !ok {
            close(fd)
            return nil
        }
        return fd
    }
}
