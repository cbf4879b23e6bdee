/// Reads `iptables-save` / `iptables-restore` text into a ruleset, the way
/// iptables-restore (1.8.9) does, and collects every problem with its place.
public enum RestoreParser {
    public struct Options {
        public var family: Family
        public var file: String
        /// `--noflush`: edit the tables of `base` instead of replacing them.
        public var noflush: Bool
        /// The ruleset the restore starts from (the running one, for --noflush).
        public var base: Ruleset?
        /// When set, set matches must name a known set.
        public var setExists: (@Sendable (String) -> Bool)?
        /// Stop collecting after this many diagnostics.
        public var maxDiagnostics: Int

        public init(family: Family = .ipv4, file: String = "<stdin>", noflush: Bool = false, base: Ruleset? = nil,
                    setExists: (@Sendable (String) -> Bool)? = nil, maxDiagnostics: Int = 50) {
            self.family = family
            self.file = file
            self.noflush = noflush
            self.base = base
            self.setExists = setExists
            self.maxDiagnostics = maxDiagnostics
        }
    }

    public static func parse(_ text: String, options: Options) throws(IptParseError) -> Ruleset {
        let lines = self.lines(text)
        if let pre = RestorePreparse.run(lines, options: options) {
            let state = replay(lines, options: options, preparsed: pre)
            if state.diagnostics.isEmpty { return state.ruleset }
        }
        let state = replay(lines, options: options, preparsed: nil)
        if !state.diagnostics.isEmpty { throw IptParseError(state.diagnostics) }
        return state.ruleset
    }

    /// The text's lines without their newlines; text not ending in one has a last line
    /// all the same (the empty text is one empty line). Read in place: a copy of a large
    /// file's bytes cost as much as the split itself.
    static func lines(_ text: String) -> [String] {
        if let r = text.utf8.withContiguousStorageIfAvailable({ lines(bytes: $0) }) { return r }
        return Array(text.utf8).withUnsafeBufferPointer { lines(bytes: $0) }
    }

    static func lines(bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var lines: [String] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 10 {
            lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
            start = i + 1
        }
        if bytes.last != 10 {
            lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self))
        }
        return lines
    }

    static func replay(_ lines: [String], options: Options, preparsed: [CommandParser.Parsed?]?) -> RestoreState {
        var state = RestoreState(options: options)
        state.preparsed = preparsed
        for (i, line) in lines.enumerated() {
            state.line(line, number: i + 1)
            // Capped with lines left: the rest of the file is not read, so a table still open
            // here may well be closed further down; end() would report a COMMIT that is not
            // missing. Capped on the last line, the whole file was read and end() is right.
            if state.diagnostics.count >= options.maxDiagnostics && i + 1 < lines.count { return state }
        }
        state.end(lastLine: lines.count)
        return state
    }
}

struct RestoreState {
    let options: RestoreParser.Options
    var ruleset: Ruleset
    var diagnostics: [Diagnostic] = []
    /// The table being restored; `touched` says whether any line went into it
    /// (iptables-nft creates nothing for a bare `*raw` / `COMMIT` pair).
    var open: (table: Table, line: Int, text: String, touched: Bool)?

    init(options: RestoreParser.Options) {
        self.options = options
        self.ruleset = options.base ?? Ruleset(family: options.family)
    }

    mutating func report(_ id: String, _ message: String, line: Int, text: String, column: Int = 1, length: Int? = nil) {
        let loc = SourceLocation(file: options.file, line: line, column: column, length: length ?? max(1, text.count - column + 1))
        diagnostics.append(Diagnostic(id: id, message, at: loc, line: text))
    }

    /// User chain names of the open table, recomputed only after a line that may change them.
    var userChains: Set<String> = []
    /// Command lines already parsed by RestorePreparse, by line index.
    var preparsed: [CommandParser.Parsed?]?
    var userChainsStale = true

    /// Lines of the input, kept to show them under diagnostics found after the fact.
    var lines: [Int: String] = [:]
    func lineText(_ n: Int) -> String { lines[n] ?? "" }

    mutating func line(_ text: String, number n: Int) {
        if text.isEmpty || text.hasPrefix("#") { return }
        if text.hasPrefix("*") {
            let name = String(text.dropFirst().split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
            if let o = open {
                report("missing-commit", "table \(o.table.name) (line \(o.line)) was not closed with COMMIT before '*\(name)'", line: n, text: text)
                open = nil
            }
            guard BuiltinTables.chains[name] != nil else {
                report("bad-table", "unknown table '\(name.visible)' (expected filter, nat, mangle, raw or security)", line: n, text: text,
                       column: 2, length: max(1, text.count - 1))
                return
            }
            var table = ruleset.table(name) ?? Table(name: name)
            if !options.noflush {
                // A restore replaces the table's rules and user chains; built-in policies stay as they are.
                table.chains = table.chains.filter(\.isBuiltin).map { Chain(name: $0.name, policy: $0.policy) }
            }
            open = (table, n, text, ruleset.table(name) != nil)
            userChainsStale = true
            return
        }
        if text == "COMMIT" {
            guard let o = open else {
                report("commit-outside-table", "COMMIT without a table: a '*table' line must come first", line: n, text: text)
                return
            }
            if let loop = o.table.reachableLoop(), let loc = loop.closingRule.location {
                report("chain-loop", "jumps form a loop: \(loop.chains.joined(separator: " -> ")) (iptables refuses loops reachable from a built-in chain)",
                       line: loc.line, text: lineText(loc.line), column: 1)
            }
            if o.touched { ruleset.replaceTable(o.table) }
            open = nil
            return
        }
        if text.hasPrefix(":") {
            userChainsStale = true
            chainLine(text, number: n)
            return
        }
        commandLine(text, number: n)
    }

    mutating func chainLine(_ text: String, number n: Int) {
        guard open != nil else {
            report("outside-table", "chain line outside a table: a '*table' line must come first", line: n, text: text)
            return
        }
        let words: [Word]
        switch RestoreTokenizer.words(String(text.dropFirst())) {
        case .success(let w): words = w.map { Word($0.text, column: $0.column + 1, length: $0.length) }
        case .failure(let f):
            report("unterminated-quote", f.message, line: n, text: text, column: f.column + 1, length: 1)
            return
        }
        guard let name = words.first else {
            report("bad-chain-line", "expected a chain name after ':'", line: n, text: text, column: 1, length: 1)
            return
        }
        guard words.count >= 2 else {
            report("missing-policy", "chain \(name.text) needs a policy (ACCEPT or DROP for built-in chains, '-' for user chains)",
                   line: n, text: text, column: name.column + name.length, length: 1)
            return
        }
        if name.text.count > 28 {
            report("bad-chain-name", "chain name '\(name.text)' is too long (at most 28 characters)", line: n, text: text, column: name.column, length: name.length)
            return
        }
        // iptables-restore: "chain name may not clash with target name" (a chain iptables-nft's
        // -E may still create, see ChainNameClash).
        if CommandLineParser.standardTargets[name.text] != nil {
            report("bad-chain-name", "chain name '\(name.text)' may not clash with the target \(name.text)", line: n, text: text, column: name.column, length: name.length)
            return
        }
        var counters = Counters(packets: 0, bytes: 0)
        if words.count >= 3 {
            guard let c = Self.counters(words[2].text) else {
                report("bad-counters", "expected counters like [0:0], got '\(words[2].text)'", line: n, text: text, column: words[2].column, length: words[2].length)
                return
            }
            counters = c
        }
        if words.count > 3 {
            report("bad-chain-line", "unexpected '\(words[3].text)' after the chain's counters", line: n, text: text, column: words[3].column, length: words[3].length)
            return
        }
        let policy = words[1]
        guard var table = open?.table else { return }
        open?.touched = true
        if BuiltinTables.isBuiltin(name.text, in: table.name) {
            guard ["ACCEPT", "DROP"].contains(policy.text) else {
                report("bad-policy", "built-in chain \(name.text) needs policy ACCEPT or DROP, not '\(policy.text)'",
                       line: n, text: text, column: policy.column, length: policy.length)
                return
            }
            if let i = table.index(of: name.text) {
                table.chains[i].policy = policy.text
                table.chains[i].counters = counters
            }
        } else {
            guard policy.text == "-" else {
                report("bad-policy", "user chain \(name.text) cannot have a policy: write '-' instead of '\(policy.text)'",
                       line: n, text: text, column: policy.column, length: policy.length)
                return
            }
            if let i = table.index(of: name.text) {
                table.chains[i].rules.removeAll()
            } else {
                table.chains.append(Chain(name: name.text, counters: counters))
            }
        }
        open?.table = table
    }

    static func counters(_ s: String) -> Counters? {
        guard s.hasPrefix("["), s.hasSuffix("]") else { return nil }
        let parts = s.dropFirst().dropLast().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let p = UInt64(parts[0]), let b = UInt64(parts[1]) else { return nil }
        return Counters(packets: p, bytes: b)
    }

    mutating func commandLine(_ text: String, number n: Int) {
        if open != nil, let pre = preparsed, n - 1 < pre.count, let parsed = pre[n - 1] {
            apply(parsed, text: text, number: n, words: nil)
            return
        }
        var words: [Word]
        switch RestoreTokenizer.words(text) {
        case .success(let w): words = w
        case .failure(let f):
            report("unterminated-quote", f.message, line: n, text: text, column: f.column, length: 1)
            return
        }
        guard let first = words.first else {
            report("no-command", "blank line with spaces: iptables-restore rejects it (expected a command, a chain line or COMMIT)",
                   line: n, text: text, column: 1, length: max(1, text.count))
            return
        }
        guard let tableName = open?.table.name else {
            let hint = first.text == "COMMIT" ? "COMMIT must stand alone on its line, with nothing after it"
                : "'\(first.text.visible)' outside a table: a '*table' line (e.g. '*filter') must come first"
            report(first.text.hasPrefix("-") ? "outside-table" : "bad-line", hint, line: n, text: text, column: first.column, length: first.length)
            return
        }
        var counters: Counters?
        if first.text.hasPrefix("[") {
            guard let c = Self.counters(first.text) else {
                report("bad-counters", "expected counters like [0:0], got '\(first.text)'", line: n, text: text, column: first.column, length: first.length)
                return
            }
            counters = c
            words.removeFirst()
        }
        let source = WordSource(file: options.file, line: n, text: text)
        // Only the user chain names go into the closure: capturing the table itself would
        // share its storage and make every append below copy all rules (quadratic restore).
        if userChainsStale {
            userChains = Set(open?.table.chains.lazy.filter { !$0.isBuiltin }.map(\.name) ?? [])
            userChainsStale = false
        }
        let userChains = self.userChains
        let ctx = CommandContext(family: options.family, restoreTable: tableName,
                                 chainExists: { _, c in userChains.contains(c) },
                                 setExists: options.setExists)
        let parsed: CommandParser.Parsed
        do {
            parsed = try CommandParser.parse(words, source: source, context: ctx)
        } catch {
            diagnostics.append(error)
            return
        }
        guard case .command(var cmd) = parsed else { return }
        if let counters { for i in cmd.rules.indices { cmd.rules[i].counters = counters } }
        apply(.command(cmd), text: text, number: n, words: words)
    }

    mutating func apply(_ parsed: CommandParser.Parsed, text: String, number n: Int, words: [Word]?) {
        guard case .command(let cmd) = parsed else { return }
        if cmd.kind == .newChain || cmd.kind == .deleteChain || cmd.kind == .renameChain { userChainsStale = true }
        open?.touched = true
        if cmd.kind == .list || cmd.kind == .listRules {
            report("bad-command", "\(cmd.kind.rawValue) lists rules and cannot be used in a restore file", line: n, text: text,
                   column: cmd.location.column, length: cmd.location.length)
            return
        }
        do {
            try open?.table.apply(cmd)
            if cmd.rules.contains(where: { if case .jump = $0.target { true } else if case .goto = $0.target { true } else { false } }) {
                lines[n] = text
            }
        } catch {
            let w = words ?? (try? RestoreTokenizer.words(text).get()) ?? []
            let chainWord = w.first { $0.text == cmd.chain } ?? w.first
            report(editID(error.kind), error.message, line: n, text: text, column: chainWord?.column ?? 1, length: chainWord?.length)
        }
    }

    func editID(_ k: EditError.Kind) -> String {
        switch k {
        case .noSuchChain: "undefined-chain"
        case .chainExists: "chain-exists"
        case .badRule: "no-such-rule"
        case .indexTooBig: "bad-rule-number"
        case .builtinChain: "builtin-chain"
        case .chainInUse: "chain-in-use"
        case .chainNotEmpty: "chain-not-empty"
        case .badPolicy: "bad-policy"
        case .invalid: "invalid-command"
        }
    }

    mutating func end(lastLine: Int) {
        if let o = open {
            report("missing-commit", "table \(o.table.name) opened here is never closed with COMMIT", line: o.line, text: o.text)
        }
    }
}
