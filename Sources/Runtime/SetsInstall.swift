import Foundation
import IptParse

/// How the kernel's sets become what `--ipset` files say, set by set and never half: every
/// set of the files is first filled under a temporary name (a failure there changes nothing
/// anyone sees), then swapped in for the set of that name, or renamed to it when there is
/// none (rules keep matching the old members until the swap). The old contents stay under
/// the temporary names until the rules went in, so a refused restore can swap them back.
/// Sets the files do not name are left alone.
struct SetsInstall {
    enum Problem: Error, Equatable, CustomStringConvertible {
        case inUseWithOtherType(name: String, kernel: String, file: String)
        var description: String {
            switch self {
            case .inUseWithOtherType(let n, let k, let f):
                "set \(n) exists in the kernel as \(k) and is in use; the file defines it as \(f) (destroy or rename it first)"
            }
        }
    }

    /// One set's way in: ipset command lines, each run on its own so that a failure half-way
    /// leaves us knowing exactly what to undo.
    struct Step: Equatable {
        var commit: [[String]]
        var rollback: [[String]]
        var cleanup: [[String]]
    }

    /// `ipset restore` text creating and filling the temporary sets.
    var fill = ""
    var steps: [Step] = []
    /// The sets' definitions as they will be: what a dry run needs for iptables to accept
    /// rules naming them.
    var headers = ""

    var isEmpty: Bool { fill.isEmpty }

    /// `inUse`: whether a kernel set is referenced (by a rule or a list:set).
    init(_ files: IpsetScript, kernel: IpsetScript?, kernelText: String, inUse: (String) -> Bool) throws(Problem) {
        let named = Set(files.sets.map(\.name))
        headers = kernelText.split(separator: "\n").filter { line in
            line.hasPrefix("create ") && !named.contains(String(line.split(separator: " ")[1]))
        }.map { $0 + "\n" }.joined()
        for (i, s) in files.sets.enumerated() {
            var temp = s
            temp.create.name = Self.tempName(i)
            fill += IpsetPrinter.save(IpsetScript(sets: [temp]))
            headers += IpsetPrinter.createLine(s.create) + "\n"
            guard let old = kernel?.set(named: s.name) else {
                steps.append(Step(commit: [["rename", temp.name, s.name]], rollback: [["destroy", s.name]], cleanup: []))
                continue
            }
            if old.create.type == s.create.type && old.create.family == s.create.family {
                steps.append(Step(commit: [["swap", s.name, temp.name]], rollback: [["swap", s.name, temp.name]],
                                  cleanup: [["destroy", temp.name]]))
            } else if inUse(s.name) {
                throw .inUseWithOtherType(name: s.name, kernel: old.create.type.rawValue, file: s.create.type.rawValue)
            } else {
                // Nothing uses the old set, and it cannot be kept under another type.
                steps.append(Step(commit: [["destroy", s.name], ["rename", temp.name, s.name]], rollback: [], cleanup: []))
            }
        }
        temporary = files.sets.indices.map(Self.tempName)
        finalNames = files.sets.map(\.name)
    }

    var finalNames: [String] = []

    /// A kernel message about the temporary sets, in the names the files gave them.
    func inFileNames(_ message: String) -> String {
        var m = message
        for (t, n) in zip(temporary, finalNames).reversed() { m = m.replacingOccurrences(of: t, with: n) }
        return m
    }

    /// The temporary names this install fills.
    var temporary: [String] = []

    /// Whether a set name is one of ours (left over by a restore that was killed half-way).
    static func isTemporary(_ name: String) -> Bool { name.hasPrefix("ebpf-iptables-tmp-") }

    /// At most 31 characters, as ipset allows; unlikely to be a user's.
    static func tempName(_ i: Int) -> String { "ebpf-iptables-tmp-\(i)" }
}
