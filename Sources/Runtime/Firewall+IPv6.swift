import Compiler
import Foundation
import IptParse
import Loader

/// The IPv6 tables of the XDP program follow the kernel's ip6tables ruleset and inet6 sets
/// (docs/ipv6.md). Every change that may touch them runs with the IPv6 path passing every
/// packet (live6 PASS_ALL: at no instant can XDP then drop an IPv6 packet the kernel's
/// ruleset of that instant accepts); afterwards the kernel's state is read back, compiled
/// into the idle IPv6 generation, that generation goes live, and IPv6 judging resumes.
/// When the read-back or the compile cannot be had, IPv6 stays passing (and an event says
/// why): the kernel alone decides, as it always can.
protocol XDPLayer6: AnyObject {
    func setPassAll6(_ on: Bool) throws
    func install6(_ tables: CompiledTables6) throws
    /// Whether IPv6 tables were ever installed.
    func ipv6Live() throws -> Bool
    /// What XDP dropped per position of the live IPv6 generation, the policy last.
    func counters6() throws -> [Counters]
    func zeroCounters6() throws
}

extension PinnedXDP: XDPLayer6 {
    func setPassAll6(_ on: Bool) throws { try dp.setPassAll6(on) }
    func install6(_ tables: CompiledTables6) throws { try dp.install6(tables) }
    func ipv6Live() throws -> Bool { try dp.liveGeneration6().active }
    func counters6() throws -> [Counters] { try dp.counters6(generation: try dp.liveGeneration6().generation) }
    func zeroCounters6() throws { try dp.zeroCounters6(generation: try dp.liveGeneration6().generation) }
}

extension Firewall {
    /// The sets the live IPv6 tables test, one name a line (an ipset command on another set
    /// leaves them as they are).
    var ipv6SetsFile: String { store.paths.stateDir + "/ipv6.sets" }

    /// Runs `change` (a kernel command) with the IPv6 path passing everything, then installs
    /// what the kernel holds afterwards. `always`: also when no IPv6 tables were installed
    /// yet (an ip6tables change); ipset commands follow only once IPv6 tables are live and
    /// name one of their sets (or act on every set).
    func followingIPv6(always: Bool, sets names: [String]? = nil, _ change: () throws -> ToolResult) throws -> ToolResult {
        if !always {
            // Decided from our state alone, before opening the program's pins: an ipset edit
            // of a set the IPv6 tables do not test (most of them) costs one small file read.
            let used = Set((store.read(ipv6SetsFile) ?? "").split(separator: "\n").map(String.init))
            if used.isEmpty { return try change() }
            if let names, !names.contains(where: used.contains) { return try change() }
        }
        guard let (a, xdp) = try attached(), let x6 = xdp as? XDPLayer6 else { return try change() }
        if !always, try !x6.ipv6Live() { return try change() }
        try x6.setPassAll6(true)
        let r = try change()
        do {
            let rules = try readRules(.ipv6)
            let sets = try readSets()
            guard let ruleset = rules.ruleset else {
                store.event("ipv6: the kernel's ip6tables ruleset could not be read back: IPv6 passes XDP unjudged")
                return r
            }
            let result = Compiler6.compile(ruleset, sets: sets.sets, interface: a.interface)
            try x6.install6(result.tables)
            try store.write(result.tables.setIDs.keys.sorted().map { $0 + "\n" }.joined(), to: ipv6SetsFile)
            try x6.setPassAll6(false)
        } catch {
            store.event("ipv6: XDP's IPv6 tables were not brought up to date (\(error)): IPv6 passes XDP unjudged")
        }
        return r
    }

    /// Which sets an ipset command may change: nil for every set (restore, flush or destroy
    /// without a name), else the names it gives.
    static func ipsetTargets(_ argv: [String]) -> [String]? {
        guard let inv = try? IpsetArgv.parse(argv) else { return nil }
        switch inv.command {
        case .list, .save, .test, .version, .help: return []
        case .restore: return nil
        case .flush, .destroy: return inv.args.isEmpty ? nil : Array(inv.args.prefix(1))
        case .swap, .rename: return Array(inv.args.prefix(2))
        case .create, .add, .del: return Array(inv.args.prefix(1))
        }
    }

    /// `ebpf-ip6tables-save -c`: the kernel's counts plus what XDP dropped, per rule (the
    /// deciding rule and the jumps on its way) and INPUT's policy. The positions are those of
    /// the kernel's ruleset compiled now, which are the live ones unless the ruleset was
    /// changed behind our back. Known gap: XDP's counts start again at 0 at every IPv6
    /// change (a new generation), they are not carried as IPv4's are.
    func mergeIPv6Counters(_ text: String) throws -> String {
        guard let ruleset = KernelView.rules(text, family: .ipv6).ruleset,
              let merge = try ipv6CounterMerge(ruleset) else { return text }
        return merge.save(text)
    }

    /// XDP's IPv6 drops as a CounterMerge over `ruleset` (the kernel's, as printed), or nil
    /// when no IPv6 tables are live.
    func ipv6CounterMerge(_ ruleset: Ruleset) throws -> CounterMerge? {
        guard let (a, xdp) = try attached(), let x6 = xdp as? XDPLayer6, try x6.ipv6Live() else { return nil }
        // Positions come from the whole ruleset (`-t filter` text lacks the tables before INPUT).
        guard let whole = try readRules(.ipv6).ruleset else { return nil }
        let sets = try readSets()
        let result = Compiler6.compile(whole, sets: sets.sets, interface: a.interface)
        let identities = RuleIdentity.all(in: ruleset)
        func id(_ r: RuleRef) -> RuleIdentity? {
            guard let list = identities[r.table + "\t" + r.chain], r.index >= 1, r.index <= list.count else { return nil }
            return list[r.index - 1]
        }
        var counts: [RuleIdentity: RetiredCounters.Count] = [:]
        for (pos, c) in try x6.counters6().enumerated() where c.packets != 0 || c.bytes != 0 {
            if pos == result.origins.count {
                counts[.policy(chain: "INPUT"), default: .init()].add(c.packets, c.bytes)
                continue
            }
            guard pos < result.origins.count else { continue }
            if result.origins[pos].isPolicy { counts[.policy(chain: "INPUT"), default: .init()].add(c.packets, c.bytes) }
            for ref in (result.origins[pos].rule.map { [$0] } ?? []) + result.origins[pos].via {
                if let i = id(ref) { counts[i, default: .init()].add(c.packets, c.bytes) }
            }
        }
        return CounterMerge(identities: identities, xdp: counts)
    }

    /// `ebpf-ip6tables -L -v` / `-S -v`: the kernel's listing with XDP's IPv6 drops added,
    /// as for IPv4. `-Z` of the filter table (any chain) zeroes every IPv6 count XDP holds:
    /// its positions count a rule and the jumps on its way together, so a count may be lost,
    /// never shown twice.
    func readOnly6(_ line: IptablesCommandLine) throws -> ToolResult {
        let r = kernel.iptables(.ipv6, line.argv)
        guard r.ok, let c = line.command else { return r }
        var out = r
        if (c.kind == .list || c.kind == .listRules) && c.verbose && !line.zeroAfter {
            let saved = kernel.save(.ipv6, counters: true)
            if saved.ok, let ruleset = KernelView.rules(saved.stdout, family: .ipv6).ruleset, let merge = try ipv6CounterMerge(ruleset) {
                let kernelTable = ruleset.table(c.table) ?? Table(name: c.table)
                out.stdout = c.kind == .list
                    ? merge.list(r.stdout, table: c.table, kernel: kernelTable, exact: c.exact, lineNumbers: c.lineNumbers,
                                 first: c.ruleNumber.flatMap { n in c.chain.map { ($0, n) } })
                    : merge.listRules(r.stdout, table: c.table, first: c.ruleNumber)
            }
        }
        if (c.kind == .zero || line.zeroAfter) && c.table == "filter", let (_, xdp) = try attached(), let x6 = xdp as? XDPLayer6 {
            try x6.zeroCounters6()
        }
        return out
    }
}
