import IptParse

/// What a kernel tool printed and how it ended: passed through to our own stdout, stderr and
/// exit status when we stand in for that tool.
public struct ToolResult: Equatable, Sendable, Codable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String = "", stderr: String = "") {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
    public var ok: Bool { status == 0 }
}

/// The kernel layer: the system's own iptables, ip6tables and ipset, which hold the whole
/// ruleset. Everything the user asks for is applied here exactly as those tools apply it
/// (their validation, output, messages and exit statuses are theirs); the XDP layer is
/// compiled from what this layer reads back.
public protocol KernelLayer {
    /// `iptables ARGV` (`ip6tables` for IPv6).
    func iptables(_ family: Family, _ argv: [String]) -> ToolResult
    /// `iptables-restore [--noflush] [--counters]` with `text` on standard input.
    func restore(_ family: Family, _ text: String, noflush: Bool, counters: Bool) -> ToolResult
    /// `iptables-save [-c] [-t TABLE]`.
    func save(_ family: Family, counters: Bool, table: String?) -> ToolResult
    /// `ipset ARGV` with `stdin` on standard input when given.
    func ipset(_ argv: [String], stdin: String?) -> ToolResult
    /// Tries the change in a throwaway network namespace, applying nothing here: the sets of
    /// `sets` (ipset save text) are restored there, then `base` (iptables-save text) when
    /// given, then `text` with iptables-restore (`--noflush` when asked). The result is the
    /// last step that ran; on success the kernel would take the same change here.
    func dryRun(_ family: Family, sets: String, base: String?, text: String, noflush: Bool) -> ToolResult
    /// `iptables-restore --test [--noflush]` with `text` on standard input: the kernel tool's
    /// own check, which commits nothing (and, with iptables-nft, reads no chains: a jump to a
    /// chain that does not exist passes it).
    func restoreTest(_ family: Family, _ text: String, noflush: Bool) -> ToolResult
    /// Keeps conntrack running in this namespace (a one-rule nftables table) while filter
    /// INPUT's state tests run in XDP only (`--xdp-only`); `false` removes it.
    func keepConntrack(_ on: Bool) -> ToolResult
    /// The built-in chains that exist in the kernel (see the extension's default).
    func builtinChains(_ family: Family) -> Set<String>?
    /// A number that changes whenever the kernel's rules change (see the extension's default).
    func rulesGeneration() -> UInt32?
}

extension KernelLayer {
    /// The built-in chains that exist in the kernel, as "table\tCHAIN", when not every
    /// built-in chain of a table the ruleset has does: iptables-nft creates only the chains a
    /// restore names (iptables-save prints the others anyway, with `[0:0]`). Nil: all exist
    /// (iptables-legacy), or it cannot be told. A chain that does not exist counts nothing.
    public func builtinChains(_ family: Family) -> Set<String>? { nil }

    /// nftables' ruleset generation id, bumped by every iptables-nft change (ours or anyone's),
    /// when this layer's iptables is iptables-nft and the id can be read; nil: cannot be told,
    /// the rules are read back instead.
    public func rulesGeneration() -> UInt32? { nil }

    /// Without a tool to ask (fakes): the dry run's verdict, which is stricter.
    public func restoreTest(_ family: Family, _ text: String, noflush: Bool) -> ToolResult {
        dryRun(family, sets: "", base: nil, text: text, noflush: noflush)
    }

    /// `iptables-save [-c]`, every table.
    public func save(_ family: Family, counters: Bool) -> ToolResult { save(family, counters: counters, table: nil) }
}
