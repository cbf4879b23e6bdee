/// Turning what the command line gave into a command: the rule(s), checks that
/// span several options, and `-s a,b` expansion.
extension CommandLineParser {
    mutating func finish() throws(Diagnostic) -> IptCommand {
        guard let kind, let kindWord else {
            throw fail("no-command", "no command given (expected one of -A -I -D -R -C -P -N -X -E -F -Z -L -S)", words.first)
        }
        let loc = SourceLocation(file: source.file, line: source.line, column: kindWord.column, length: kindWord.length)
        var cmd = IptCommand(kind: kind, family: family, table: table, chain: chain, location: loc)
        cmd.ruleNumber = ruleNumber
        cmd.argument = argument
        cmd.numeric = flags.n
        cmd.verbose = flags.v
        cmd.exact = flags.x
        cmd.lineNumbers = flags.line
        let byNumber = kind == .delete && ruleNumber != nil
        guard kind.takesRule && !byNumber else {
            if let w = ruleOptionWord {
                throw fail("illegal-option", "'\(w.text)' cannot be used with \(kindWord.text)", w)
            }
            return cmd
        }
        if let c = chain {
            if c == "INPUT" || c == "PREROUTING", let o = outIface {
                _ = o
                throw fail("bad-direction", "'-o' cannot be used in \(c): packets there have no output interface yet", wordFor(["-o", "--out-interface"]))
            }
            if c == "OUTPUT" || c == "POSTROUTING", inIface != nil {
                throw fail("bad-direction", "'-i' cannot be used in \(c): packets there have no input interface", wordFor(["-i", "--in-interface"]))
            }
        }
        var matches: [Match] = []
        for (i, e) in extensions.enumerated() where i != targetIndex {
            try OptionChecks.final(e, parser: self)
            let m = try buildMatch(e)
            if PortRangeForms.vanishes(m, e) { continue }
            matches.append(m)
        }
        if let t = targetIndex {
            try OptionChecks.final(extensions[t], parser: self)
            target = try buildTarget(extensions[t])
            try checkTargetPlacement(extensions[t])
        }
        if let undefinedTarget { throw undefinedTarget }
        // iptables-nft 1.8.9 makes `! -s 0.0.0.0/0` (`! -d`, `::/0` alike) a zero-length address
        // compare, which nf_tables refuses when the rule is committed (exit 4).
        if sourceNegated, let s = sources.first(where: { $0.0.isAny }) {
            throw ExtensionForms.kernelRefuses(self, "'! -s' of every address", s.1)
        }
        if destinationNegated, let d = destinations.first(where: { $0.0.isAny }) {
            throw ExtensionForms.kernelRefuses(self, "'! -d' of every address", d.1)
        }
        let ruleLoc = SourceLocation(file: source.file, line: source.line, column: 1, length: max(1, source.text.characterCount))
        // Nearly every rule has at most one source and one destination: one rule, built
        // without the two lists of the product below.
        if sources.count <= 1 && destinations.count <= 1 {
            let s = sources.first.map { Negatable($0.0, negated: sourceNegated) }
            let d = destinations.first.map { Negatable($0.0, negated: destinationNegated) }
            cmd.rules = [Rule(source: s.flatMap(dropAny), destination: d.flatMap(dropAny), inInterface: Self.anyInterface(inIface),
                              outInterface: Self.anyInterface(outIface), proto: proto, fragment: fragment, matches: matches,
                              target: target, counters: counters, location: ruleLoc)]
            return cmd
        }
        let srcs: [Negatable<IPPrefix>?] = sources.isEmpty ? [nil] : sources.map { Negatable($0.0, negated: sourceNegated) }
        let dsts: [Negatable<IPPrefix>?] = destinations.isEmpty ? [nil] : destinations.map { Negatable($0.0, negated: destinationNegated) }
        cmd.rules.reserveCapacity(srcs.count * dsts.count)
        for s in srcs {
            for d in dsts {
                cmd.rules.append(Rule(source: s.flatMap(dropAny), destination: d.flatMap(dropAny), inInterface: Self.anyInterface(inIface),
                                      outInterface: Self.anyInterface(outIface), proto: proto, fragment: fragment, matches: matches,
                                      target: target, counters: counters, location: ruleLoc))
            }
        }
        return cmd
    }

    /// `0.0.0.0/0` matches everything; the kernel keeps no address test for it.
    func dropAny(_ a: Negatable<IPPrefix>) -> Negatable<IPPrefix>? {
        a.value.isAny && !a.negated ? nil : a
    }

    func wordFor(_ spellings: [String]) -> Word? {
        words.first { spellings.contains($0.text) }
    }

    /// Targets the kernel accepts only in some tables: caught here instead of at commit.
    func checkTargetPlacement(_ e: LoadedExtension) throws(Diagnostic) {
        let only: [String: String] = [
            "DNAT": "nat", "SNAT": "nat", "MASQUERADE": "nat", "REDIRECT": "nat", "NETMAP": "nat",
            "CT": "raw", "NOTRACK": "raw", "CHECKSUM": "mangle", "TTL": "mangle", "HL": "mangle",
            "TOS": "mangle", "DSCP": "mangle", "ECN": "mangle", "TPROXY": "mangle",
        ]
        if let t = only[e.spec.name], t != table {
            throw fail("target-table", "target \(e.spec.name) is valid only in the \(t) table, not in \(table)", e.word)
        }
        if e.spec.name == "REJECT", table == "nat" {
            throw fail("target-table", "target REJECT cannot be used in the nat table", e.word)
        }
        // xt_REJECT hooks INPUT, FORWARD and OUTPUT only: the kernel refuses it in the
        // built-in PREROUTING/POSTROUTING chains (mangle, raw) when the rule is committed.
        if e.spec.name == "REJECT", let c = chain, ["PREROUTING", "POSTROUTING"].contains(c) {
            throw fail("target-table", "target REJECT cannot be used in \(c): xt_REJECT hooks INPUT, FORWARD and OUTPUT", e.word)
        }
    }

    /// `-i +`/`-o +` match every interface: iptables stores no interface test for them.
    static func anyInterface(_ i: Negatable<String>?) -> Negatable<String>? {
        i?.value == "+" && i?.negated == false ? nil : i
    }
}
