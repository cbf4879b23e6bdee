import Compiler
import Foundation
import IptParse
import Logging
import Runtime

extension Persistence {
    /// At start, before any front end listens. Two cases:
    ///
    /// - **A reboot** (the kernel's tables and sets are empty; or the boot id changed since
    ///   the last start; or a previous restore at start was killed half-way, which a marker
    ///   in the state directory says): the saved files come back. The program goes back on
    ///   the saved interface first (so that `--xdp-only` can be restored too), then the sets
    ///   and the IPv4 rules in one `Firewall.restore` (all or nothing), then the IPv6 rules.
    ///   A file that fails to load is kept as `X.failed` and its last good copy is loaded.
    /// - **The agent restarted** (the kernel holds a ruleset): nothing is replaced. The
    ///   kernel's ruleset is the truth; the program goes back on the saved interface if it is
    ///   not there (the data plane compiles what the kernel holds, and every later command
    ///   reconciles XDP with the kernel first), and the files are brought up to date.
    ///
    /// Either way the files are then written whole from what runs (the journal folded in).
    /// Returns what it did, one line for the log.
    public func restoreAtStart(_ service: FirewallService) throws -> String {
        let fw = service.firewall
        let log = service.logger
        let state = service.paths.stateDir
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let marker = state + "/restore-at-start.pending", bootFile = state + "/boot-id"
        let boot = Self.bootID()
        let lastBoot = files.read(bootFile)
        defer { if let boot { try? Data(boot.utf8).write(to: URL(fileURLWithPath: bootFile), options: .atomic) } }
        return try files.withLock {
            let saved = SavedRuleset(files)
            guard saved.hasAnything else {
                // Nothing to bring back, nothing to clobber: the files start from what runs.
                try saver(fw, logger: log).saveEverything()
                try recordAttachment(fw, removeIfDetached: false)
                filesCurrent.set()
                return "restore at start: nothing saved in \(directory) yet; saved what runs"
            }
            // An attachment whose pins are gone is forgotten here (Firewall.attached).
            _ = try service.performNow(.status(verbose: false))
            let kernel = try KernelHolds(fw)
            let interrupted = files.exists(marker)
            let rebooted = boot != nil && lastBoot != nil && boot != lastBoot
            let saver = saver(fw, logger: log)
            var what: String
            if interrupted || rebooted || kernel.isEmpty {
                let why = interrupted ? "the previous restore at start was interrupted" : rebooted ? "the machine rebooted" : "the kernel's tables are empty"
                if !kernel.isEmpty { log.warning("restore at start: \(why); the kernel holds \(kernel), which the saved ruleset replaces") }
                try Data(why.utf8).write(to: URL(fileURLWithPath: marker), options: .atomic)
                what = "restore at start (\(why)): " + restore(saved, service: service, log: log)
                // Files equal to what now runs, the journal folded in; only then is the
                // marker gone (a kill before this point restores again at the next start).
                try saver.saveEverything()
                try? FileManager.default.removeItem(atPath: marker)
            } else {
                what = "restore at start: the kernel already holds a ruleset (\(kernel)): kept, the saved files are not loaded (the agent restarted, the machine did not reboot)"
                if let a = saved.attachment, fw.store.attachment == nil {
                    let r = try service.performNow(.attach(interface: a.interface, mode: a.mode))
                    if r.ok {
                        log.info("re-attached to \(a.interface) (\(a.mode)): \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
                        what += "; re-attached to \(a.interface)"
                    } else {
                        log.warning("restore at start: cannot attach to \(a.interface): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); the kernel layer decides alone until it is there")
                    }
                }
                if lastBoot == nil {
                    // The agent's first start here: whether the machine rebooted is unknown, and
                    // the kernel may hold what another service loaded first. The saved files
                    // are the operator's: left as they are until the first change.
                    what += "; the saved files are left as they are (first start of the agent here)"
                    return what
                }
                try saver.saveEverything()
                try recordAttachment(fw, removeIfDetached: false)
                what += "; the saved files now hold what runs"
            }
            filesCurrent.set()
            return what
        }
    }

    /// Attaches, then loads the saved sets and rules, falling back to the last good files.
    private func restore(_ saved: SavedRuleset, service: FirewallService, log: Logger) -> String {
        var attached = false
        var parts: [String] = []
        if let a = saved.attachment {
            do {
                let r = try service.performNow(.attach(interface: a.interface, mode: a.mode))
                if r.ok || r.stderr.contains("already attached to \(a.interface)") {
                    attached = true
                    log.info("restore at start: attached to \(a.interface) (\(a.mode))")
                    parts.append("attached to \(a.interface)")
                } else {
                    log.warning("restore at start: cannot attach to \(a.interface): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); the kernel layer decides alone until it appears")
                    parts.append("not attached (\(a.interface) missing)")
                }
            } catch {
                log.error("restore at start: attach to \(a.interface) failed: \(error)")
            }
        }
        var options = saved.attachment?.options ?? CompileOptions()
        if !attached && options.xdpOnly {
            // XDP alone cannot decide INPUT without XDP: the kernel keeps INPUT.
            options.xdpOnly = false
            log.warning("restore at start: --xdp-only needs the program attached: the kernel keeps filter INPUT")
        }
        let setsGoWithV6 = saved.v4 == nil && saved.v4LastGood == nil
        for family in [Family.ipv4, .ipv6] {
            let v6 = family == .ipv6
            let withSets = v6 == setsGoWithV6
            let candidates = saved.candidates(family, withSets: withSets)
            guard !candidates.isEmpty else { continue }
            parts.append(load(family, candidates, options: v6 ? CompileOptions() : options, service: service, log: log))
        }
        return parts.joined(separator: "; ")
    }

    /// Loads the first candidate that the kernel takes; logs each one that fails.
    private func load(_ family: Family, _ candidates: [SavedRuleset.Candidate], options: CompileOptions,
                      service: FirewallService, log: Logger) -> String {
        let name = family == .ipv6 ? "IPv6" : "IPv4"
        for (i, c) in candidates.enumerated() {
            var req = RestoreRequest(family: family, text: c.rules ?? "", source: c.rulesPath,
                                     setFiles: c.sets.map { [(name: c.setsPath, text: $0)] } ?? [])
            req.options = options
            let failure: String
            do {
                let r = try service.performNow(.restore(req))
                if r.ok {
                    let summary = "\(name) \(c.describe)"
                    if i > 0 {
                        keepFailed(candidates[0])
                        log.warning("restore at start: loaded the last good \(name) ruleset (\(c.describe)) instead; the files that failed are kept as *.failed")
                    } else {
                        log.info("restore at start: \(summary) loaded")
                    }
                    return summary + (i > 0 ? " (last good)" : "")
                }
                failure = "exit \(r.status): " + r.stderr.split(separator: "\n").prefix(3).joined(separator: " | ")
            } catch {
                failure = "\(error)"
            }
            log.error("restore at start: \(c.describe) failed to load (\(failure))\(i + 1 < candidates.count ? "; trying the last good files" : "")")
        }
        log.critical("restore at start: no saved \(name) ruleset loads; the kernel keeps what it holds")
        return "\(name): nothing loaded"
    }

    /// Keeps the primary files that failed to load beside them, for the operator.
    private func keepFailed(_ c: SavedRuleset.Candidate) {
        for path in [c.rulesPath, c.setsPath] where !path.isEmpty && files.exists(path) {
            try? files.commit([(PersistedFiles.failed(path), files.read(path) ?? "")])
        }
    }

    /// This boot's id (it changes at every boot): `/proc/sys/kernel/random/boot_id`.
    static func bootID() -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/sys/kernel/random/boot_id") else { return nil }
        let s = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? nil : s
    }
}

/// What the kernel holds now: rules (or a policy other than ACCEPT, or a chain of its own)
/// per family, and sets.
struct KernelHolds: CustomStringConvertible {
    var v4: Int
    var v6: Int
    var sets: Int

    init(_ fw: Firewall) throws {
        v4 = try Self.count(fw, .ipv4)
        v6 = try Self.count(fw, .ipv6)
        let r = try fw.ipset(["list", "-n"], stdin: nil)
        guard r.ok else { throw PersistenceError("ipset list -n exited \(r.status): \(r.stderr)") }
        sets = r.stdout.split(separator: "\n").count
    }

    var isEmpty: Bool { v4 == 0 && v6 == 0 && sets == 0 }

    var description: String { "\(v4) IPv4 rules, \(v6) IPv6 rules, \(sets) sets" }

    /// Rules, user chains and non-ACCEPT policies (each counts one).
    static func count(_ fw: Firewall, _ family: Family) throws -> Int {
        let r = try fw.save(family: family, counters: false, table: nil)
        guard r.ok else { throw PersistenceError("\(family == .ipv6 ? "ip6tables-save" : "iptables-save") exited \(r.status): \(r.stderr)") }
        guard let ruleset = try? RestoreParser.parse(r.stdout, options: .init(family: family, file: "<iptables-save>")) else {
            // Not readable by us, but certainly not empty.
            return r.stdout.split(separator: "\n").filter { $0.hasPrefix("-A ") }.count + 1
        }
        var n = 0
        for t in ruleset.tables {
            for c in t.chains {
                n += c.rules.count
                if !c.isBuiltin || (c.policy != nil && c.policy != "ACCEPT") { n += 1 }
            }
        }
        return n
    }
}
