/// The options iptables itself owns: commands, `-s -d -i -o -p -f -j -g -m`, listing flags.
extension CommandLineParser {
    static let negatable: Set<UInt8> = Set("sdiopf".utf8)
    static let standardTargets: [String: Target] = ["ACCEPT": .accept, "DROP": .drop, "RETURN": .return, "QUEUE": .queue]

    mutating func builtin(_ c: Character, word w: Word, inline: Word?) throws(Diagnostic) -> Outcome {
        // ASCII codes, not Characters: hashing a Character costs a grapheme walk per option.
        try builtin(key: c.asciiValue ?? 0, word: w, inline: inline)
    }

    mutating func builtin(key: UInt8, word w: Word, inline: Word?) throws(Diagnostic) -> Outcome {
        let negated = invert
        if negated && !Self.negatable.contains(key) {
            throw fail("bad-negation", "'!' cannot be used with '\(w.text)'", invertWord)
        }
        invert = false
        if ruleOptionByByte[Int(key)] { ruleOptionWord = ruleOptionWord ?? w }
        func arg(_ what: String) throws(Diagnostic) -> Word {
            if let inline { return inline }
            let v = try next(for: w, what: what)
            if v.text == "!" {
                throw fail("intrapositioned-negation",
                           "'!' after '\(w.text)' is not accepted by iptables 1.8; put it before: '! \(w.text)'", v)
            }
            return v
        }
        if let k = commandKindByByte[Int(key)] {
            if let prev = kindWord {
                throw fail("multiple-commands", "only one command is allowed, and '\(prev.text)' was already given", w)
            }
            kind = k
            kindWord = w
            try commandArguments(k, word: w, first: inline)
            return .ok
        }
        switch key {
        case UInt8(ascii: "p"):
            let v = try arg("a protocol")
            let name = v.text.lowercased()
            guard let n = ProtocolNames.parse(name) else {
                throw fail("bad-protocol", "unknown protocol '\(v.text)'", v)
            }
            if proto != nil { throw fail("duplicate-option", "protocol given twice", w) }
            // xshared.c: `! -p 0` (all, ip) is refused while parsing.
            if n == 0 && negated { throw fail("never-matches-protocol", "rule would never match protocol", v) }
            proto = n == 0 && !negated ? nil : Negatable(n, negated: negated)
            protoWord = v
            if n == 0 { protoWord = nil }
        case UInt8(ascii: "s"), UInt8(ascii: "d"):
            let v = try arg("an address")
            let list = try AddressParser.parseList(v, family: family, source: source)
            if key == UInt8(ascii: "s") {
                if !sources.isEmpty { throw fail("duplicate-option", "source given twice", w) }
                sources = list
                sourceNegated = negated
            } else {
                if !destinations.isEmpty { throw fail("duplicate-option", "destination given twice", w) }
                destinations = list
                destinationNegated = negated
            }
            if negated && list.count > 1 {
                throw fail("negated-list", "'!' cannot be used with a list of addresses", v)
            }
        case UInt8(ascii: "i"), UInt8(ascii: "o"):
            let v = try arg("an interface name")
            try checkInterface(v)
            // `-i +` is every interface: iptables stores no test for it (RuleAssembly drops
            // it after the direction checks, which it still meets); `! -i +` it keeps.
            let iface = Negatable(v.text, negated: negated)
            if key == UInt8(ascii: "i") { inIface = iface } else { outIface = iface }
        case UInt8(ascii: "f"):
            guard family == .ipv4 else {
                throw fail("unknown-option", "'-f' is IPv4 only; ip6tables matches fragments with '-m frag'", w)
            }
            fragment = !negated
        case UInt8(ascii: "j"), UInt8(ascii: "g"):
            let v = try arg(key == UInt8(ascii: "j") ? "a target" : "a chain")
            if target != nil || targetIndex != nil { throw fail("duplicate-option", "a rule has one target, and one was already given", w) }
            try loadTarget(v, goto: key == UInt8(ascii: "g"))
        case UInt8(ascii: "m"):
            let v = try arg("a match name")
            guard let spec = ExtensionCatalog.match(v.text, family: family) else {
                let alt = ExtensionCatalog.match(v.text, family: family == .ipv4 ? .ipv6 : .ipv4) != nil
                    ? " (it exists for \(family == .ipv4 ? "ip6tables" : "iptables") only)" : ""
                throw fail("unknown-match", "unknown match '\(v.text)'\(alt)", v)
            }
            extensions.append(LoadedExtension(spec: spec, word: v))
            if let p = proto, protoMatches[p.value] == spec.name { protoMatchLoaded = true }
        case UInt8(ascii: "n"): flags.n = true
        case UInt8(ascii: "v"): flags.v = true
        case UInt8(ascii: "x"): flags.x = true
        case UInt8(ascii: "0"): flags.line = true
        case UInt8(ascii: "t"):
            let v = try arg("a table name")
            if context.restoreTable != nil {
                throw fail("table-in-restore", "'-t' cannot be used in a restore file: the table comes from the '*table' line", w)
            }
            guard BuiltinTables.chains[v.text] != nil else {
                throw fail("bad-table", "unknown table '\(v.text)' (expected filter, nat, mangle, raw or security)", v)
            }
            table = v.text
        case UInt8(ascii: "c"):
            // xshared.c: the byte count follows a comma in the same word (`-c 2,3`, the comma
            // searched from the second character), else it is the next word when that does not
            // start with '-' or '!'; each is read with sscanf("%llu").
            let p = try arg("packet and byte counters")
            let b: Word
            if let comma = p.text.dropFirst().firstIndex(of: ",") {
                let after = p.text[p.text.index(after: comma)...]
                b = Word(String(after), column: p.column + p.text.distance(from: p.text.startIndex, to: comma) + 1)
            } else if index < words.count, !words[index].text.hasPrefix("-"), !words[index].text.hasPrefix("!") {
                b = words[index]
                index += 1
            } else {
                throw fail("missing-argument", "-c requires packet and byte counter", w)
            }
            guard let pk = CNumbers.scanUnsigned(Substring(p.text)) else { throw fail("bad-counter", "-c packet counter not numeric", p) }
            guard let by = CNumbers.scanUnsigned(Substring(b.text)) else { throw fail("bad-counter", "-c byte counter not numeric", b) }
            counters = Counters(packets: pk, bytes: by)
        case UInt8(ascii: "w"):
            // -w [seconds]: we serialise with a lock anyway; the number is accepted and ignored.
            if inline == nil, index < words.count, Int(words[index].text) != nil { index += 1 }
        case UInt8(ascii: "W"), UInt8(ascii: "M"):
            _ = try arg("an argument")
        case UInt8(ascii: "4"), UInt8(ascii: "6"):
            let wanted: Family = key == UInt8(ascii: "4") ? .ipv4 : .ipv6
            if wanted != family {
                if context.restoreTable != nil { return .skip }
                throw fail("wrong-family", "this is the \(family == .ipv4 ? "IPv4" : "IPv6") version; '\(w.text)' asks for the other", w)
            }
        case UInt8(ascii: "h"), UInt8(ascii: "V"):
            throw fail("unsupported-option", "'\(w.text)' is not available here; see 'ebpf-iptables --help'", w)
        default:
            throw fail("unknown-option", "unknown option '\(w.text)'", w)
        }
        return .ok
    }

    mutating func commandArguments(_ k: IptCommand.Kind, word w: Word, first inline: Word?) throws(Diagnostic) {
        func required(_ what: String) throws(Diagnostic) -> Word {
            if let inline { return inline }
            return try next(for: w, what: what)
        }
        func number(_ v: Word) throws(Diagnostic) -> Int {
            guard let n = Int(v.text), n >= 1 else {
                throw fail("bad-rule-number", "expected a rule number (1 or more), got '\(v.text)'", v)
            }
            return n
        }
        switch k {
        case .append, .check, .newChain:
            chain = try checkedChainName(required("a chain name")).text
        case .delete:
            chain = try checkedChainName(required("a chain name")).text
            if let v = optionalPositional() { ruleNumber = try number(v) }
        case .insert:
            chain = try checkedChainName(required("a chain name")).text
            if let v = optionalPositional() { ruleNumber = try number(v) }
        case .replace:
            chain = try checkedChainName(required("a chain name")).text
            ruleNumber = try number(next(for: w, what: "a rule number"))
        case .list, .listRules, .flush, .zero, .deleteChain:
            if let v = inline ?? optionalPositional() {
                chain = v.text
                if k == .list || k == .listRules || k == .zero, let n = optionalPositional() { ruleNumber = try number(n) }
            }
        case .policy:
            chain = try required("a chain name").text
            argument = try next(for: w, what: "a policy (ACCEPT or DROP)").text
        case .renameChain:
            chain = try required("the chain to rename").text
            argument = try checkedChainName(next(for: w, what: "the new chain name")).text
        }
    }

    func checkedChainName(_ v: Word) throws(Diagnostic) -> Word {
        if v.text.characterCount > 28 {
            throw fail("bad-chain-name", "chain name '\(v.text)' is too long (at most 28 characters)", v)
        }
        if v.text.hasPrefix("-") || v.text.isEmpty {
            throw fail("bad-chain-name", "expected a chain name, got '\(v.text)'", v)
        }
        return v
    }

    func checkInterface(_ v: Word) throws(Diagnostic) {
        if v.text.characterCount > 15 {
            throw fail("bad-interface", "interface name '\(v.text)' is too long (at most 15 characters)", v)
        }
        if v.text.isEmpty || v.text.contains("/") || v.text.contains(" ") {
            throw fail("bad-interface", "'\(v.text)' is not a valid interface name", v)
        }
    }

    mutating func loadTarget(_ v: Word, goto: Bool) throws(Diagnostic) {
        targetWord = v
        let standard = Self.standardTargets
        if goto {
            if standard[v.text] != nil || !context.chainExists(table, v.text) {
                throw fail("undefined-chain", "-g needs a user chain, and '\(v.text.visible)' is not a chain of table \(table)", v)
            }
            target = .goto(v.text)
            return
        }
        if let t = standard[v.text] {
            target = t
            return
        }
        if context.chainExists(table, v.text) {
            target = .jump(v.text)
            return
        }
        if let spec = ExtensionCatalog.target(v.text, family: family) {
            extensions.append(LoadedExtension(spec: spec, word: v))
            targetIndex = extensions.count - 1
            return
        }
        if BuiltinTables.isBuiltin(v.text, in: table) {
            throw fail("jump-to-builtin", "cannot jump to built-in chain '\(v.text)'", v)
        }
        // iptables takes an unknown name for a chain and looks it up after the last option,
        // so an option after it is refused first (`-j DNPT --src-pfx ...`: unknown option).
        undefinedTarget = fail("undefined-target", "no chain or target named '\(v.text.visible)' in table \(table)", v)
        target = .jump(v.text)
    }
}
