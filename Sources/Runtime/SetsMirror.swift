import Foundation
import IptParse

/// Our copy of the kernel's sets, as XDP was last compiled from them: `kernel.ipset` (an
/// `ipset save` snapshot) and its journal (the single `add`/`del` lines applied since). The
/// kernel's sets are the truth; this copy lets a single-member edit find the set's type and
/// whether other sets hold the member without reading 100,000 members back from the kernel.
/// Every whole change replaces it with what the kernel printed.
struct SetsMirror {
    let store: StateStore

    var snapshotPath: String { store.paths.kernelSetsFile }
    var journalPath: String { store.paths.kernelSetsJournal }

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

    /// Whether `word` occurs anywhere in the copy (snapshot or journal): one mapped pass.
    func mentions(_ word: String) -> Bool {
        let needle = Array(word.utf8)
        for path in [snapshotPath, journalPath] {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { continue }
            let found = data.withUnsafeBytes { raw -> Bool in
                // memmem is a GNU extension Swift's Glibc module does not show: memchr for the
                // first byte, memcmp for the rest.
                guard let base = raw.baseAddress, let first = needle.first, raw.count >= needle.count else { return false }
                var i = 0
                while i + needle.count <= raw.count {
                    guard let p = memchr(base + i, Int32(first), raw.count - needle.count + 1 - i) else { return false }
                    let at = base.distance(to: UnsafeRawPointer(p))
                    if memcmp(base + at, needle, needle.count) == 0 { return true }
                    i = at + 1
                }
                return false
            }
            if found { return true }
        }
        return false
    }

    /// After a new snapshot was written.
    func dropJournal() {
        try? FileManager.default.removeItem(atPath: journalPath)
    }

    /// The kernel's `ipset save` text becomes the snapshot.
    func replace(with text: String) throws {
        if store.read(snapshotPath) != text { try store.write(text, to: snapshotPath) }
        dropJournal()
    }

    /// Whether the copy holds the sets the kernel printed: the same definitions and
    /// members, whatever their order and however much of a timeout is left (and whatever
    /// a set's packet counters say).
    func matches(_ text: String) -> Bool {
        guard let mine = fullText() else { return Self.fingerprint(text).isEmpty }
        return Self.fingerprint(mine) == Self.fingerprint(text)
    }

    /// `ipset save` text as a comparable value: per line, without the values that move on
    /// their own; journal `del` lines remove what an earlier line added.
    static func fingerprint(_ text: String) -> Set<String> {
        var out: Set<String> = []
        // Members of a set with a timeout come and go by themselves: only its definition counts.
        var expiring: Set<Substring> = []
        for line in text.split(separator: "\n") {
            var words = line.split(separator: " ")
            guard let verb = words.first else { continue }
            if verb == "create", words.count > 1, words.contains("timeout") { expiring.insert(words[1]) }
            if verb != "create", words.count > 1, expiring.contains(words[1]) { continue }
            var i = 0
            while i < words.count {
                if ["timeout", "packets", "bytes"].contains(words[i]), i + 1 < words.count, verb != "create" {
                    words.removeSubrange(i...(i + 1))
                } else {
                    i += 1
                }
            }
            let key = words.dropFirst().joined(separator: " ")
            switch verb {
            case "create": out.insert("create " + key)
            case "add": out.insert("add " + key)
            case "del": out.remove("add " + key)
            default: continue
            }
        }
        return out
    }

    /// Appends with write(2) only, no fsync: the line survives a kill -9 (the page cache
    /// outlives the process). A power cut may lose it, but a power cut also empties what it
    /// mirrors (the kernel's sets, the pinned program): the next start attaches and
    /// installs whole, which replaces this copy with what the kernel then holds.
    func append(_ line: String) throws {
        let data = Data((line + "\n").utf8)
        if let h = FileHandle(forWritingAtPath: journalPath) {
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: data)
        } else {
            try data.write(to: URL(fileURLWithPath: journalPath), options: .atomic)
        }
    }

    /// The sets' `create` lines only (types and options, no members): cheap to parse
    /// whatever the number of members.
    /// Kept in memory (the agent runs many commands) while the snapshot file is the one
    /// read: same inode, size, modification and change times. The snapshot is only ever
    /// replaced whole (a new file renamed over it), which gives it a new inode.
    func headers() throws -> IpsetScript {
        let key = SnapshotIdentity(path: snapshotPath)
        if let key, let kept = SetsMirror.keptHeaders.value(for: key) { return kept }
        let parsed = try IpsetParser.parse(scan(lookingFor: nil).creates, file: snapshotPath)
        if let key { SetsMirror.keptHeaders.keep(parsed, for: key) }
        return parsed
    }

    static let keptHeaders = KeptHeaders()

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


/// What tells one snapshot file from another without reading it.
struct SnapshotIdentity: Equatable {
    let path: String
    let device: UInt64, inode: UInt64, size: Int64
    let modified: timespec, changed: timespec

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.path = path
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        modified = st.st_mtim; changed = st.st_ctim
    }

    static func == (a: SnapshotIdentity, b: SnapshotIdentity) -> Bool {
        a.path == b.path && a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
            && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }
}

/// The last snapshot's parsed `create` lines, per process (one entry: one state directory
/// per agent; another path simply replaces it).
final class KeptHeaders: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: (SnapshotIdentity, IpsetScript)?

    func value(for key: SnapshotIdentity) -> IpsetScript? {
        lock.withLock { kept.flatMap { $0.0 == key ? $0.1 : nil } }
    }

    func keep(_ script: IpsetScript, for key: SnapshotIdentity) {
        lock.withLock { kept = (key, script) }
    }
}
