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

    /// Creates, empty, the sets a ruleset names, so iptables accepts it; members do not matter there.
    public func createSets(referencedBy text: String, v6: Bool = false) {
        let re = try? NSRegularExpression(pattern: "--(?:match-set|add-set|del-set) (\\S+) (\\S+)")
        let ns = text as NSString
        var seen: [String: Int] = [:]
        for m in re?.matches(in: text, range: NSRange(location: 0, length: ns.length)) ?? [] {
            let name = ns.substring(with: m.range(at: 1))
            let dims = ns.substring(with: m.range(at: 2)).split(separator: ",").count
            seen[name] = max(seen[name] ?? 0, dims)
        }
        for (name, dims) in seen.sorted(by: { $0.key < $1.key }) {
            run(["ipset", "create", name, dims > 1 ? "hash:ip,port" : "hash:ip", "family", v6 ? "inet6" : "inet"])
        }
    }

    @discardableResult
    public func run(_ argv: [String], stdin: String? = nil) -> RunResult {
        Run.run(["ip", "netns", "exec", name] + argv, stdin: stdin)
    }
}
