import Compiler
import Foundation
import IptParse
import Loader

extension Firewall {
    /// `ebpf-iptables ARGV` (`ebpf-ip6tables` with `.ipv6`): iptables' own command line. The
    /// kernel's iptables runs it (its output, messages and exit status are what we return);
    /// XDP is kept in step around it. With --xdp-only, commands on the filter table go to our
    /// own engine instead (filter INPUT lives in our state then).
    public func iptables(_ argv: [String], family: Family) throws -> ToolResult {
        let name = family == .ipv6 ? "ip6tables" : "iptables"
        return try locked("ebpf-\(name) \(argv.joined(separator: " "))") {
            // IPv6: the kernel's ip6tables runs it; XDP's IPv6 tables follow (Firewall+IPv6).
            guard family == .ipv4 else {
                let line6 = IptablesCommandLine(argv, family: .ipv6, ruleset: nil)
                if line6.informational { return kernel.iptables(.ipv6, argv) }
                if !line6.changesRules { return try readOnly6(line6) }
                return try followingIPv6(always: true) { kernel.iptables(.ipv6, argv) }
            }
            let cached = store.read(store.paths.kernelRulesFile).flatMap { KernelView.rules($0, family: .ipv4).ruleset }
            let line = IptablesCommandLine(argv, family: .ipv4, ruleset: cached)
            if line.informational { return kernel.iptables(.ipv4, argv) }
            guard let (a, xdp) = try attached() else { return kernel.iptables(.ipv4, argv) }
            let options = store.compileOptions
            if options.xdpOnly, line.table == "filter" {
                return try XdpOnlyEngine(firewall: self, xdp: xdp, attachment: a, options: options).run(line)
            }
            if !line.changesRules {
                return try readOnly(line, xdp: xdp)
            }
            return try edit(line, xdp: xdp, attachment: a, options: options)
        }
    }

    /// -L, -S, -C, -Z: the kernel answers; XDP's counters are added where counters show.
    func readOnly(_ line: IptablesCommandLine, xdp: XDPLayer) throws -> ToolResult {
        // `-L -v -Z`: the kernel lists, then zeroes, in one command; its exact counts (for the
        // lines XDP adds to) are read before it, since after it they are zero. A packet the
        // kernel counts between this read and its listing shows in -L's own line only where
        // XDP adds nothing.
        let listsCounts = line.command.map { ($0.kind == .list || $0.kind == .listRules) && $0.verbose } ?? false
        let savedBefore = line.zeroAfter && listsCounts ? kernel.save(.ipv4, counters: true) : nil
        let r = kernel.iptables(.ipv4, line.argv)
        guard r.ok, let c = line.command else { return r }
        var out = r
        switch c.kind {
        case .list where c.verbose, .listRules where c.verbose:
            let saved = savedBefore ?? kernel.save(.ipv4, counters: true)
            guard saved.ok, let ruleset = KernelView.rules(saved.stdout, family: .ipv4).ruleset,
                  let live = try xdp.liveGeneration() else { break }
            let merge = CounterMerge(identities: RuleIdentity.all(in: ruleset),
                                     xdp: RetiredCounters(store: store).totals(live: try xdp.counters(generation: live),
                                                                                   replies: try xdp.replyCounters(generation: live)))
            let kernelTable = try RestoreParser.parse(saved.stdout, options: .init(file: "<iptables-save>")).table(c.table) ?? Table(name: c.table)
            out.stdout = c.kind == .list
                ? merge.list(r.stdout, table: c.table, kernel: kernelTable, exact: c.exact, lineNumbers: c.lineNumbers,
                             first: c.ruleNumber.flatMap { n in c.chain.map { ($0, n) } })
                : merge.listRules(r.stdout, table: c.table, first: c.ruleNumber)
        default:
            break
        }
        // `-L CHAIN N -Z` / `-S CHAIN N -Z` list one rule but zero the whole chain, policy
        // included (iptables 1.8.9 nf_tables: "Zeroing chain `INPUT'", every rule -c 0 0).
        if c.kind == .zero {
            try zeroXDP(c, xdp: xdp)
        } else if line.zeroAfter {
            var whole = c
            whole.ruleNumber = nil
            try zeroXDP(whole, xdp: xdp)
        }
        return out
    }

    /// `-Z [CHAIN [N]]` reached the kernel: XDP's share of the same counters goes too.
    func zeroXDP(_ c: IptCommand, xdp: XDPLayer) throws {
        guard let live = try xdp.liveGeneration() else { return }
        let counters = RetiredCounters(store: store)
        let view = store.read(store.paths.kernelRulesFile).flatMap { KernelView.rules($0, family: .ipv4).ruleset }
        let target: RuleIdentity? = c.ruleNumber.flatMap { n in
            c.chain.flatMap { ch in view.flatMap { RuleIdentity.all(in: $0)[c.table + "\t" + ch] }.flatMap { n <= $0.count ? $0[n - 1] : nil } }
        }
        func hit(_ id: RuleIdentity) -> Bool {
            if let target { return id == target }
            let parts = id.key.split(separator: "\t", maxSplits: 2)
            guard parts.count >= 2, parts[0] == Substring(c.table) else { return false }
            return c.chain == nil || parts[1] == Substring(c.chain ?? "")
        }
        counters.zero(where: hit)
        try zeroReplies(xdp: xdp, generation: live, counters: counters, hit: hit)
        let livePositions = counters.livePositions()
        let positions = livePositions.enumerated().filter { $0.element.contains(where: hit) }.map { $0.offset }
        guard !positions.isEmpty else { return }
        // A position counts for several rules (the jumps that led to it): what it counted
        // stays with the rules -Z does not name (`-Z sip` leaves INPUT's jump to sip alone),
        // folded into their retired totals before the position is zeroed.
        let counted = try xdp.counters(generation: live)
        let zeroed = Set(positions)
        let kept = counted.enumerated().map { zeroed.contains($0.offset) ? $0.element : RuleCounter(packets: 0, bytes: 0) }
        counters.retire(kept, positions: livePositions.map { $0.filter { !hit($0) } })
        try xdp.zeroCounters(generation: live, positions: positions.map { UInt32($0) })
    }

    /// `-Z` for the replies XDP sent: a `reject` position's replies count on several
    /// OUTPUT/POSTROUTING rules and policies; what they counted stays with the ones -Z does not
    /// name (folded into their retired totals) before the position's reply count is zeroed.
    private func zeroReplies(xdp: XDPLayer, generation: UInt32, counters: RetiredCounters, hit: (RuleIdentity) -> Bool) throws {
        let replyPositions = counters.liveReplyPositions()
        let zeroed = replyPositions.filter { $0.value.contains(where: hit) }.map(\.key)
        guard !zeroed.isEmpty else { return }
        let counted = try xdp.replyCounters(generation: generation).filter { zeroed.contains($0.key) }
        counters.retireReplies(counted, positions: replyPositions.mapValues { $0.filter { !hit($0) } })
        try xdp.zeroReplyCounters(generation: generation, positions: zeroed)
    }

    /// A command that changes rules: predicted with our engine, applied by the kernel's
    /// iptables, XDP in transition between the two (or on the fast path of one appended rule).
    func edit(_ line: IptablesCommandLine, xdp: XDPLayer, attachment a: Attachment, options: CompileOptions) throws -> ToolResult {
        // One rule appended to INPUT reads the kernel's rules only: the sets' definitions come
        // from our copy, so a 100,000-member set is not read back and parsed for it. Whatever
        // does not look exactly as XDP was compiled from (a pending change, rules changed
        // behind our back) takes the whole path below, which reconciles first.
        if AppendFastPath.applies(line), !options.xdpOnly, try !xdp.pendingChange() {
            let rules = try readRules(.ipv4)
            let mirror = SetsMirror(store: store)
            if rules.text == store.read(store.paths.kernelRulesFile), let predicted = line.predict(rules.ruleset),
               let headers = try? mirror.headers(),
               let fast = try AppendFastPath(firewall: self, xdp: xdp, attachment: a, options: options)
                .run(line, before: rules, headers: headers, holes: mirror.mentions("nomatch"), after: predicted) {
                return fast
            }
        }
        let before = try readView()
        try reconcile(xdp: xdp, attachment: a, options: options, view: before)
        let predictedRules = line.predict(before.ruleset)
        let predicted = predictedRules.map { rules in
            program(for: KernelView(rulesText: "", ruleset: rules, setsText: before.setsText, sets: before.sets),
                    interface: a.interface, options: options)
        }
        let (r, _) = try changeBothLayers(xdp: xdp, attachment: a, options: options, before: before, predicted: predicted,
                                          readBack: { try self.readView() },
                                          carry: { after in
                                              guard let c = line.command, let b = before.ruleset, let a = after.ruleset else { return .none }
                                              return CounterCarry.edit(c, before: b, after: a)
                                          },
                                          change: { self.kernel.iptables(.ipv4, line.argv) })
        return r
    }
}
