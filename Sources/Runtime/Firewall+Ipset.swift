import Compiler
import Foundation
import IptParse

extension Firewall {
    /// `ebpf-ipset ARGV`: ipset's own command line. The kernel's ipset runs it (its output,
    /// messages and exit status are what we return); XDP is kept in step: one member under a
    /// guard, anything else in transition between the sets before and the sets our ipset
    /// engine predicts. `stdin` is what `restore` reads when no -file is given.
    public func ipset(_ argv: [String], stdin: String?) throws -> ToolResult {
        let inv = try? IpsetArgv.parse(argv)
        // Questions go straight to the kernel's ipset.
        if let inv, [.list, .save, .test, .version, .help].contains(inv.command) {
            return kernel.ipset(argv, stdin: stdin)
        }
        // Whatever our parser cannot read (ipset 4's `new`, type names and `--option`
        // spellings ipset 7.17 still takes, or a real mistake: ipset then says what is
        // wrong) takes the whole path without a prediction: XDP passes everything while the
        // kernel's ipset runs, then runs what the kernel holds after it.
        return try locked("ebpf-ipset \(argv.joined(separator: " "))") { try followingIPv6(always: false, sets: Self.ipsetTargets(argv)) {
            guard let (a, xdp) = try attached() else { return kernel.ipset(argv, stdin: stdin) }
            let options = store.compileOptions
            // After an interrupted change (kill -9), or rules changed behind our back (plain
            // iptables), the whole path below reconciles first: the fast path edits the live
            // generation as it is, compiled from rules the kernel may no longer hold.
            if let inv, try !xdp.pendingChange(), !rulesChangedBehindOurBack(),
               let fast = try MemberFastPath(firewall: self, xdp: xdp, attachment: a, options: options).run(inv, argv: argv) {
                return fast
            }
            let before = try readView()
            try reconcile(xdp: xdp, attachment: a, options: options, view: before)
            var predicted: XDPProgram? = nil
            if let inv, let sets = before.sets {
                var input = stdin
                if inv.command == .restore, let path = inv.file {
                    input = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
                }
                let env = IpsetEnvironment(now: Int64(Date().timeIntervalSince1970 * 1000), references: [:],
                                           newInitval: { 0 }, readInput: { _ in input })
                let outcome = IpsetSession.execute(inv, state: IpsetState(script: sets), env: env)
                if let next = outcome.state {
                    predicted = program(for: KernelView(rulesText: before.rulesText, ruleset: before.ruleset, setsText: "",
                                                        sets: next.script), interface: a.interface, options: options)
                } else if outcome.status == 0 {
                    predicted = program(for: before, interface: a.interface, options: options)
                }
            }
            let (r, _) = try changeBothLayers(xdp: xdp, attachment: a, options: options, before: before, predicted: predicted,
                                              readBack: { try self.readView() }, change: { self.kernel.ipset(argv, stdin: stdin) })
            return r
        } }
    }

    /// Whether the kernel's rules differ from those XDP was compiled from (cheap: the rules
    /// only; sets changed with plain ipset between two of our commands are not seen here).
    /// Read back with iptables-save once; then, while nftables' generation stays where it
    /// was when that read agreed (RulesGenerationStamp), not again: every iptables-nft
    /// change, ours or anyone's, bumps it.
    func rulesChangedBehindOurBack() -> Bool {
        let stamp = RulesGenerationStamp(store: store)
        let stored = store.read(store.paths.kernelRulesFile)
        let before = kernel.rulesGeneration()
        if let before, let stored, stamp.holds(generation: before, rules: stored) { return false }
        let r = kernel.save(.ipv4, counters: false)
        guard r.ok else { return true }
        let changed = KernelText.normalized(r.stdout) != stored
        // Stamped only for iptables-nft (the generation says nothing of iptables-legacy's
        // tables) and when nothing changed while the tool read.
        if !changed, let before, let stored, r.stdout.contains(" (nf_tables)"), kernel.rulesGeneration() == before {
            stamp.record(generation: before, rules: stored)
        }
        return changed
    }
}
