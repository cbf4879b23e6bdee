import Foundation

/// The sets a node in a group followed at its last catch-up (`fleet-followed` in the state
/// directory, one name a line), kept across restarts so a node that was down knows which sets
/// were its own: a `destroy` logged while it was away is applied only to a set it followed
/// (the destroy also removes the set's `group_sets` rows, so the group no longer names it),
/// and only the sets given to the group since are loaded whole.
struct FleetFollowedSets {
    let path: String

    /// nil when never written (first start, or a node without a group so far).
    func read() -> Set<String>? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Set(text.split(separator: "\n").map(String.init))
    }

    /// Replaces the file whole (write to a temporary name, then rename: never half written).
    func write(_ names: Set<String>) {
        let tmp = path + ".tmp"
        let text = names.sorted().map { $0 + "\n" }.joined()
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else { return }
        _ = rename(tmp, path)
    }
}
