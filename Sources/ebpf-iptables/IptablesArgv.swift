import ArgumentParser
import Foundation
import IptParse

/// `ebpf-iptables -A INPUT ...`: iptables' own command line. The words go to IptParse's
/// command parser, the single authority on the syntax; edits go through `Table.apply`
/// and then `LiveCommit`, listings through ListPrinter. Everything runs under the state
/// lock, so `-w` is always honoured. Output, messages and exit status are iptables'
/// (see IptablesMessages).
enum IptablesArgv {
    typealias Refusal = IptablesMessages.Refusal

    static func run(_ args: [String]) -> Int32 {
        var family: Family = .ipv4
        var words = args
        if let i = words.firstIndex(of: "-6") ?? words.firstIndex(of: "--ipv6") {
            family = .ipv6
            words.remove(at: i)
        }
        // iptables lets -Z ride along with -L or -S (list, then zero); our parser takes one command.
        var zeroAfter = false
        let listing = words.contains { ["-L", "--list", "-S", "--list-rules"].contains($0) }
        if listing, let z = words.firstIndex(where: { $0 == "-Z" || $0 == "--zero" }) {
            words.remove(at: z)
            zeroAfter = true
        }
        if words.contains(where: { $0 == "-W" || $0.hasPrefix("--wait-interval") }) {
            Diagnostics.fail("Ignoring deprecated --wait-interval option.")
        }
        let store = StateStore(paths: .current)
        do {
            let out = try store.locked { () throws -> String in
                try execute(words, family: family, zeroAfter: zeroAfter, store: store)
            }
            FileHandle.standardOutput.write(Data(out.utf8))
            return 0
        } catch let r as Refusal {
            FileHandle.standardError.write(Data(r.text.utf8))
            return r.status
        } catch let e as ExitCode {
            return e.rawValue
        } catch {
            Diagnostics.fail(IptablesMessages.prefix + String(describing: error))
            return 1
        }
    }

    static func execute(_ args: [String], family: Family, zeroAfter: Bool, store: StateStore) throws -> String {
        // iptables-nft creates a table on its first edit, and iptables-save shows only those:
        // with no state yet we start from no table at all (a listing shows the built-in chains).
        var ruleset = try LiveCommit.stateRuleset(store) ?? Ruleset(family: .ipv4)
        let previous = ruleset
        // Set definitions only (the create lines), read once: the parser checks set names,
        // an appended rule compiles against them.
        let setHeaders = try? SetsJournal(store: store).headers()
        let cmd = try parse(args, family: family, ruleset: ruleset, sets: setHeaders)
        guard family == .ipv4 else {
            throw Refusal(text: "ebpf-ip6tables: IPv6 rules are not kept yet; nothing was applied\n", status: 1)
        }
        var table = ruleset.table(cmd.table) ?? Table(name: cmd.table)
        switch cmd.kind {
        case .list, .listRules:
            if let c = cmd.chain, table.chain(c) == nil {
                throw Refusal(text: IptablesMessages.prefix + "chain `\(c)' in table `\(cmd.table)' is incompatible, use 'nft' tool.\n", status: 1)
            }
            // Only filter runs in XDP; the other tables' counters stay 0.
            let counters = cmd.verbose && cmd.table == "filter" ? LiveCounters.source(ruleset, store: store) : .zero
            var out: String
            if cmd.kind == .listRules {
                out = ListRulesPrinter.rules(table, family: family, chain: cmd.chain, ruleNumber: cmd.ruleNumber,
                                             verbose: cmd.verbose, counters: counters)
            } else {
                let o = ListPrinter.Options(numeric: cmd.numeric, verbose: cmd.verbose, exact: cmd.exact, lineNumbers: cmd.lineNumbers)
                do {
                    out = try ListPrinter.list(table, chain: cmd.chain, ruleNumber: cmd.ruleNumber, options: o,
                                               counters: counters, resolver: SystemNameResolver())
                } catch {
                    throw Refusal(text: "ebpf-iptables: cannot list table \(cmd.table) the way iptables -L would: \(error.what) "
                                      + "has no -L rendering here (iptables -S shows it); nothing printed\n", status: 1)
                }
            }
            // Zeroing changes no rule: the data plane's counters are not reset (see the README).
            if zeroAfter && cmd.verbose { out += chainMessages("Zeroing", table, cmd.chain) }
            return out
        case .check, .zero:
            try apply(cmd, to: &table)
            return verboseLines(cmd, before: table, after: table)
        default:
            let before = table
            try apply(cmd, to: &table)
            ruleset.replaceTable(table)
            try LiveCommit.rules(ruleset, previous: previous, setHeaders: setHeaders, store: store)
            return verboseLines(cmd, before: before, after: table)
        }
    }

    /// What iptables -v says after a successful command: the rules it touched, or the chains.
    static func verboseLines(_ cmd: IptCommand, before: Table, after: Table) -> String {
        guard cmd.verbose else { return "" }
        switch cmd.kind {
        case .append, .insert, .replace, .check, .delete:
            if cmd.kind == .delete && cmd.ruleNumber != nil { return "" }
            var out = ""
            for r in cmd.rules {
                guard let line = try? ListPrinter.echo(r, resolver: NumericResolver()) else {
                    Diagnostics.fail("ebpf-iptables: done, but the rule has no -v rendering here")
                    return out
                }
                out += line
            }
            return out
        case .flush:
            return chainMessages("Flushing", before, cmd.chain)
        case .zero:
            return cmd.ruleNumber == nil ? chainMessages("Zeroing", before, cmd.chain) : ""
        case .deleteChain:
            let gone = SavePrinter.chainOrder(before).map(\.name).filter { after.chain($0) == nil }
            return gone.map { "Deleting chain `\($0)'\n" }.joined()
        default:
            return ""
        }
    }

    static func chainMessages(_ verb: String, _ table: Table, _ chain: String?) -> String {
        let names = chain.map { [$0] } ?? SavePrinter.chainOrder(table).map(\.name)
        return names.map { "\(verb) chain `\($0)'\n" }.joined()
    }

    static func apply(_ cmd: IptCommand, to table: inout Table) throws {
        do {
            try table.apply(cmd)
        } catch {
            throw IptablesMessages.refusal(for: error, command: cmd)
        }
    }

    /// Parses with what iptables knows at this moment: the user chains (for `-j NAME`) and
    /// the sets (for `--match-set`), then adds the checks iptables makes on the whole line.
    static func parse(_ args: [String], family: Family, ruleset: Ruleset, sets setHeaders: IpsetScript?) throws -> IptCommand {
        let chains = Set(ruleset.tables.flatMap { t in t.chains.filter { !$0.isBuiltin }.map { t.name + " " + $0.name } })
        let sets = Set((setHeaders?.sets ?? []).map(\.create.name))
        let context = CommandContext(family: family, chainExists: { chains.contains($0 + " " + $1) },
                                     setExists: { sets.contains($0) })
        let (source, ws) = WordSource.argv(args)
        let parsed: CommandParser.Parsed
        do {
            parsed = try CommandParser.parse(ws, source: source, context: context)
        } catch {
            let kind = args.lazy.compactMap { IptCommand.Kind(rawValue: IptablesMessages.short($0)) }.first
            let chain = args.firstIndex { IptCommand.Kind(rawValue: IptablesMessages.short($0)) != nil }
                .flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
            throw IptablesMessages.refusal(for: error, words: ws, kind: kind, chain: chain)
        }
        guard case .command(let cmd) = parsed else { throw Refusal(text: "", status: 0) }
        if cmd.kind != .list {
            for (flag, set) in [("-n", cmd.numeric), ("-x", cmd.exact), ("-0", cmd.lineNumbers)] where set {
                throw IptablesMessages.parameter("Illegal option `\(flag)' with this command")
            }
        }
        return cmd
    }
}
