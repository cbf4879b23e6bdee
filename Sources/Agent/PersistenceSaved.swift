import Foundation
import IptParse

/// The saved files as read at start, and what to try loading in which order: the files
/// themselves, then their last good copies.
struct SavedRuleset {
    /// One attempt: rules of a family, and the sets with them (nil: none).
    struct Candidate {
        var rules: String?
        var rulesPath: String
        var sets: String?
        var setsPath: String
        var describe: String
    }

    let files: PersistedFiles
    var v4, v4LastGood, v6, v6LastGood: String?
    var sets, setsLastGood: String?
    var journal: String?
    var attachment: PersistedAttachment?

    init(_ files: PersistedFiles) {
        self.files = files
        v4 = files.read(files.rulesV4)
        v4LastGood = files.read(PersistedFiles.lastGood(files.rulesV4))
        v6 = files.read(files.rulesV6)
        v6LastGood = files.read(PersistedFiles.lastGood(files.rulesV6))
        sets = files.read(files.sets)
        setsLastGood = files.read(PersistedFiles.lastGood(files.sets))
        journal = files.read(files.setsJournal)
        attachment = PersistedAttachment.decode(files.read(files.attachment))
            ?? PersistedAttachment.decode(files.read(PersistedFiles.lastGood(files.attachment)))
    }

    var hasAnything: Bool {
        [v4, v4LastGood, v6, v6LastGood, sets, setsLastGood].contains { $0 != nil } || attachment != nil
    }

    func candidates(_ family: Family, withSets: Bool) -> [Candidate] {
        let v6 = family == .ipv6
        let path = files.rules(v6)
        let primaryRules = v6 ? self.v6 : self.v4
        let lastGoodRules = v6 ? v6LastGood : v4LastGood
        var out: [Candidate] = []
        let primarySets = withSets ? sets.map { Self.compose($0, journal: journal) } : nil
        if primaryRules != nil || primarySets != nil {
            out.append(Candidate(rules: primaryRules, rulesPath: path, sets: primarySets, setsPath: primarySets == nil ? "" : files.sets,
                                 describe: Self.describe(path, primaryRules, files.sets, primarySets)))
        }
        let goodSets = withSets ? (setsLastGood ?? sets).map { Self.compose($0, journal: journal) } : nil
        let goodRules = lastGoodRules ?? primaryRules
        if (goodRules != nil || goodSets != nil) && (goodRules != primaryRules || goodSets != primarySets) {
            let lgPath = lastGoodRules != nil ? PersistedFiles.lastGood(path) : path
            let lgSets = setsLastGood != nil ? PersistedFiles.lastGood(files.sets) : files.sets
            out.append(Candidate(rules: goodRules, rulesPath: lgPath, sets: goodSets, setsPath: goodSets == nil ? "" : lgSets,
                                 describe: Self.describe(lgPath, goodRules, lgSets, goodSets)))
        }
        return out
    }

    static func describe(_ rulesPath: String, _ rules: String?, _ setsPath: String, _ sets: String?) -> String {
        var s = "\(rulesPath) (\((rules ?? "").split(separator: "\n").filter { $0.hasPrefix("-A ") }.count) rules)"
        if let sets {
            let lines = sets.split(separator: "\n")
            s += " with \(setsPath) (\(lines.filter { $0.hasPrefix("create ") }.count) sets, \(lines.filter { $0.hasPrefix("add ") }.count) members)"
        }
        return s
    }

    /// `ipsets` (or its last good copy) with the journal applied, when the journal belongs
    /// to it (same token), as `ipset restore` text without our header line. The journal's
    /// lines run with `-exist`: each was acknowledged by the kernel on exactly this state,
    /// and a line already folded into the base changes nothing.
    static func compose(_ base: String, journal: String?) -> String {
        var lines = base.split(separator: "\n", omittingEmptySubsequences: false)
        var token: Substring? = nil
        if let first = lines.first, first.hasPrefix(PersistedFiles.setsHeader) {
            token = first.dropFirst(PersistedFiles.setsHeader.count)
            lines.removeFirst()
        }
        let text = lines.joined(separator: "\n")
        guard let token, let journal else { return text }
        var edits = journal.split(separator: "\n")
        guard let head = edits.first, head == PersistedFiles.journalHeader + token else { return text }
        edits.removeFirst()
        guard !edits.isEmpty, let script = try? IpsetParser.parse(text, file: "ipsets") else { return text }
        let run = IpsetRun.run(edits.joined(separator: "\n") + "\n", file: "ipsets.journal", on: IpsetState(script: script), exist: true,
                               references: [:], touching: nil, recordChanges: false)
        return IpsetPrinter.save(run.state.script)
    }
}
