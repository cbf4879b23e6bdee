import ArgumentParser
import Compiler
import Foundation
import IptParse
import Runtime

/// `ebpf-iptables-restore [FILE]` (also `ebpf-iptables restore`, `ebpf-ip6tables-restore`):
/// the whole ruleset into the kernel with its own iptables-restore, after a dry run; XDP in
/// front drops what that ruleset drops for certain.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install a ruleset (every table) in the kernel, with XDP in front of it.")

    @OptionGroup var input: RulesetInput

    @Flag(name: [.customShort("t"), .customLong("test")], help: "Check only (our parser and a dry run of the kernel's); apply nothing.")
    var test = false

    @Flag(name: [.customShort("n"), .customLong("noflush")], help: "Add to the running ruleset instead of replacing its tables.")
    var noflush = false

    @Flag(name: [.customShort("c"), .customLong("counters")], help: "Restore the packet and byte counters the file gives.")
    var counters = false

    @Flag(help: "XDP drops REJECTed packets silently (no ICMP error or TCP reset is sent for them).")
    var rejectAsDrop = false

    @Flag(help: "XDP alone decides filter INPUT (it must compile whole); the kernel's INPUT is left empty.")
    var xdpOnly = false

    @Flag(help: "Accepted for compatibility; every table now goes to the kernel.")
    var inputOnly = false

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Accepted, as iptables-restore.")
    var verbose = false

    @Option(name: [.customShort("w"), .customLong("wait")], help: "Accepted with or without seconds, as iptables-restore (every command waits for the state lock, bounded).")
    var wait: String?

    @Option(name: [.customShort("W"), .customLong("wait-interval")], help: "Accepted with or without microseconds, as iptables-restore.")
    var waitInterval: String?

    @Option(name: [.customShort("M"), .customLong("modprobe")], help: "Accepted, as iptables-restore (the kernel's tools load what they need).")
    var modprobe: String?

    @Option(name: [.customShort("T"), .customLong("table")], help: "Restore only this table of the input, as iptables-restore -T.")
    var table: String?

    /// Set by the plain names `iptables-restore`/`ip6tables-restore` (Main): iptables-restore's
    /// own words for every refusal.
    @Flag(help: .hidden)
    var kernelWords = false

    func run() throws {
        var (text, name) = try RulesetLoading.read(input.file)
        if let table { text = Self.only(table: table, of: text) }
        var setFiles: [(name: String, text: String)] = []
        for f in input.ipsetFiles {
            let (t, n) = try RulesetLoading.read(f)
            setFiles.append((name: n, text: t))
        }
        var req = RestoreRequest(family: input.family, text: text, source: name, setFiles: setFiles)
        req.noflush = noflush
        req.counters = counters
        req.test = test
        req.kernelWords = kernelWords ? true : nil
        req.options = CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: xdpOnly)
        // Through CLI.status: a busy lock is exit 4 with our message, as for every other command.
        let status = CLI.run(.restore(req))
        if status != 0 { throw ExitCode(status) }
    }
}

extension Restore {
    /// `-T TABLE`: the other tables' lines become blank lines, so diagnostics keep the
    /// input's line numbers.
    static func only(table: String, of text: String) -> String {
        var keep = false
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            let word = line.trimmingCharacters(in: .whitespaces)
            if word.hasPrefix("*") { keep = word.dropFirst() == Substring(table) }
            defer { if word == "COMMIT" { keep = false } }
            return keep ? line : ""
        }.joined(separator: "\n")
    }

    /// iptables-restore takes `-w`/`--wait` and `-W`/`--wait-interval` with or without a
    /// value in the next word (xtables-restore ignores both); ArgumentParser wants a value,
    /// so those without one get an empty one here.
    static func waitOptionsValued(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            out.append(a)
            if ["-w", "--wait", "-W", "--wait-interval"].contains(a) {
                let next = i + 1 < args.count ? args[i + 1] : nil
                if next == nil || next?.hasPrefix("-") == true || next?.hasPrefix("!") == true { out.append("") }
            }
            i += 1
        }
        return out
    }
}
