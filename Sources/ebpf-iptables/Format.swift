import ArgumentParser
import Compiler
import Foundation
import IptParse

/// `ebpf-iptables format [FILE]`: the kernel's canonical form of a ruleset.
struct Format: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a ruleset the way the kernel's iptables-save would print it back.")

    @OptionGroup var input: RulesetInput

    func run() throws {
        let ruleset = try RulesetLoading.parse(input)
        FileHandle.standardOutput.write(Data(SavePrinter.save(ruleset).utf8))
    }
}

/// `ebpf-iptables restore [--test] [FILE]`.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a ruleset (--test) or install it.")

    @OptionGroup var input: RulesetInput

    @Flag(name: [.customShort("t"), .customLong("test")], help: "Parse and check only; apply nothing.")
    var test = false

    @Flag(name: [.customShort("n"), .customLong("noflush")], help: "Edit the running ruleset instead of replacing it.")
    var noflush = false

    @Flag(help: "Compile REJECT as DROP (no ICMP or RST is sent); the report names each rule.")
    var rejectAsDrop = false

    // Kept for scripts that pass it: today's restore is XDP alone (xdpOnly), which checks
    // every table itself (see Compiler.xdpOnlyBlockers).
    @Flag(help: "Install the INPUT part even when other chains and tables have rules (they stay with iptables).")
    var inputOnly = false

    func run() throws {
        let store = StateStore(paths: .current)
        // One hold of the lock from reading the state to writing it: a live edit in between
        // (a journaled `ebpf-ipset add`, an `-A` on the --noflush base) would otherwise be lost.
        try store.locked {
            try LiveCommit.compactSets(store)
            var input = self.input
            // Sets restored earlier with `ebpf-ipset restore` are known to every later restore.
            if input.ipsetFiles.isEmpty, FileManager.default.fileExists(atPath: store.paths.setsFile) {
                input.ipsetFiles = [store.paths.setsFile]
            }
            var base: Ruleset? = nil
            if noflush {
                base = try store.read(store.paths.rulesFile).map { try RestoreParser.parse($0, options: .init(family: input.family, file: store.paths.rulesFile)) }
                    ?? Ruleset(family: input.family)
            }
            let (ruleset, sets) = try RulesetLoading.parseWithSets(input, base: base)
            if test { return }
            try Installer.install(ruleset, sets: sets, source: input.file ?? "<stdin>",
                                  options: CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: true), store: store)
        }
    }
}
