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
