import Foundation
import Logging
import Runtime

/// The ruleset kept across reboots, as netfilter-persistent keeps iptables': files under
/// the configuration directory (`PersistedFiles`), written after every change the agent
/// makes and restored when the agent starts (`restoreAtStart`, PersistenceRestore.swift).
///
/// Who writes them: the agent, after each request that changed something (`follow`); and
/// `ebpf-iptables save --persist`, for an operator who runs the CLI without the agent (the
/// CLI alone never writes them by itself, as iptables never writes /etc/iptables/rules.v4).
public struct Persistence: Sendable {
    public let directory: String
    public let files: PersistedFiles
    /// Journal lines (single-member set edits) after which the sets are saved whole.
    public var compactAfter: Int
    /// Set by `restoreAtStart` once the files equal what the kernel holds.
    let filesCurrent = Flag()

    public init(directory: String, compactAfter: Int = 10_000) {
        self.directory = directory
        files = PersistedFiles(directory: directory)
        self.compactAfter = compactAfter
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
        func set() { lock.lock(); value = true; lock.unlock() }
    }

    /// Saves what the kernel holds after each change the service completes, before the
    /// answer goes back (observers run on the service's queue before `perform` returns):
    /// an acknowledged edit is on disk.
    public func follow(_ service: FirewallService) {
        let saver = saver(service.firewall, logger: service.logger)
        // restoreAtStart ended with a whole save: single-member edits may be journal lines
        // from the first on. Otherwise the first one saves the sets whole.
        if filesCurrent.isSet { saver.markSynced() }
        service.observe { saver.after($0) }
    }

    func saver(_ firewall: Firewall, logger: Logger) -> PersistenceSaver {
        PersistenceSaver(files: files, firewall: firewall, logger: logger, compactAfter: compactAfter)
    }

    /// `ebpf-iptables save --persist`: writes every file from what runs now (both families'
    /// rules, the sets, what is attached) and returns a summary for the operator.
    public func saveAll(firewall: Firewall, logger: Logger) throws -> String {
        let saver = saver(firewall, logger: logger)
        try files.withLock {
            try saver.saveEverything()
            try recordAttachment(firewall, removeIfDetached: true)
        }
        return summary()
    }

    /// `attachment.json` from what is attached now. Without an attachment the record goes
    /// only when asked and when its interface is there (detached); an interface that is gone
    /// keeps its record: the program goes back on when it returns.
    func recordAttachment(_ firewall: Firewall, removeIfDetached: Bool) throws {
        if let a = firewall.store.attachment {
            let record = PersistedAttachment(interface: a.interface, mode: a.mode, options: firewall.store.compileOptions)
            guard files.read(files.attachment) != record.json else { return }
            try files.commit([(files.attachment, record.json), (PersistedFiles.lastGood(files.attachment), record.json)])
        } else if removeIfDetached, let record = PersistedAttachment.decode(files.read(files.attachment)), Self.interfaceExists(record.interface) {
            try files.remove(files.attachment)
            try files.remove(PersistedFiles.lastGood(files.attachment))
        }
    }

    /// What the files hold, one line.
    public func summary() -> String {
        func rules(_ path: String) -> Int {
            (files.read(path) ?? "").split(separator: "\n").filter { $0.hasPrefix("-A ") }.count
        }
        let sets = files.read(files.sets) ?? ""
        let setCount = sets.split(separator: "\n").filter { $0.hasPrefix("create ") }.count
        let members = sets.split(separator: "\n").filter { $0.hasPrefix("add ") }.count
        let journal = max(0, (files.read(files.setsJournal) ?? "").split(separator: "\n").count - 1)
        var out = "saved in \(directory): rules.v4 \(rules(files.rulesV4)) rules, rules.v6 \(rules(files.rulesV6)) rules, "
            + "ipsets \(setCount) sets with \(members) members"
        if journal > 0 { out += " and \(journal) member edits journaled" }
        if let a = PersistedAttachment.decode(files.read(files.attachment)) {
            out += "; attached to \(a.interface) (\(a.mode)\(a.xdpOnly ? ", --xdp-only" : "")\(a.rejectAsDrop ? ", --reject-as-drop" : ""))"
        } else {
            out += "; nothing attached"
        }
        return out
    }

    static func interfaceExists(_ name: String) -> Bool { if_nametoindex(name) != 0 }
}
