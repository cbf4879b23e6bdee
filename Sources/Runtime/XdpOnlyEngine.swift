import Compiler
import Foundation
import IptParse

/// iptables' command line on the filter table in --xdp-only mode, where filter INPUT lives
/// in our state and XDP decides it alone. Our own engine does what iptables would (IptParse's
/// parser and `Table.apply`, iptables' messages from IptablesMessages, listings from
/// ListPrinter) on the whole filter table — the kernel's chains with our INPUT in place;
/// INPUT goes back to our state and XDP (one flip), the other chains back to the kernel
/// (one `iptables-restore` of the filter table, counters kept).
struct XdpOnlyEngine {
    typealias Refusal = IptablesMessages.Refusal

    let firewall: Firewall
    let xdp: XDPLayer
    let attachment: Attachment
    let options: CompileOptions

    func run(_ line: IptablesCommandLine) throws -> ToolResult {
        do {
            return ToolResult(status: 0, stdout: try execute(line))
        } catch let r as Refusal {
            return ToolResult(status: r.status, stderr: r.text)
        }
    }

    func execute(_ line: IptablesCommandLine) throws -> String {
        let store = firewall.store
        let saved = firewall.kernel.save(.ipv4, counters: true)
        guard saved.ok, let kernelRules = try? RestoreParser.parse(saved.stdout, options: .init(file: "<iptables-save>")) else {
            throw Refusal(text: "ebpf-iptables: cannot read the kernel's ruleset\n", status: 1)
        }
        let inputStore = XdpOnlyInput(store: store)
        guard let input = inputStore.chain() else { throw Refusal(text: "ebpf-iptables: --xdp-only state is missing its INPUT chain\n", status: 1) }
        var ruleset = XdpOnlyInput.merged(kernelRules, input: input)
        let headers = try? SetsMirror(store: store).headers()
        let cmd = try parse(line.argv.filter { !["-Z", "--zero"].contains($0) || !line.zeroAfter }, ruleset: ruleset, sets: headers)
        var table = ruleset.table("filter") ?? Table(name: "filter")
        switch cmd.kind {
        case .list, .listRules:
            if let c = cmd.chain, table.chain(c) == nil {
                throw Refusal(text: IptablesMessages.prefix + "chain `\(c)' in table `filter' is incompatible, use 'nft' tool.\n", status: 1)
            }
            let counters = cmd.verbose ? try counterSource(table, ruleset: ruleset) : .zero
            var out: String
            if cmd.kind == .listRules {
                out = ListRulesPrinter.rules(table, family: .ipv4, chain: cmd.chain, ruleNumber: cmd.ruleNumber, verbose: cmd.verbose, counters: counters)
            } else {
                let o = ListPrinter.Options(numeric: cmd.numeric, verbose: cmd.verbose, exact: cmd.exact, lineNumbers: cmd.lineNumbers)
                do {
                    out = try ListPrinter.list(table, chain: cmd.chain, ruleNumber: cmd.ruleNumber, options: o, counters: counters,
                                               resolver: SystemNameResolver())
                } catch {
                    throw Refusal(text: "ebpf-iptables: cannot list table filter the way iptables -L would: \(error.what) has no -L rendering here (iptables -S shows it); nothing printed\n", status: 1)
                }
            }
            if line.zeroAfter {
                // A listing of one rule with -Z zeroes its whole chain (iptables 1.8.9).
                var whole = cmd
                whole.ruleNumber = nil
                try zero(whole, table: table)
                if cmd.verbose { out += Self.chainMessages("Zeroing", table, cmd.chain) }
            }
            return out
        case .check:
            try apply(cmd, to: &table)
            return Self.verboseLines(cmd, before: table, after: table)
        case .zero:
            try apply(cmd, to: &table)
            try zero(cmd, table: table)
            return Self.verboseLines(cmd, before: table, after: table)
        default:
            let before = table
            try apply(cmd, to: &table)
            let rulesetBefore = ruleset
            ruleset.replaceTable(table)
            try commit(ruleset, before: before, after: table, kernelRules: kernelRules,
                       carry: CounterCarry.edit(cmd, before: rulesetBefore, after: ruleset))
            return Self.verboseLines(cmd, before: before, after: table)
        }
    }

    /// INPUT to our state and XDP, the rest of filter to the kernel.
    func commit(_ ruleset: Ruleset, before: Table, after: Table, kernelRules: Ruleset, carry: CounterCarry = .none) throws {
        let sets = try? firewall.readSets().sets
        let result = Compiler.compile(ruleset, sets: sets.flatMap { $0.sets.isEmpty ? nil : $0 }, interface: attachment.interface, options: options)
        guard result.installable else {
            let why = result.xdpOnlyBlockers.map(\.detail).joined(separator: "; ")
            throw Refusal(text: "ebpf-iptables: XDP decides filter INPUT alone (--xdp-only) and cannot decide this: \(why); nothing was applied\n", status: 1)
        }
        let kernelBefore = XdpOnlyInput.kernelPart(Ruleset(family: .ipv4, tables: [before]))
        let kernelAfter = XdpOnlyInput.kernelPart(Ruleset(family: .ipv4, tables: [after]))
        if kernelBefore != kernelAfter {
            let r = firewall.kernel.restore(.ipv4, SavePrinter.save(kernelAfter, counters: true), noflush: false, counters: true)
            guard r.ok else { throw Refusal(text: r.stderr, status: r.status) }
        }
        let prog = XDPProgram(result: result, ruleset: ruleset)
        let live = try xdp.liveGeneration()
        let idle: UInt32 = live.map { 1 - $0 } ?? 0
        // XDP alone decides INPUT: one flip, never a transition (passing would mean accepting).
        try xdp.write(prog.tables, generation: idle)
        try firewall.retireAndActivate(xdp: xdp, generation: idle, program: prog, carry: carry)
        if let input = after.chain("INPUT") { try XdpOnlyInput(store: firewall.store).save(input) }
        let view = try firewall.readView()
        try firewall.cache(view)
        _ = firewall.kernel.keepConntrack(prog.tables.needsConntrack)
    }

    /// `-Z`: the kernel's chains through the kernel, INPUT's counters in XDP.
    func zero(_ cmd: IptCommand, table: Table) throws {
        if cmd.chain != "INPUT" {
            var argv = ["-Z"]
            if let c = cmd.chain { argv.append(c) }
            if let n = cmd.ruleNumber { argv.append(String(n)) }
            _ = firewall.kernel.iptables(.ipv4, argv)
        }
        try firewall.zeroXDP(cmd, xdp: xdp)
    }

    /// Kernel counters for the kernel's chains, XDP's for INPUT (it alone sees those packets).
    func counterSource(_ table: Table, ruleset: Ruleset) throws -> ListPrinter.CounterSource {
        guard let live = try xdp.liveGeneration() else { return .zero }
        let totals = RetiredCounters(store: firewall.store).totals(live: try xdp.counters(generation: live), replies: try xdp.replyCounters(generation: live))
        let ids = RuleIdentity.all(in: ruleset)
        let kernel = table
        return ListPrinter.CounterSource(
            rule: { chain, n in
                var c = (n <= (kernel.chain(chain)?.rules.count ?? 0) ? kernel.chain(chain)?.rules[n - 1].counters : nil) ?? Counters(packets: 0, bytes: 0)
                if let id = ids["filter\t" + chain].flatMap({ n <= $0.count ? $0[n - 1] : nil }), let x = totals[id] {
                    c.packets &+= x.packets
                    c.bytes &+= x.bytes
                }
                return c
            },
            policy: { chain in
                var c = kernel.chain(chain)?.counters ?? Counters(packets: 0, bytes: 0)
                if let x = totals[.policy(chain: chain)] {
                    c.packets &+= x.packets
                    c.bytes &+= x.bytes
                }
                return c
            })
    }

    func apply(_ cmd: IptCommand, to table: inout Table) throws {
        do {
            try table.apply(cmd)
        } catch {
            throw IptablesMessages.refusal(for: error, command: cmd)
        }
    }

    /// Parses with what iptables knows at this moment: the user chains (for `-j NAME`) and
    /// the sets (for `--match-set`).
    func parse(_ args: [String], ruleset: Ruleset, sets setHeaders: IpsetScript?) throws -> IptCommand {
        let chains = Set(ruleset.tables.flatMap { t in t.chains.filter { !$0.isBuiltin }.map { t.name + " " + $0.name } })
        let sets = Set((setHeaders?.sets ?? []).map(\.create.name))
        let context = CommandContext(family: .ipv4, chainExists: { chains.contains($0 + " " + $1) }, setExists: { sets.contains($0) })
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

    /// What iptables -v says after a successful command: the rules it touched, or the chains.
    static func verboseLines(_ cmd: IptCommand, before: Table, after: Table) -> String {
        guard cmd.verbose else { return "" }
        switch cmd.kind {
        case .append, .insert, .replace, .check, .delete:
            if cmd.kind == .delete && cmd.ruleNumber != nil { return "" }
            return cmd.rules.compactMap { try? ListPrinter.echo($0, resolver: NumericResolver()) }.joined()
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
}
