import Foundation
import IptParse
import Logging
import Runtime

/// Writes what the kernel holds to the saved files after each change, under the files'
/// lock. Rules are written whole (they are small); the sets are written whole after any
/// change but a single-member `add`/`del`, which is one line appended to the journal: an
/// `ipset save` of 100,000 members rewritten per edit would cost more than the edit itself.
/// The journal is folded into a fresh `ipsets` after `compactAfter` lines and at start.
final class PersistenceSaver: @unchecked Sendable {
    let files: PersistedFiles
    let firewall: Firewall
    let logger: Logger
    let compactAfter: Int
    private let lock = NSLock()
    /// The files hold the kernel's sets as of a whole save by this process (or at start):
    /// only then may a member edit be a journal line on top of them.
    private var synced = false
    private var journalLines = 0

    init(files: PersistedFiles, firewall: Firewall, logger: Logger, compactAfter: Int) {
        self.files = files
        self.firewall = firewall
        self.logger = logger
        self.compactAfter = compactAfter
    }

    /// After one request of the service: saves what it changed; a failure is logged (the
    /// firewall itself is not affected).
    func after(_ c: FirewallService.Completed) {
        lock.lock(); defer { lock.unlock() }
        do {
            try files.withLock { try save(after: c) }
        } catch {
            logger.error("saving the ruleset to \(files.directory) failed after \(Self.describe(c.request)): \(error)")
        }
    }

    private func save(after c: FirewallService.Completed) throws {
        guard let result = c.result else {
            // A failure of ours half-way (I/O, the data plane): the kernel may hold part of
            // the change. Whatever it holds is saved whole.
            if Self.changes(c.request) { try saveEverything() }
            return
        }
        switch c.request {
        case let .iptables(argv, family):
            guard result.ok, Self.mayChange(iptables: argv) else { return }
            try saveRules(family)
        case let .ipset(argv, _):
            guard let inv = try? IpsetArgv.parse(argv), ![.list, .save, .test, .version, .help].contains(inv.command) else { return }
            if let line = Self.journalLine(inv), synced, journalLines < compactAfter {
                if result.ok {
                    try appendJournal(line)
                } else if line.contains("/") || line.contains("-") {
                    // A prefix or a range in a hash:ip set is many elements: the kernel keeps
                    // those it added before the one it refused.
                    try saveSets()
                }
            } else if result.ok || [.add, .del, .restore].contains(inv.command) {
                try saveSets()
            }
        case let .restore(req):
            guard result.ok, !req.test else { return }
            try saveRules(req.family)
            if !req.setFiles.isEmpty { try saveSets() }
            if req.family == .ipv4 { try updateAttachmentOptions() }
        case let .attach(interface, mode):
            guard result.ok else { return }
            let a = PersistedAttachment(interface: interface, mode: mode, options: firewall.store.compileOptions)
            try files.commit([(files.attachment, a.json), (PersistedFiles.lastGood(files.attachment), a.json)])
            logger.info("saved: attached to \(interface) (\(mode)) in \(files.attachment)")
        case let .detach(interface):
            guard result.ok else { return }
            // The rules and sets stay saved: only the attachment goes.
            try files.remove(files.attachment)
            try files.remove(PersistedFiles.lastGood(files.attachment))
            logger.info("saved: detached from \(interface); the saved ruleset stays in \(files.directory)")
        case .save, .status, .recent:
            return
        }
    }

    // MARK: whole files

    /// Rules of both families, sets, and the options of what is attached.
    func saveEverything() throws {
        try saveRules(.ipv4)
        try saveRules(.ipv6)
        try saveSets()
        try updateAttachmentOptions()
    }

    func saveRules(_ family: Family) throws {
        let text = try rulesText(family)
        let path = files.rules(family == .ipv6)
        let lastGood = PersistedFiles.lastGood(path)
        if files.read(path) == text && files.read(lastGood) == text { return }
        try files.commit([(path, text), (lastGood, text)])
    }

    /// The kernel's ruleset as the service holds it. After an IPv4 change with XDP attached
    /// the firewall has just read it back (`kernel.v4` in the state directory, iptables-save
    /// without comments or counters); otherwise `iptables-save` runs.
    func rulesText(_ family: Family) throws -> String {
        let store = firewall.store
        if family == .ipv4, store.attachment != nil, !store.compileOptions.xdpOnly, let cached = store.read(store.paths.kernelRulesFile) {
            return cached
        }
        let r = try firewall.save(family: family, counters: false, table: nil)
        guard r.ok else {
            throw PersistenceError("\(family == .ipv6 ? "ip6tables-save" : "iptables-save") exited \(r.status): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        // Without the dated comment lines and chain counters: the same ruleset is the same file.
        return KernelText.normalized(r.stdout)
    }

    func saveSets() throws {
        let r = try firewall.ipset(["save"], stdin: nil)
        guard r.ok else { throw PersistenceError("ipset save exited \(r.status): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
        let text = PersistedFiles.setsHeader + UUID().uuidString + "\n" + r.stdout
        try files.commit([(files.sets, text), (PersistedFiles.lastGood(files.sets), text)])
        // After the rename: a crash in between leaves a journal whose token is the old
        // base's, which the next start ignores (the new base holds what it says).
        try files.remove(files.setsJournal)
        synced = true
        journalLines = 0
    }

    func appendJournal(_ line: String) throws {
        guard let token = files.setsToken(files.sets) else { return try saveSets() }
        if files.exists(files.setsJournal), files.journalToken() != token {
            try files.remove(files.setsJournal)
        }
        try files.append(line, to: files.setsJournal, header: PersistedFiles.journalHeader + token)
        journalLines += 1
        if journalLines >= compactAfter { try saveSets() }
    }

    /// A restore sets the compile options (`--xdp-only`, `--reject-as-drop`): the record
    /// of what is attached keeps them for the next start.
    func updateAttachmentOptions() throws {
        guard var a = PersistedAttachment.decode(files.read(files.attachment)) else { return }
        let o = firewall.store.compileOptions
        guard a.options != o else { return }
        a.rejectAsDrop = o.rejectAsDrop
        a.xdpOnly = o.xdpOnly
        try files.commit([(files.attachment, a.json), (PersistedFiles.lastGood(files.attachment), a.json)])
    }

    /// The files now equal the kernel (after a restore at start, or `save --persist`).
    func markSynced() {
        lock.lock(); defer { lock.unlock() }
        synced = true
        journalLines = 0
    }

    // MARK: reading requests

    /// One member added or deleted, as an `ipset restore` line; nil for anything else (or
    /// words a restore line could not carry: spaces, quotes).
    static func journalLine(_ inv: IpsetInvocation) -> String? {
        guard inv.command == .add || inv.command == .del, inv.file == nil, inv.args.count >= 2,
              !inv.args.contains(where: { $0.isEmpty || $0.contains(where: { $0 == " " || $0 == "\"" || $0 == "\t" || $0 == "\n" || $0 == "#" }) })
        else { return nil }
        return "\(inv.command.rawValue) \(inv.args.joined(separator: " "))"
    }

    /// Whether an iptables command line may change rules (listing, checking and help do not).
    static func mayChange(iptables argv: [String]) -> Bool {
        for w in argv {
            if ["-L", "--list", "-S", "--list-rules", "-C", "--check", "-h", "--help", "-V", "--version"].contains(w) { return false }
            // Bundled short options (`-nvL`, `-vS`).
            if w.hasPrefix("-"), !w.hasPrefix("--"), w.count > 2, w.count <= 6, w.dropFirst().allSatisfy(\.isLetter),
               w.contains("L") || w.contains("S") {
                return false
            }
        }
        return true
    }

    static func changes(_ r: FirewallRequest) -> Bool {
        switch r {
        case .save, .status, .recent: return false // a recent list is state, not the ruleset
        default: return true
        }
    }

    static func describe(_ r: FirewallRequest) -> String {
        switch r {
        case let .iptables(argv, family): return "\(family == .ipv6 ? "ip6tables" : "iptables") \(argv.joined(separator: " "))"
        case let .ipset(argv, _): return "ipset \(argv.joined(separator: " "))"
        case let .restore(req): return "restore of \(req.source)"
        case .save: return "save"
        case .status: return "status"
        case let .attach(i, _): return "attach \(i)"
        case let .detach(i): return "detach \(i)"
        case let .recent(name, edit): return "recent \(name ?? "")\(edit.map { " \($0)" } ?? "")"
        }
    }
}
