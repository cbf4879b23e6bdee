import Foundation
import IptParse
import Loader
import Runtime

/// The kernel layer as the agent runs it: the system's own tools (`SystemKernel`), minus
/// process starts on an edit's success path, which a resident process can afford to avoid
/// (docs/agent.md, "Latency"):
/// - `iptables-save` without counters is answered from the text read last time while
///   nftables' generation id (one netlink round trip) says no ruleset change happened since;
///   any change, ours or behind our back, bumps it.
/// - `iptables -A CHAIN …` goes to a long-lived `iptables-restore --noflush` (RestoreSession).
/// - `ipset [-exist] add|del SET a.b.c.d` goes to the kernel over netlink as the ipset tool
///   sends it. Anything else, and every refusal, runs the real `ipset`: its messages and
///   exit statuses stay its own (a refused netlink edit changed nothing).
public final class AgentKernel: KernelLayer, @unchecked Sendable {
    let base: KernelLayer
    private let lock = NSLock()
    private var saved: [String: (generation: UInt32, text: String)] = [:]
    private var session: RestoreSession?
    let useRestoreSession: Bool
    /// Counts for the log and tests: edits done over netlink, saves answered from the cache,
    /// appends through the long-lived iptables-restore.
    public private(set) var netlinkEdits = 0, cachedSaves = 0, restoreAppends = 0

    /// `restoreSession`: appends go through a long-lived iptables-restore (RestoreSession).
    public init(base: KernelLayer, restoreSession: Bool = true) {
        self.base = base
        self.useRestoreSession = restoreSession
    }

    /// Ends the long-lived iptables-restore (at the agent's stop).
    public func stop() {
        lock.lock(); let s = session; session = nil; lock.unlock()
        s?.stop()
    }

    /// `iptables -A CHAIN …` (IPv4, filter) through a long-lived iptables-restore, when the
    /// argv is one it reads the same way (RestoreSession.line); a refusal runs the real tool,
    /// which then says why in its own words (nothing was committed).
    public func iptables(_ family: Family, _ argv: [String]) -> ToolResult {
        if family == .ipv4, useRestoreSession, let line = RestoreSession.line(for: argv) {
            lock.lock()
            if session == nil { session = RestoreSession() }
            let s = session
            lock.unlock()
            if let s {
                switch s.run(line: line) {
                case .committed(let stderr):
                    lock.lock(); restoreAppends += 1; lock.unlock()
                    return ToolResult(status: 0, stderr: stderr)
                case .refused:
                    break
                case .unknown(let why):
                    return ToolResult(status: 4, stderr: "ebpf-iptables: \(why); the rule may or may not have been appended\n")
                }
            }
        }
        return base.iptables(family, argv)
    }

    public func restore(_ family: Family, _ text: String, noflush: Bool, counters: Bool) -> ToolResult {
        base.restore(family, text, noflush: noflush, counters: counters)
    }

    public func dryRun(_ family: Family, sets: String, base b: String?, text: String, noflush: Bool) -> ToolResult {
        base.dryRun(family, sets: sets, base: b, text: text, noflush: noflush)
    }

    public func restoreTest(_ family: Family, _ text: String, noflush: Bool) -> ToolResult {
        base.restoreTest(family, text, noflush: noflush)
    }

    public func keepConntrack(_ on: Bool) -> ToolResult { base.keepConntrack(on) }

    public func save(_ family: Family, counters: Bool, table: String?) -> ToolResult {
        guard !counters, let before = try? KernelNetlink.nftGeneration() else { return base.save(family, counters: counters, table: table) }
        let key = "\(family.rawValue)\t\(table ?? "")"
        lock.lock()
        let hit = saved[key]
        lock.unlock()
        if let hit, hit.generation == before {
            lock.lock(); cachedSaves += 1; lock.unlock()
            return ToolResult(status: 0, stdout: Self.redated(hit.text))
        }
        let r = base.save(family, counters: counters, table: table)
        // Kept only when nothing changed while the tool read (the generation is the same after).
        if r.ok, (try? KernelNetlink.nftGeneration()) == before {
            lock.lock(); saved[key] = (before, r.stdout); lock.unlock()
        }
        return r
    }

    public func ipset(_ argv: [String], stdin: String?) -> ToolResult {
        if stdin == nil, let edit = Self.memberEdit(argv) {
            do {
                try KernelNetlink.ipsetMember(edit.edit, set: edit.set, ipv4: edit.address, exist: edit.exist)
                lock.lock(); netlinkEdits += 1; lock.unlock()
                return ToolResult(status: 0)
            } catch {
                // Refused (already added, no such set, wrong type...) or netlink unavailable:
                // the tool says why, in its words, and does what it does.
            }
        }
        let r = base.ipset(argv, stdin: stdin)
        // Set names the kernel's rules refer to may have changed (rename, swap, destroy):
        // iptables-save prints names it looks up, so its text may differ at one generation.
        let command = argv.first { !$0.hasPrefix("-") } ?? ""
        if !["add", "del", "test", "list", "save", "version", "help", "-A", "-D", "-T", "-L", "-S"].contains(command) {
            lock.lock(); saved.removeAll(); lock.unlock()
        }
        return r
    }

    struct MemberEdit: Equatable {
        var edit: KernelNetlink.MemberEdit
        var set: String
        var address: UInt32
        var exist: Bool
    }

    /// `[-exist] add|del SET a.b.c.d [-exist]` and nothing else.
    static func memberEdit(_ argv: [String]) -> MemberEdit? {
        let exist = argv.contains { $0 == "-exist" || $0 == "-!" || $0 == "--exist" }
        let words = argv.filter { $0 != "-exist" && $0 != "-!" && $0 != "--exist" }
        guard words.count == 3, let edit: KernelNetlink.MemberEdit = words[0] == "add" ? .add : words[0] == "del" ? .del : nil,
              !words[1].isEmpty, !words[1].hasPrefix("-"), words[1].utf8.count < 32, let a = DottedQuad.parse(words[2]) else { return nil }
        return MemberEdit(edit: edit, set: words[1], address: a, exist: exist)
    }

    /// iptables-save's `# Generated by … on DATE` and `# Completed on DATE` with today's date,
    /// as the tool would print them now (ctime(3), as it does).
    static func redated(_ text: String) -> String {
        guard text.contains("# Generated by ") || text.contains("# Completed on ") else { return text }
        var now = time(nil)
        var buf = [CChar](repeating: 0, count: 32)
        guard ctime_r(&now, &buf) != nil else { return text }
        let date = String(cString: buf).trimmingCharacters(in: .newlines)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("# Generated by ") || line.hasPrefix("# Completed on "), let r = line.range(of: " on ", options: .backwards) else {
                return String(line)
            }
            return String(line[..<r.upperBound]) + date
        }.joined(separator: "\n")
    }
}
