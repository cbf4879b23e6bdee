/// `ipset save` text read as the kernel printed it: each set's create words and its members.
enum IpsetSave {
    struct SavedSet {
        var name: String
        var type: String
        var options: [String]
        var members: [String]
    }

    static func parse(_ text: String) -> [SavedSet] {
        var sets: [SavedSet] = []
        var index: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count >= 2 else { continue }
            if words[0] == "create", words.count >= 3 {
                index[words[1]] = sets.count
                sets.append(SavedSet(name: words[1], type: words[2], options: Array(words.dropFirst(3)), members: []))
            } else if words[0] == "add", let i = index[words[1]] {
                sets[i].members.append(words.dropFirst(2).joined(separator: " "))
            }
        }
        return sets
    }
}
