import IptParse

/// What an iptables command line asks for, as far as the two layers need to know: read by
/// IptParse's command parser (the same one that reads restore files) with the chains the
/// kernel has, so `-j NAME` is read as iptables reads it.
struct IptablesCommandLine {
    var argv: [String]
    /// nil: our parser could not read it (the kernel's iptables may still take it).
    var command: IptCommand?
    /// `-L -Z`/`-S -Z`: list, then zero.
    var zeroAfter = false
    /// `-h`, `--help`, `-V`, `--version`: the kernel tool answers alone.
    var informational = false

    init(_ argv: [String], family: Family, ruleset: Ruleset?) {
        self.argv = argv
        var words = argv
        if argv.contains(where: { ["-h", "--help", "-V", "--version"].contains($0) }) { informational = true }
        let listing = words.contains { w in
            ["-L", "--list", "-S", "--list-rules"].contains(w) || (w.hasPrefix("-") && !w.hasPrefix("--") && (w.contains("L") || w.contains("S")) && w.count <= 6 && w.dropFirst().allSatisfy(\.isLetter))
        }
        if listing, let z = words.firstIndex(where: { $0 == "-Z" || $0 == "--zero" }) {
            words.remove(at: z)
            zeroAfter = true
        }
        words.removeAll { $0 == "-4" || $0 == "--ipv4" || $0 == "-6" || $0 == "--ipv6" }
        let chains = Set((ruleset?.tables ?? []).flatMap { t in t.chains.filter { !$0.isBuiltin }.map { t.name + " " + $0.name } })
        let context = CommandContext(family: family, chainExists: { chains.contains($0 + " " + $1) })
        let (source, ws) = WordSource.argv(words)
        if let parsed = try? CommandParser.parse(ws, source: source, context: context), case .command(let c) = parsed {
            command = c
        }
    }

    /// Changes rules, chains or policies (not only counters).
    var changesRules: Bool {
        guard let c = command else { return !informational }
        switch c.kind {
        case .list, .listRules, .check, .zero: return false
        default: return true
        }
    }

    var table: String { command?.table ?? Self.tableWord(argv) ?? "filter" }

    static func tableWord(_ argv: [String]) -> String? {
        for (i, w) in argv.enumerated() {
            if (w == "-t" || w == "--table"), i + 1 < argv.count { return argv[i + 1] }
            if w.hasPrefix("--table=") { return String(w.dropFirst(8)) }
            if w.hasPrefix("-t"), w.count > 2, !w.hasPrefix("--") { return String(w.dropFirst(2)) }
        }
        return nil
    }

    /// The ruleset after the command, as iptables would leave it; nil when we cannot tell.
    func predict(_ ruleset: Ruleset?) -> Ruleset? {
        guard let command, var r = ruleset else { return nil }
        var t = r.table(command.table) ?? Table(name: command.table)
        do { try t.apply(command) } catch { return nil }
        // The kernel refuses a loop a built-in chain reaches ("Too many links"); a chain named
        // like a target reads back as something else (ChainNameClash): no prediction then.
        if t.reachableLoop() != nil || !t.targetLikeChains.isEmpty { return nil }
        r.replaceTable(t)
        return r
    }
}
