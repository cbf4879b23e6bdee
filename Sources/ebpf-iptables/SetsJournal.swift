import Foundation
import IptParse

/// The sets of the state directory as two files: `ipsets.save` (a snapshot in `ipset
/// save` form) and `ipsets.journal` (the single `add`/`del` lines applied since). A live
/// `ebpf-ipset add` appends one line instead of rewriting a 100,000-member snapshot;
/// anything that rewrites the sets writes a new snapshot and drops the journal. Both
/// together are valid `ipset restore` text, so every full reader sees the same sets.
struct SetsJournal {
    let store: StateStore

    var snapshotPath: String { store.paths.setsFile }
    var journalPath: String { store.paths.stateDir + "/ipsets.journal" }

    /// Snapshot and journal as one restore script.
    func fullText() -> String? {
        let snap = store.read(snapshotPath)
        let journal = store.read(journalPath)
        guard snap != nil || journal != nil else { return nil }
        var text = snap ?? ""
        if let journal, !journal.isEmpty {
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += journal
        }
        return text
    }

    /// After a new snapshot was written.
    func dropJournal() {
        try? FileManager.default.removeItem(atPath: journalPath)
    }

    func append(_ line: String) throws {
        let data = Data((line + "\n").utf8)
        if let h = FileHandle(forWritingAtPath: journalPath) {
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: data)
            try h.synchronize()
        } else {
            try data.write(to: URL(fileURLWithPath: journalPath), options: .atomic)
        }
    }

    /// The sets' `create` lines only (types and options, no members): cheap to parse
    /// whatever the number of members.
    func headers() throws -> IpsetScript {
        try IpsetParser.parse(scan(lookingFor: nil).creates, file: snapshotPath)
    }

    /// Whether `member` (in `ipset save` spelling) is in `set`: the journal's last word on
    /// it, else the snapshot's line.
    func contains(set: String, member: String) -> Bool {
        journalSays(set: set, member: member) ?? scan(lookingFor: "add \(set) \(member)").found
    }

    /// Members the journal added to `set` minus those it deleted.
    func journalNetAdds(set: String) -> Int {
        guard let journal = store.read(journalPath) else { return 0 }
        var n = 0
        for line in journal.split(separator: "\n") {
            if line.hasPrefix("add \(set) ") { n += 1 } else if line.hasPrefix("del \(set) ") { n -= 1 }
        }
        return n
    }

    /// The journal's last word on a member, if it has one.
    func journalSays(set: String, member: String) -> Bool? {
        let add = "add \(set) \(member)", del = "del \(set) \(member)"
        guard let journal = store.read(journalPath) else { return nil }
        for line in journal.split(separator: "\n").reversed() {
            if line == add { return true }
            if line == del { return false }
        }
        return nil
    }

    /// One pass over the snapshot, memory-mapped and never copied: its `create` lines, and
    /// whether `line` occurs as a whole line. A live add reads a 100,000-member snapshot in
    /// about a millisecond this way.
    func scan(lookingFor line: String?, countMembersOf set: String? = nil) -> (creates: String, found: Bool, members: Int) {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: snapshotPath), options: .alwaysMapped) else { return ("", false, 0) }
        let needle = line.map { Array($0.utf8) } ?? []
        let prefix = set.map { Array("add \($0) ".utf8) } ?? []
        var creates = "", found = false, members = 0
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let n = raw.count
            var i = 0
            while i < n {
                let end: Int
                if let p = memchr(base + i, 10, n - i) {
                    end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(p))
                } else {
                    end = n
                }
                let len = end - i
                if len > 7, base[i] == 0x63 /* c */, memcmp(base + i, "create ", 7) == 0 {
                    creates += String(decoding: UnsafeBufferPointer(start: base + i, count: len), as: UTF8.self) + "\n"
                } else {
                    if !prefix.isEmpty, len > prefix.count, memcmp(base + i, prefix, prefix.count) == 0 { members += 1 }
                    if !found, len == needle.count, len > 0, memcmp(base + i, needle, len) == 0 { found = true }
                }
                i = end + 1
            }
        }
        return (creates, found, members)
    }
}
