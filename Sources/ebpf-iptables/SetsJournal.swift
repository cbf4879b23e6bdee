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
        guard let data = FileManager.default.contents(atPath: snapshotPath) else { return IpsetScript() }
        let bytes = [UInt8](data)
        var creates = ""
        // Member lines are the bulk; only lines that begin with "create " are kept.
        for (start, end) in Self.lines(bytes) where end - start > 7 && bytes[start] == 0x63 /* c */ {
            let line = String(decoding: bytes[start..<end], as: UTF8.self)
            if line.hasPrefix("create ") { creates += line + "\n" }
        }
        return try IpsetParser.parse(creates, file: snapshotPath)
    }

    /// Whether `member` (in `ipset save` spelling) is in `set`: the journal's last word on
    /// it, else the snapshot's line.
    func contains(set: String, member: String) -> Bool {
        let add = "add \(set) \(member)", del = "del \(set) \(member)"
        if let journal = store.read(journalPath) {
            for line in journal.split(separator: "\n").reversed() {
                if line == add { return true }
                if line == del { return false }
            }
        }
        guard let data = FileManager.default.contents(atPath: snapshotPath) else { return false }
        let bytes = [UInt8](data), needle = [UInt8](add.utf8)
        for (start, end) in Self.lines(bytes) where end - start == needle.count && bytes[start] == 0x61 /* a */ {
            if bytes[start..<end].elementsEqual(needle) { return true }
        }
        return false
    }

    /// (start, end) of every line, found with memchr.
    static func lines(_ bytes: [UInt8]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        bytes.withUnsafeBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            var i = 0
            while i < buf.count {
                let end: Int
                if let p = memchr(base + i, 10, buf.count - i) {
                    end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(p))
                } else {
                    end = buf.count
                }
                out.append((i, end))
                i = end + 1
            }
        }
        return out
    }
}
