import Compiler
import IptParse

/// The kernel layer as XDP is compiled from it: its ruleset as `iptables-save` prints it
/// and its sets as `ipset save` prints them, each with what our parsers make of it (nil
/// when they cannot read it: XDP then passes everything rather than guess).
public struct KernelView: Equatable, Sendable {
    public var rulesText: String
    public var ruleset: Ruleset?
    public var setsText: String
    public var sets: IpsetScript?

    public init(rulesText: String, ruleset: Ruleset?, setsText: String, sets: IpsetScript?) {
        self.rulesText = rulesText
        self.ruleset = ruleset
        self.setsText = setsText
        self.sets = sets
    }

    /// Reads `iptables-save` text (comments and chain counters are not part of a ruleset).
    public static func rules(_ text: String, family: Family) -> (text: String, ruleset: Ruleset?) {
        let normal = KernelText.normalized(text)
        let ruleset = try? RestoreParser.parse(normal, options: .init(family: family, file: "<iptables-save>"))
        // A chain named like a target: the text does not say what the kernel holds (a jump
        // or the target), so nothing is read from it and XDP passes everything.
        if ruleset?.savesAmbiguously == true { return (normal, nil) }
        return (normal, ruleset)
    }

    public static func sets(_ text: String) -> IpsetScript? {
        try? IpsetParser.parse(text, file: "<ipset save>")
    }
}

/// The text of `iptables-save` as we compare and keep it.
public enum KernelText {
    /// Without comment lines (they carry dates) and with every chain's counters as [0:0]
    /// (they move with traffic; counters are read separately).
    public static func normalized(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") { continue }
            if line.hasPrefix(":"), let open = line.lastIndex(of: "["), line.hasSuffix("]") {
                out += line[..<open] + "[0:0]\n"
            } else if !line.isEmpty {
                out += line + "\n"
            }
        }
        return out
    }
}

extension CompiledTables {
    /// Tables that send every packet to the kernel: what XDP runs when the kernel's ruleset
    /// is something our parser cannot read.
    public static var passEverything: CompiledTables {
        var t = CompiledTables()
        t.verdicts = [.kernel]
        t.catchAll = 0
        return t
    }
}
