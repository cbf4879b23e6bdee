import ArgumentParser
import Compiler
import Foundation
import IptParse
import Verifier

/// `ebpf-iptables migrate`: what moving this ruleset to XDP would change, rule by rule.
/// Read-only: it never attaches anything to an interface.
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report, rule by rule, what running a ruleset in XDP would change.")

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json, markdown, html }

    @Option(name: .customLong("ipset"), help: "ipset save file with the sets the rules use.")
    var ipsetFiles: [String] = []

    @Option(help: "Interface the ruleset would run on (decides -i tests).")
    var interface = "eth0"

    @Option(help: "text, json, markdown or html.")
    var format: OutputFormat = .text

    @Flag(help: "Compile REJECT as DROP, as `restore --reject-as-drop` would.")
    var rejectAsDrop = false

    @Flag(help: "No effect any more: every table stays in the kernel (kept for scripts that pass it).")
    var inputOnly = false

    @Flag(help: "Fail unless XDP can decide filter INPUT alone, as `restore --xdp-only` would.")
    var xdpOnly = false

    @Flag(help: "Prove it on packets: XDP and the kernel together decide generated probes as the kernel's iptables alone does (root).")
    var verify = false

    @Option(help: "Probe packets for --verify.")
    var probes = 200

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "An ip6tables ruleset: report XDP's IPv6 share (json only).")
    var ipv6 = false

    @Argument(help: "Ruleset file (standard input when absent).")
    var file: String?

    func run() throws {
        var input = try RulesetInput.parse([])
        input.ipsetFiles = ipsetFiles
        input.file = file
        input.ipv6 = ipv6
        let (ruleset, sets) = try RulesetLoading.parseWithSets(input)
        if ipv6 {
            let r6 = Compiler6.compile(ruleset, sets: sets, interface: interface)
            FileHandle.standardOutput.write(Data(r6.shareJSON(source: file ?? "<stdin>").utf8))
            return
        }
        let result = Compiler.compile(ruleset, sets: sets, interface: interface,
                                      options: CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: xdpOnly))
        var report = MigrationReport(source: file ?? "<stdin>", ruleset: ruleset, result: result)
        if verify {
            // The two layers together, whatever runs where: every probe must be decided as the
            // kernel alone decides it (XDP may only drop what the kernel drops, by the same rule).
            guard result.tables.fallback.count <= Int(Compiler.maxFallback) else {
                FileHandle.standardOutput.write(Data(report.text().utf8))
                Diagnostics.fail("migrate --verify: the fallback list is longer than the XDP program holds; nothing to verify")
                throw ExitCode(1)
            }
            let setsText = try ipsetFiles.map { try RulesetLoading.read($0).text }.joined(separator: "\n")
            do {
                report.verification = try Verification.run(ruleset: ruleset, setsText: ipsetFiles.isEmpty ? nil : setsText,
                                                           compiled: result, interface: interface, probes: probes)
            } catch {
                Diagnostics.fail(String(describing: error))
                throw ExitCode(1)
            }
        }
        let out: String
        switch format {
        case .text: out = report.text()
        case .json: out = report.json()
        case .markdown: out = report.markdown()
        case .html: out = report.html()
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
    }
}
