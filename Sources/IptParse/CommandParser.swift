/// The single authority on iptables' argument syntax: a command line and each
/// command line of a restore file go through here.
///
/// It follows iptables 1.8.9 as observed on the kernel: getopt-style long options
/// with unique abbreviations and `--opt=value`, `!` before the option it negates,
/// matches loaded explicitly (`-m`) or implicitly from `-p` on the first option
/// only that protocol's match knows, and options dispatched to the earliest
/// loaded extension that declares them.
public enum CommandParser {
    /// Result of parsing one command line.
    public enum Parsed: Equatable, Sendable {
        case command(IptCommand)
        /// A `-6` line read by the IPv4 restore (or `-4` by IPv6): iptables skips it silently.
        case skipped
    }

    public static func parse(_ words: [Word], source: WordSource, context: CommandContext) throws(Diagnostic) -> Parsed {
        var p = CommandLineParser(words: words, source: source, context: context)
        return try p.run()
    }
}

/// An extension loaded on this command line, with the options given to it so far.
struct LoadedExtension {
    struct Given {
        var option: ExtensionSpec.Option
        var negated: Bool
        var word: Word
        var args: [Word]
    }
    var spec: ExtensionSpec
    var word: Word
    var given: [Given] = []
}

let builtinLong: [(String, Character, Int)] = [
    ("append", "A", 1), ("check", "C", 1), ("delete", "D", 1), ("insert", "I", 1), ("replace", "R", 1),
    ("list", "L", 0), ("list-rules", "S", 0), ("flush", "F", 0), ("zero", "Z", 0), ("new-chain", "N", 1),
    ("delete-chain", "X", 0), ("policy", "P", 1), ("rename-chain", "E", 1), ("help", "h", 0),
    ("version", "V", 0), ("protocol", "p", 1), ("source", "s", 1), ("src", "s", 1),
    ("destination", "d", 1), ("dst", "d", 1), ("jump", "j", 1), ("goto", "g", 1),
    ("in-interface", "i", 1), ("out-interface", "o", 1), ("fragment", "f", 0), ("match", "m", 1),
    ("numeric", "n", 0), ("verbose", "v", 0), ("exact", "x", 0), ("line-numbers", "0", 0),
    ("table", "t", 1), ("wait", "w", 0), ("wait-interval", "W", 1), ("set-counters", "c", 1),
    ("ipv4", "4", 0), ("ipv6", "6", 0), ("modprobe", "M", 1),
]
let builtinByName: [String: Character] = Dictionary(builtinLong.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
/// Every prefix (the empty one too: `--=x`) of a builtin long option's name: which words may abbreviate one.
let builtinPrefixes: Set<String> = Set(builtinLong.flatMap { b in (0...b.0.utf8.count).map { String(decoding: b.0.utf8.prefix($0), as: UTF8.self) } })
/// `shortArgc` by byte (-1: no such short option): a table read per option word.
let shortArgcByByte: [Int8] = (0..<256).map { shortArgc[UInt8($0)].map(Int8.init) ?? -1 }
/// `ruleOptions` by byte.
let ruleOptionByByte: [Bool] = (0..<256).map { ruleOptions.contains(UInt8($0)) }
let shortArgc: [UInt8: Int] = [
    UInt8(ascii: "A"): 1, UInt8(ascii: "C"): 1, UInt8(ascii: "D"): 1, UInt8(ascii: "I"): 1, UInt8(ascii: "R"): 1, UInt8(ascii: "N"): 1, UInt8(ascii: "P"): 1, UInt8(ascii: "E"): 1, UInt8(ascii: "p"): 1, UInt8(ascii: "s"): 1, UInt8(ascii: "d"): 1, UInt8(ascii: "j"): 1,
    UInt8(ascii: "g"): 1, UInt8(ascii: "i"): 1, UInt8(ascii: "o"): 1, UInt8(ascii: "m"): 1, UInt8(ascii: "t"): 1, UInt8(ascii: "W"): 1, UInt8(ascii: "c"): 1, UInt8(ascii: "M"): 1,
    UInt8(ascii: "L"): 0, UInt8(ascii: "S"): 0, UInt8(ascii: "F"): 0, UInt8(ascii: "Z"): 0, UInt8(ascii: "X"): 0, UInt8(ascii: "h"): 0, UInt8(ascii: "V"): 0, UInt8(ascii: "f"): 0, UInt8(ascii: "n"): 0, UInt8(ascii: "v"): 0, UInt8(ascii: "x"): 0, UInt8(ascii: "w"): 0,
    UInt8(ascii: "4"): 0, UInt8(ascii: "6"): 0,
]
let commandKinds: [UInt8: IptCommand.Kind] = [
    UInt8(ascii: "A"): .append, UInt8(ascii: "C"): .check, UInt8(ascii: "D"): .delete, UInt8(ascii: "I"): .insert, UInt8(ascii: "R"): .replace, UInt8(ascii: "L"): .list, UInt8(ascii: "S"): .listRules,
    UInt8(ascii: "F"): .flush, UInt8(ascii: "Z"): .zero, UInt8(ascii: "N"): .newChain, UInt8(ascii: "X"): .deleteChain, UInt8(ascii: "P"): .policy, UInt8(ascii: "E"): .renameChain,
]
/// `commandKinds` by byte: a table read per option word.
let commandKindByByte: [IptCommand.Kind?] = (0..<256).map { commandKinds[UInt8($0)] }
/// Builtin options that put something into the rule: refused with commands that take none.
let ruleOptions: Set<UInt8> = Set("psdjgiofmc".utf8)
let protoMatches: [UInt8: String] = [6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "icmp6", 33: "dccp", 136: "udplite", 135: "mh"]

struct CommandLineParser {
    let words: [Word]
    let source: WordSource
    let context: CommandContext
    var family: Family { context.family }
    var setExists: (@Sendable (String) -> Bool)? { context.setExists }

    var index = 0
    var kind: IptCommand.Kind?
    var kindWord: Word?
    var chain: String?
    var ruleNumber: Int?
    var argument: String?
    var table: String
    var invert = false
    var invertWord: Word?
    var flags: (n: Bool, v: Bool, x: Bool, line: Bool) = (false, false, false, false)

    var sources: [(IPPrefix, Word)] = []
    var sourceNegated = false
    var destinations: [(IPPrefix, Word)] = []
    var destinationNegated = false
    var inIface: Negatable<String>?
    var outIface: Negatable<String>?
    var proto: Negatable<UInt8>?
    var protoWord: Word?
    var protoMatchLoaded = false
    var fragment: Bool?
    var counters: Counters?
    var extensions: [LoadedExtension] = []
    /// Index into `extensions` of the target, if it is an extension.
    var targetIndex: Int?
    var target: Target?
    var targetWord: Word?
    /// `-j NAME` named neither a chain nor a target: refused once every option is read.
    var undefinedTarget: Diagnostic?
    var ruleOptionWord: Word?

    init(words: [Word], source: WordSource, context: CommandContext) {
        self.words = words
        self.source = source
        self.context = context
        self.table = context.restoreTable ?? "filter"
    }

    func fail(_ id: String, _ message: String, _ word: Word?) -> Diagnostic {
        source.diagnostic(id, message, at: word)
    }

    mutating func next(for option: Word, what: String) throws(Diagnostic) -> Word {
        guard index < words.count else {
            throw fail("missing-argument", "option '\(option.text)' requires \(what)", option)
        }
        defer { index += 1 }
        return words[index]
    }

    /// An optional positional argument: taken when it does not look like an option.
    mutating func optionalPositional() -> Word? {
        guard index < words.count else { return nil }
        let w = words[index]
        if w.text.hasPrefix("-") || w.text == "!" { return nil }
        index += 1
        return w
    }

    mutating func run() throws(Diagnostic) -> CommandParser.Parsed {
        while index < words.count {
            let w = words[index]
            index += 1
            if w.text == "!" {
                if invert { throw fail("multiple-negation", "multiple '!' flags are not allowed", w) }
                invert = true
                invertWord = w
                continue
            }
            let u = w.text.utf8
            let dash = UInt8(ascii: "-")
            if u.count > 2, u.first == dash, u.dropFirst().first == dash {
                if try longOption(w) == .skip { return .skipped }
            } else if u.count > 1, u.first == dash {
                if try shortOptions(w) == .skip { return .skipped }
            } else {
                throw fail("bad-argument", "unexpected argument '\(w.text.visible)'" + hintForStray(w), w)
            }
        }
        if invert {
            throw fail("dangling-negation", "'!' is not followed by an option it can negate", invertWord)
        }
        return .command(try finish())
    }

    func hintForStray(_ w: Word) -> String {
        // Only right after `-A CHAIN` does a number look like a misplaced rule number.
        let afterChain = index >= 3 && words[index - 2].text == chain && words[index - 3] == kindWord
        if let k = kind, [.append, .check].contains(k), Int(w.text) != nil, afterChain {
            return " (a rule number goes with -I, -R or -D, not \(k.rawValue))"
        }
        return ""
    }

    enum Outcome { case ok, skip }

    // MARK: - Option dispatch

    mutating func longOption(_ w: Word) throws(Diagnostic) -> Outcome {
        var name = Self.afterDashes(w.text)
        var inline: Word?
        if name.utf8.contains(UInt8(ascii: "=")), let eq = name.firstIndex(of: "=") {
            let value = String(name[name.index(after: eq)...])
            let offset = name.distance(from: name.startIndex, to: eq) + 3
            inline = Word(value, column: w.column + offset)
            name = String(name[..<eq])
        }
        // Exact names first (builtin, then extensions in load order), then unique abbreviations.
        if let b = builtinByName[name] {
            return try builtin(b, word: w, inline: inline)
        }
        if let (i, opt) = extensionOption(exactly: name) {
            try extensionArgs(i, opt, w, inline)
            return .ok
        }
        var candidates: [(String, () -> Void)] = []
        var builtinHit: Character?
        var extHit: (Int, ExtensionSpec.Option)?
        // Most words reaching here abbreviate no builtin name (`-p udp --dport`): one set
        // lookup instead of a prefix test against each of them.
        if builtinPrefixes.contains(name) {
            for b in builtinLong where b.0.hasBytePrefix(name) && builtinHit != b.1 {
                builtinHit = b.1
                candidates.append((b.0, {}))
            }
        }
        for (i, e) in extensions.enumerated().reversed() {
            for o in e.spec.options where o.name.hasBytePrefix(name) && !candidates.contains(where: { $0.0 == o.name }) {
                if extHit == nil { extHit = (i, o) }
                candidates.append((o.name, {}))
            }
        }
        if candidates.count > 1 {
            let names = candidates.map { "--\($0.0)" }.joined(separator: ", ")
            throw fail("ambiguous-option", "option '--\(name)' is ambiguous (could be \(names))", w)
        }
        if let c = builtinHit { return try builtin(c, word: w, inline: inline) }
        if let (i, opt) = extHit {
            try extensionArgs(i, opt, w, inline)
            return .ok
        }
        if let (i, opt) = try implicitProtocolMatch(for: name, word: w) {
            try extensionArgs(i, opt, w, inline)
            return .ok
        }
        if let i = extensions.lastIndex(where: { $0.spec.lenient }) {
            let opt = ExtensionSpec.Option(name: name, argc: 0)
            try extensionArgs(i, opt, w, inline)
            return .ok
        }
        throw fail("unknown-option", "unknown option '\(w.text)'" + loadedHint(), w)
    }

    /// `String(text.dropFirst(2))` for a word starting `--`, by bytes when an ASCII byte
    /// follows the dashes (the third Character then starts there: only CR LF joins ASCII
    /// bytes into one Character); dropFirst walks Characters.
    static func afterDashes(_ text: String) -> String {
        guard u8(text, 2) < 0x80 else { return String(text.dropFirst(2)) }
        return String(text[text.utf8.index(text.startIndex, offsetBy: 2)...])
    }

    func loadedHint() -> String {
        let names = extensions.map { $0.spec.kind == .match ? "-m \($0.spec.name)" : "-j \($0.spec.name)" }
        if names.isEmpty {
            return proto == nil ? " (no match is loaded: is a '-m' or '-p' missing?)" : ""
        }
        return " for \(names.joined(separator: ", "))"
    }

    /// The most recently loaded extension wins a name several declare
    /// (`-m set --match-set a src -m set --match-set b dst`): libxtables merges
    /// each new extension's options in front of the older ones.
    func extensionOption(exactly name: String) -> (Int, ExtensionSpec.Option)? {
        for (i, e) in extensions.enumerated().reversed() {
            if let o = e.spec.option(named: name) { return (i, o) }
        }
        return nil
    }

    /// `-p tcp --dport 22`: iptables loads the protocol's match the first time an
    /// option is unknown and a protocol was given.
    mutating func implicitProtocolMatch(for name: String, word: Word) throws(Diagnostic) -> (Int, ExtensionSpec.Option)? {
        guard !protoMatchLoaded, let p = proto, !p.negated, let mname = protoMatches[p.value],
              let spec = ExtensionCatalog.match(mname, family: family) else { return nil }
        protoMatchLoaded = true
        let exact = spec.option(named: name)
        let prefixed = spec.options.filter { $0.name.hasBytePrefix(name) }
        guard let opt = exact ?? (prefixed.count == 1 ? prefixed.first : nil) else { return nil }
        extensions.append(LoadedExtension(spec: spec, word: protoWord ?? word))
        return (extensions.count - 1, opt)
    }

    mutating func extensionArgs(_ i: Int, _ opt: ExtensionSpec.Option, _ w: Word, _ inline: Word?) throws(Diagnostic) {
        var args: [Word] = []
        // getopt_long refuses `--flag=value` for an option without argument; iptables names the whole word.
        if let inline, opt.argc == 0, !extensions[i].spec.lenient {
            throw ExtensionForms.xt(self, "unknown option \"\(w.text)\"", w)
        }
        if let inline { args.append(inline) }
        let lenientArg = extensions[i].spec.lenient && extensions[i].spec.option(named: opt.name) == nil
        if inline == nil, RateEstimator.takesOptionalValue(extensions[i].spec, opt), index < words.count,
           RateEstimator.isValueWord(words[index]) {
            args.append(words[index])
            index += 1
        }
        if lenientArg {
            if inline == nil, let v = optionalPositional() { args.append(v) }
        } else {
            while args.count < opt.argc {
                let v = try next(for: w, what: opt.argc == 1 ? "an argument" : "\(opt.argc) arguments")
                if !args.isEmpty && v.text.hasPrefix("-") {
                    // iptables refuses to take an option as the second argument (`--match-set S -j`).
                    throw fail("missing-argument", "option '--\(opt.name)' requires \(opt.argc) arguments, but '\(v.text)' is an option", v)
                }
                if v.text == "!" {
                    throw fail("intrapositioned-negation",
                               "'!' after '--\(opt.name)' is not accepted by iptables 1.8; write '! --\(opt.name)'", v)
                }
                args.append(v)
            }
        }
        try OptionChecks.check(extensions[i], opt, negated: invert, args: args, parser: self)
        if let dup = extensions[i].given.lastIndex(where: { $0.option.name == opt.name }), !repeatable(extensions[i].spec, opt),
           // libxt_policy: each `--next` starts another element with options of its own.
           !(extensions[i].spec.name == "policy" && extensions[i].given[dup...].contains { $0.option.name == "next" }) {
            throw fail("duplicate-option", "option '--\(opt.name)' given twice for \(extensions[i].spec.name)", w)
        }
        extensions[i].given.append(.init(option: opt, negated: invert, word: w, args: args))
        invert = false
        ruleOptionWord = ruleOptionWord ?? w
    }

    func repeatable(_ spec: ExtensionSpec, _ opt: ExtensionSpec.Option) -> Bool {
        spec.lenient || (spec.name == "DNAT" && opt.name == "to-destination") || (spec.name == "SNAT" && opt.name == "to-source")
            // libxt_SET and libxt_set check only the set options for repeats.
            || (spec.name == "SET" && !["add-set", "del-set", "map-set"].contains(opt.name))
            || (spec.name == "set" && opt.name == "return-nomatch")
    }

    mutating func shortOptions(_ w: Word) throws(Diagnostic) -> Outcome {
        let u = w.text.utf8
        if u.count == 2 {
            // Nearly every short option stands alone (`-A`, `-p`): no array for those, and no
            // Character: a String of two UTF-8 bytes holds two ASCII characters.
            let b = u[u.index(after: u.startIndex)]
            guard shortArgcByByte[Int(b)] >= 0 else { throw fail("unknown-option", "unknown option '-\(Character(UnicodeScalar(b)))'", w) }
            return try builtin(key: b, word: w, inline: nil)
        }
        let chars = Array(w.text.dropFirst())
        var k = 0
        while k < chars.count {
            let c = chars[k]
            guard let argc = shortArgc[c.asciiValue ?? 0] else {
                throw fail("unknown-option", "unknown option '-\(c)'", w)
            }
            if argc > 0 {
                let inline = k + 1 < chars.count ? Word(String(chars[(k + 1)...]), column: w.column + k + 2) : nil
                return try builtin(c, word: w, inline: inline)
            }
            if try builtin(c, word: w, inline: nil) == .skip { return .skip }
            k += 1
        }
        return .ok
    }
}

/// The byte at `offset` of the text's UTF-8, 0xFF past its end.
@inline(__always)
func u8(_ s: String, _ offset: Int) -> UInt8 {
    let u = s.utf8
    guard offset < u.count else { return 0xFF }
    return u[u.index(u.startIndex, offsetBy: offset)]
}
