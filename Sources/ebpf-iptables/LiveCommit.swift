import Compiler
import Foundation
import IptParse

/// Every live edit ends here: iptables' edit commands (-A/-I/-D/-R/-P/-N/-X/-E/-F/-Z)
/// with the whole new ruleset, ipset's commands with the whole new set of sets. When a
/// program is attached the change goes into the data plane first (a refusal applies
/// nothing); the state files are written only after the data plane took it.
/// When nothing is attached, the state is all there is, as with iptables before any
/// interface exists: `attach` + `restore` install it later.
enum LiveCommit {
    /// The state's ruleset; nil before anything was restored or edited.
    static func stateRuleset(_ store: StateStore) throws -> Ruleset? {
        guard let text = store.read(store.paths.rulesFile) else { return nil }
        return try RestoreParser.parse(text, options: .init(file: store.paths.rulesFile))
    }

    /// The sets: the snapshot and the journal of live single-member edits applied to it.
    static func currentSets(_ store: StateStore) throws -> IpsetScript {
        guard let text = SetsJournal(store: store).fullText() else { return IpsetScript(sets: []) }
        return try IpsetParser.parse(text, file: store.paths.setsFile)
    }

    /// Folds the journal into the snapshot, for readers that take `ipsets.save` as it is.
    static func compactSets(_ store: StateStore) throws {
        let journal = SetsJournal(store: store)
        guard FileManager.default.fileExists(atPath: journal.journalPath) else { return }
        try store.write(IpsetPrinter.save(try currentSets(store)), to: store.paths.setsFile)
        journal.dropJournal()
    }

    /// Rules changed from `previous` (the ruleset the edit started from, as the caller read
    /// it from the state) to `ruleset`; `setHeaders` are the sets' definitions without their
    /// members (SetsJournal.headers), when the caller has them. Call with the state lock held.
    static func rules(_ ruleset: Ruleset, previous: Ruleset, setHeaders: IpsetScript?, store: StateStore) throws {
        if store.attachment != nil {
            // One rule appended to INPUT goes in without rewriting a generation.
            if let setHeaders, try LiveFastPath.appendToInput(old: previous, new: ruleset, headers: setHeaders, store: store) { return }
            let sets = try currentSets(store)
            try Installer.install(ruleset, sets: sets.sets.isEmpty ? nil : sets, source: store.paths.rulesFile,
                                  options: store.compileOptions, store: store, quietNotes: true)
        } else {
            try store.write(SavePrinter.save(ruleset), to: store.paths.rulesFile)
        }
    }

    /// Sets changed by one ipset command; `change` says what (the members one `add`/`del`
    /// touched, or `.structure` for anything else), so the data plane can apply only that.
    /// Members with timeouts carry `expiresAt`; `sets.nextExpiry` is the next deadline.
    /// Call with the state lock held. A single IPv4 address added or deleted never gets
    /// here when LiveFastPath could take it (IpsetCLI asks it first); what does arrive
    /// (ranges, CIDRs, options, timeouts, set-level commands) takes the whole-set path.
    static func sets(_ sets: IpsetScript, change: IpsetChange, store: StateStore) throws {
        try self.sets(sets, store: store)
    }

    /// Sets changed. Call with the state lock held.
    static func sets(_ sets: IpsetScript, store: StateStore) throws {
        if store.attachment != nil, let text = store.read(store.paths.rulesFile) {
            let ruleset = try RestoreParser.parse(text, options: .init(file: store.paths.rulesFile))
            try Installer.install(ruleset, sets: sets, source: store.paths.rulesFile,
                                  options: store.compileOptions, store: store, quietNotes: true)
        } else {
            try store.write(IpsetPrinter.save(sets), to: store.paths.setsFile)
            SetsJournal(store: store).dropJournal()
        }
    }
}
