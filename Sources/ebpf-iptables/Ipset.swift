import ArgumentParser
import Compiler
import Foundation
import IptParse

/// `ebpf-ipset restore [FILE]` (also `ebpf-iptables ipset restore`): the sets a ruleset
/// references. They are kept in the state directory; when a ruleset is running, it is
/// compiled again with the new members and swapped in atomically.
struct IpsetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipset", abstract: "Manage the sets rules match against (ipset's syntax).",
        subcommands: [IpsetRestore.self, IpsetSave.self])
}

struct IpsetRestore: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Load sets from 'ipset save' text.")

    @Argument(help: "ipset save file (standard input when absent).")
    var file: String?

    @Flag(help: "Compile REJECT as DROP when recompiling the running ruleset.")
    var rejectAsDrop = false

    @Flag(help: "Recompile only the INPUT part of the running ruleset.")
    var inputOnly = false

    func run() throws {
        let (text, name) = try RulesetLoading.read(file)
        let sets: IpsetScript
        do {
            sets = try IpsetParser.parse(text, file: name)
        } catch {
            Diagnostics.fail(String(describing: error))
            throw ExitCode(2)
        }
        let store = StateStore(paths: .current)
        try store.locked {
            // Sets not named here stay as they were, as with ipset restore.
            let old: IpsetScript? = try LiveCommit.currentSets(store)
            let merged = IpsetScript(sets: (old?.sets ?? []).filter { o in !sets.sets.contains { $0.name == o.name } } + sets.sets)
            if let rules = store.read(store.paths.rulesFile), store.attachment != nil {
                let ruleset = try RestoreParser.parse(rules, options: .init(file: store.paths.rulesFile))
                try Installer.install(ruleset, sets: merged, source: store.paths.rulesFile,
                                      options: CompileOptions(rejectAsDrop: rejectAsDrop, inputOnly: inputOnly), store: store)
            } else {
                try store.write(IpsetPrinter.save(merged), to: store.paths.setsFile)
            }
        }
    }
}

struct IpsetSave: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "save", abstract: "Print the sets in 'ipset save' format.")

    func run() throws {
        let store = StateStore(paths: .current)
        try store.locked { try LiveCommit.compactSets(store) }
        print(store.read(store.paths.setsFile) ?? "", terminator: "")
    }
}
