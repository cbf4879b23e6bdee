import ArgumentParser
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

    @Flag(name: [.customShort("n"), .customLong("noflush")], help: "Edit the running tables instead of replacing them.")
    var noflush = false

    func run() throws {
        _ = try RulesetLoading.parse(input)
        if !test {
            // Installing into XDP is the Compiler and Loader's job; until they land, refuse
            // rather than pretend: nothing has been applied.
            Diagnostics.fail("restore: installing into XDP is not available in this build; nothing was applied (use --test to check a ruleset)")
            throw ExitCode(1)
        }
    }
}
