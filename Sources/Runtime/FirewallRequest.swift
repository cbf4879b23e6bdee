import IptParse

/// One operation of the running firewall, as a value: what the CLI does in-process, what the
/// agent receives over its control socket and what the REST API maps its endpoints to. Every
/// case is executed by `Firewall.perform`, under the same state lock as the CLI's own calls,
/// so an edit through the agent and one through a CLI running alone are serialised.
public enum FirewallRequest: Equatable, Sendable, Codable {
    /// `iptables ARGV` (`ip6tables` for IPv6): iptables' own words.
    case iptables(argv: [String], family: Family)
    /// `ipset ARGV` with standard input for `restore`.
    case ipset(argv: [String], stdin: String?)
    /// `iptables-restore`: the whole ruleset, atomic, all or nothing.
    case restore(RestoreRequest)
    /// `iptables-save [-c] [-t TABLE]`, with XDP's drops added to the counters.
    case save(family: Family, counters: Bool, table: String?)
    case status(verbose: Bool)
    case attach(interface: String, mode: String)
    case detach(interface: String)
    /// `recent [NAME] [add|remove ADDR | clear]`: a recent list as /proc/net/xt_recent has it.
    case recent(name: String?, edit: RecentEdit?)
}

extension Firewall {
    /// Runs `request` exactly as the CLI would; `libbpf` is the version `status` reports.
    public func perform(_ request: FirewallRequest, libbpf: String = "") throws -> ToolResult {
        switch request {
        case let .iptables(argv, family): return try iptables(argv, family: family)
        case let .ipset(argv, stdin): return try ipset(argv, stdin: stdin)
        case let .restore(req): return try restore(req)
        case let .save(family, counters, table): return try save(family: family, counters: counters, table: table)
        case let .status(verbose): return try status(verbose: verbose, libbpf: libbpf)
        case let .attach(interface, mode): return try attach(interface: interface, mode: mode)
        case let .detach(interface): return try detach(interface: interface)
        case let .recent(name, edit): return try recent(name: name, edit: edit)
        }
    }
}
