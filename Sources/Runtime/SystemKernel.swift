import Foundation
import Loader
import IptParse

/// Runs one program to its end: what SystemKernel needs of a process launcher (tests can
/// give it another one).
public protocol ToolRunner: Sendable {
    /// `path` with `arguments` (argv[0] is `path`), `stdin` on standard input, killed at `deadline`.
    func run(_ path: String, _ arguments: [String], stdin: String?, deadline: Duration) -> ToolResult
}

/// The kernel layer through the system's own tools. Each is found once, never through our
/// own multi-call names (a `iptables` link to ebpf-iptables earlier in PATH would call us).
public struct SystemKernel: KernelLayer {
    let runner: ToolRunner
    let tools: Tools

    /// Bounds on every child: a firewall command must never hang.
    static let quick: Duration = .seconds(60)
    static let long: Duration = .seconds(900)

    /// Whether a member edit may go over netlink and the rules' generation be asked
    /// (bench/ipset-one-at-a-time sets EBPF_IPTABLES_BENCH_TOOLS_ONLY=1 to measure the
    /// tools-only path, as it was, in the same run).
    let shortcuts: Bool

    public init(runner: ToolRunner, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.runner = runner
        self.tools = Tools(environment: environment)
        self.shortcuts = (environment["EBPF_IPTABLES_BENCH_TOOLS_ONLY"] ?? "").isEmpty
    }

    public func iptables(_ family: Family, _ argv: [String]) -> ToolResult {
        run(family == .ipv6 ? "ip6tables" : "iptables", argv, stdin: nil, deadline: Self.long)
    }

    public func restore(_ family: Family, _ text: String, noflush: Bool, counters: Bool) -> ToolResult {
        var args: [String] = []
        if noflush { args.append("--noflush") }
        if counters { args.append("--counters") }
        return run(family == .ipv6 ? "ip6tables-restore" : "iptables-restore", args, stdin: text, deadline: Self.long)
    }

    public func restoreTest(_ family: Family, _ text: String, noflush: Bool) -> ToolResult {
        run(family == .ipv6 ? "ip6tables-restore" : "iptables-restore", ["--test"] + (noflush ? ["--noflush"] : []), stdin: text, deadline: Self.long)
    }

    public func save(_ family: Family, counters: Bool, table: String?) -> ToolResult {
        var args: [String] = []
        if counters { args.append("-c") }
        if let table { args += ["-t", table] }
        return run(family == .ipv6 ? "ip6tables-save" : "iptables-save", args, stdin: nil, deadline: Self.long)
    }

    public func ipset(_ argv: [String], stdin: String?) -> ToolResult {
        // One IPv4 member added or deleted: sent to the kernel as the tool sends it, without
        // starting it (IpsetMemberEdit); any refusal runs the tool, which says why in its
        // own words and does what it does (the refused request changed nothing).
        if shortcuts, stdin == nil, let edit = IpsetMemberEdit(argv), (try? edit.send()) != nil { return ToolResult(status: 0) }
        return run("ipset", argv, stdin: stdin, deadline: Self.long)
    }

    public func rulesGeneration() -> UInt32? { shortcuts ? try? KernelNetlink.nftGeneration() : nil }

    public func dryRun(_ family: Family, sets: String, base: String?, text: String, noflush: Bool) -> ToolResult {
        guard let unshare = tools.path("unshare"), let ipset = tools.path("ipset"),
              let restore = tools.path(family == .ipv6 ? "ip6tables-restore" : "iptables-restore") else {
            return ToolResult(status: 1, stderr: "ebpf-iptables: unshare, ipset and iptables-restore are needed (apt-get install util-linux ipset iptables)\n")
        }
        var template = Array("/tmp/ebpf-iptables-dry.XXXXXX".utf8CString)
        guard let dirPtr = template.withUnsafeMutableBufferPointer({ buf in buf.baseAddress.flatMap { mkdtemp($0) } }) else {
            return ToolResult(status: 1, stderr: "ebpf-iptables: cannot create a temporary directory for the dry run\n")
        }
        let dir = String(cString: dirPtr)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try Data(sets.utf8).write(to: URL(fileURLWithPath: dir + "/sets"))
            try Data((base ?? "").utf8).write(to: URL(fileURLWithPath: dir + "/base"))
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/text"))
        } catch {
            return ToolResult(status: 1, stderr: "ebpf-iptables: cannot write the dry run's files: \(error.localizedDescription)\n")
        }
        // A new network namespace lives as long as this shell: nothing to clean up after.
        let script = """
            ip link set lo up 2>/dev/null
            if [ -s "$1/sets" ]; then "$2" restore -file "$1/sets" 2>"$1/err" || { cat "$1/err" >&2; exit 101; }; fi
            if [ -s "$1/base" ]; then "$3" < "$1/base" 2>"$1/err" || { cat "$1/err" >&2; exit 102; }; fi
            exec "$3" \(noflush ? "--noflush" : "") < "$1/text"
            """
        var r = runner.run(unshare, ["--net", "--", "/bin/sh", "-c", script, "dry-run", dir, ipset, restore], stdin: nil, deadline: Self.long)
        if r.status == 101 { r = ToolResult(status: 1, stderr: "ebpf-iptables: the sets do not restore: " + r.stderr) }
        if r.status == 102 { r = ToolResult(status: 1, stderr: "ebpf-iptables: the running ruleset does not restore in a dry run: " + r.stderr) }
        return r
    }

    /// The kernel tracks connections in a namespace only while something there asks for it.
    /// With iptables-nft, the base chains of its tables (`nft -j list chains`); nil with
    /// iptables-legacy (every built-in chain of a table exists) or when nft cannot say.
    public func builtinChains(_ family: Family) -> Set<String>? {
        let version = run(family == .ipv6 ? "ip6tables" : "iptables", ["-V"], stdin: nil, deadline: Self.quick)
        guard version.ok, version.stdout.contains("nf_tables") else { return nil }
        let listed = run("nft", ["-j", "list", "chains", family == .ipv6 ? "ip6" : "ip"], stdin: nil, deadline: Self.quick, quietMissing: true)
        guard listed.ok, let data = listed.stdout.data(using: .utf8),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]] else { return nil }
        var out: Set<String> = []
        for item in items {
            guard let chain = item["chain"] as? [String: Any], chain["hook"] != nil,
                  let table = chain["table"] as? String, let name = chain["name"] as? String else { continue }
            out.insert(table + "\t" + name)
        }
        return out
    }

    public func keepConntrack(_ on: Bool) -> ToolResult {
        let table = "ebpf_iptables_conntrack"
        guard on else { return run("nft", ["delete", "table", "inet", table], stdin: nil, deadline: Self.quick, quietMissing: true) }
        // Declaring, deleting and declaring again replaces the table in one transaction.
        let script = """
            table inet \(table)
            delete table inet \(table)
            table inet \(table) {
                chain keep {
                    type filter hook prerouting priority -300; policy accept;
                    ct state invalid,new,established,related counter
                }
            }
            """
        return run("nft", ["-f", "-"], stdin: script, deadline: Self.quick)
    }

    func run(_ tool: String, _ args: [String], stdin: String?, deadline: Duration, quietMissing: Bool = false) -> ToolResult {
        guard let path = tools.path(tool) else {
            return ToolResult(status: 1, stderr: quietMissing ? "" : "ebpf-iptables: \(tool) is not installed (it holds the kernel layer: apt-get install iptables ipset nftables)\n")
        }
        return runner.run(path, args, stdin: stdin, deadline: deadline)
    }

    /// Where each kernel tool is: the standard system directories, skipping any that is us.
    struct Tools: Sendable {
        let directories: [String]
        let ourselves: String?

        init(environment: [String: String]) {
            directories = (environment["EBPF_IPTABLES_TOOLS_PATH"] ?? "/usr/sbin:/sbin:/usr/bin:/bin").split(separator: ":").map(String.init)
            ourselves = Self.realpath("/proc/self/exe")
        }

        func path(_ name: String) -> String? {
            for d in directories {
                let p = d + "/" + name
                guard access(p, X_OK) == 0 else { continue }
                if let ourselves, Self.realpath(p) == ourselves { continue }
                return p
            }
            return nil
        }

        static func realpath(_ p: String) -> String? {
            guard let r = Glibc.realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
    }
}
