import Foundation

/// The node's durable record of what it applied (`fleet-applied` in the state directory):
/// `S <seq>` after a full load of the database's sets at that seq, `A <seq>` after each change
/// applied, appended once the change is in both layers. The applied seq is the largest; a
/// change applied a second time (only possible when the agent dies between applying it and
/// writing its line) is counted and logged, so tests can assert it never happened.
final class FleetJournal: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private(set) var applied: Int64?
    private var seen: Set<Int64> = []
    private(set) var reapplied = 0

    init(path: String) {
        self.path = path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let seq = Int64(parts[1]) else { continue }
            if parts[0] == "A" {
                if !seen.insert(seq).inserted { reapplied += 1 }
            } else if parts[0] == "S" {
                // A full load replaces what was applied one by one.
                seen.removeAll()
                applied = nil
            }
            applied = max(applied ?? seq, seq)
        }
    }

    /// Records change `seq` applied; returns false when it had been applied before.
    @discardableResult
    func recordApplied(_ seq: Int64) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let first = seen.insert(seq).inserted
        if !first { reapplied += 1 }
        append("A \(seq)\n")
        applied = max(applied ?? seq, seq)
        return first
    }

    /// Records a full load of the database's sets as of `seq`.
    func recordSnapshot(_ seq: Int64) {
        lock.lock(); defer { lock.unlock() }
        seen.removeAll()
        append("S \(seq)\n")
        applied = seq
    }

    private func append(_ line: String) {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { return }
        defer { try? h.close() }
        _ = try? h.seekToEnd()
        try? h.write(contentsOf: Data(line.utf8))
    }
}
