import Foundation

/// A throwaway network namespace, deleted when the value goes away, also when a test fails.
public final class NetworkNamespace {
    public let name: String
    nonisolated(unsafe) private static var counter = 0

    /// Why privileged tests cannot run here, or nil when they can.
    public static var unavailableReason: String? {
        if geteuid() != 0 { return "not root: network namespaces and iptables need CAP_NET_ADMIN" }
        for tool in ["ip", "iptables-restore", "ip6tables-restore", "ipset"] where !Run.has(tool) {
            return "'\(tool)' is not installed (apt-get install iproute2 iptables ipset)"
        }
        return nil
    }

    public init(prefix: String = "ebpt") throws {
        NetworkNamespace.counter += 1
        name = "\(prefix)-\(getpid())-\(NetworkNamespace.counter)"
        let r = Run.run(["ip", "netns", "add", name])
        guard r.status == 0 else { throw NSError(domain: "netns", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    }

    deinit {
        Run.run(["ip", "netns", "del", name])
    }

    @discardableResult
    public func run(_ argv: [String], stdin: String? = nil) -> RunResult {
        Run.run(["ip", "netns", "exec", name] + argv, stdin: stdin)
    }
}
