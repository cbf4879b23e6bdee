import ArgumentParser
import Foundation
import IptParse

/// Multi-call entry point: the name we were invoked under picks the tool, as
/// with iptables' own xtables-multi; `ebpf-iptables SUBCOMMAND` reaches the same code.
@main
enum Main {
    static func main() {
        let argv0 = URL(fileURLWithPath: CommandLine.arguments.first ?? "ebpf-iptables").lastPathComponent
        var args = Array(CommandLine.arguments.dropFirst())
        // Also the plain names, for an operator who links them earlier in PATH so that
        // scripts and tools calling `iptables`/`ipset` (fail2ban, ufw) keep XDP in step;
        // the kernel's own tools are then found by full path, never through these links.
        switch argv0 {
        case "ebpf-iptables-restore": args = ["restore"] + args
        case "ebpf-ip6tables-restore": args = ["restore", "-6"] + args
        // Under the plain names a refused file gets iptables-restore's own words (drop-in).
        case "iptables-restore": args = ["restore", "--kernel-words"] + args
        case "ip6tables-restore": args = ["restore", "-6", "--kernel-words"] + args
        case "ebpf-iptables-save", "iptables-save": args = ["save"] + args
        case "ebpf-ip6tables-save", "ip6tables-save": args = ["save", "-6"] + args
        case "ebpf-ip6tables", "ip6tables": exit(IptablesArgv.run(args, family: .ipv6))
        case "ebpf-ipset", "ipset": exit(IpsetCLI.run(args))
        // Under the plain name every word is iptables' own: `iptables --version` must say
        // what the kernel's iptables says (Docker and kube-proxy read it to pick a backend).
        case "iptables": exit(IptablesArgv.run(args, family: .ipv4))
        default: break
        }
        // ipset's argv must reach its parser untouched (`ebpf-iptables ipset -exist add S x`).
        if args.first == "ipset" { exit(IpsetCLI.run(Array(args.dropFirst()))) }
        // iptables' own argv starts with an option: straight to it. Asking ArgumentParser for
        // the subcommand names costs a first round of Swift runtime type lookups, several
        // milliseconds of every live `-A`.
        // `-6` stays in argv: iptables refuses it as iptables does (ebpf-ip6tables is IPv6), and
        // a `-6` that is an option's value (`--comment -6`) must not switch families.
        if let first = args.first, first.hasPrefix("-"), !["--help", "-h", "--version"].contains(first), !parserOwn(first) {
            exit(IptablesArgv.run(args, family: .ipv4))
        }
        let subcommands = EbpfIptables.configuration.subcommands.map { $0._commandName }
        if let first = args.first, subcommands.contains(first) || ["--help", "-h", "help", "--version"].contains(first) || parserOwn(first) || args.isEmpty {
            EbpfIptables.main(first == "restore" ? Restore.waitOptionsValued(args) : args)
        } else {
            exit(IptablesArgv.run(args, family: .ipv4))
        }
    }

    /// ArgumentParser's own words, never iptables': the completion scripts and the manual
    /// pages of the package (scripts/package) come from them.
    static func parserOwn(_ word: String) -> Bool {
        word == "--experimental-dump-help" || word == "---completion" || word.hasPrefix("--generate-completion-script")
    }
}

struct EbpfIptables: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ebpf-iptables",
        abstract: "Run an iptables ruleset in XDP, with iptables' own syntax.",
        discussion: """
            Also answers to iptables' command line (ebpf-iptables -A INPUT ...), and when \
            invoked as ebpf-iptables-restore, ebpf-iptables-save or ebpf-ip6tables* it behaves as those tools.
            """,
        version: "0.1.0",
        subcommands: [Format.self, Restore.self, Migrate.self, Attach.self, Detach.self, Status.self, Save.self, IpsetCommand.self, Serve.self, Apply.self, Recent.self, Db.self, ConsoleCommand.self])
}

/// Options every subcommand that reads a ruleset shares.
struct RulesetInput: ParsableArguments {
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "Read an ip6tables ruleset.")
    var ipv6 = false

    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "Read an iptables ruleset (the default).")
    var ipv4 = false

    @Option(name: .customLong("ipset"), help: "ipset save file defining the sets the rules use; set names are then checked.")
    var ipsetFiles: [String] = []

    @Argument(help: "Ruleset file (standard input when absent).")
    var file: String?

    var family: Family { ipv6 ? .ipv6 : .ipv4 }
}
