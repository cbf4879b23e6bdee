/// `ipset restore` input -> the set state it leaves behind.
///
/// Unlike `ipset restore`, which stops at the first bad line, every line is
/// checked and all diagnostics are thrown together. A bad line has no effect.
public enum IpsetParser {
    public static func parse(_ text: String, file: String) throws(IptParseError) -> IpsetScript {
        var p = IpsetParserState(lexer: IpsetLexer(bytes: Array(text.utf8), file: file))
        p.run()
        if !p.diagnostics.isEmpty { throw IptParseError(p.diagnostics) }
        return p.script()
    }
}

/// Thrown inside a line to abandon it; the diagnostic is already recorded.
struct IpsetLineAbort: Error {}

/// A set while the file is being read. `del` only marks a slot in `removed`,
/// so the usual file (no deletions) hands its array over without a copy;
/// `index` maps each member to its slot for duplicates and `del`.
struct IpsetLiveSet {
    var create: IpsetCreate
    var entries: [IpsetEntry] = []
    var removed: Set<Int> = []

    var liveEntries: [IpsetEntry] {
        removed.isEmpty ? entries : entries.indices.filter { !removed.contains($0) }.map { entries[$0] }
    }
    var index: [IpsetMemberKey: Int] = [:]
    var count = 0

    /// The kernel's hash capacity; bitmaps and lists are bounded by their range/size.
    var capacity: UInt64 {
        if create.type.isHash { return UInt64(create.maxelem ?? 65536) }
        if create.type == .listSet { return UInt64(create.size ?? 8) }
        return UInt64.max
    }
}

/// Dictionary key of a member. The first element is stored inline so a
/// one-dimensional member (the common blocklist case) hashes no array.
struct IpsetMemberKey: Hashable {
    var first: IpsetElement
    var rest: [IpsetElement]

    init(_ elements: [IpsetElement]) {
        first = elements.first ?? .mark(0)
        rest = elements.count > 1 ? Array(elements.dropFirst()) : []
    }
}

enum IpsetVerb {
    case create, add, del, flush, destroy, swap, rename
}

struct IpsetParserState {
    let lexer: IpsetLexer
    var diagnostics: [Diagnostic] = []
    /// Kernel set slots: a destroyed slot is reused by the next create, and
    /// `ipset save` walks slots in order, so this order is the save order.
    var slots: [IpsetLiveSet?] = []
    var byName: [String: Int] = [:]
    /// `add x` seen before any `create x`: upgraded to add-before-create if x appears later.
    var pendingUndefined: [String: [(Int, String)]] = [:]

    var line = IpsetLine(number: 0, start: 0, end: 0)
    var words: [IpsetToken] = []
    var exist = false
    var stickyExist = false
    var batchKey: [UInt8] = []
    var batchVerb: IpsetVerb? = nil
    var verb: IpsetVerb? = nil
    var addCache: (name: [UInt8], slot: Int, parser: IpsetElementParser, capacity: UInt64)? = nil
    var batchExist = false

    /// `ipset restore` and the command line stop at the first error; a file check reports all.
    var stopAtFirstError = false
    /// References from outside the sets (iptables rules): such a set cannot be destroyed.
    var externalReferences: [String: Int] = [:]
    /// When not nil, every member an add/del really changed, for incremental commits.
    var memberChanges: [IpsetMemberChange]? = nil

    /// Newlines in the file, to size a set's tables when its first member comes.
    let totalLines: Int

    init(lexer: IpsetLexer) {
        self.lexer = lexer
        var n = 1
        for b in lexer.bytes where b == 0x0a { n += 1 }
        totalLines = n
    }

    mutating func run() {
        var toks: [IpsetToken] = []
        toks.reserveCapacity(16)
        lexer.forEachLine { l in
            if stopAtFirstError && !diagnostics.isEmpty { return }
            var badQuote = 0
            line = l
            guard lexer.tokenize(l, into: &toks, badQuote: &badQuote) else {
                report("unterminated-quote", "expected a closing '\"' for the quote opened here",
                       start: badQuote, end: badQuote + 1)
                return
            }
            // Blank lines and whole-line comments are skipped by ipset; a `#` after
            // a command is an error there ("Unknown argument: `#'"), and here.
            guard let first = toks.first, lexer.bytes[first.start] != UInt8(ascii: "#") else { return }
            // `-exist` / `-!` in ipset 7.17 restore is a session flag (checked
            // against the kernel): once seen anywhere on a line it stays on for the
            // rest of the file. But consecutive add/del lines of one set go to the
            // kernel as one batch carrying the flag as it was on the batch's first
            // line, so an `-exist` in the middle of such a run does not help that run.
            // (A batch also ends when ipset's buffer fills; that is not modelled.)
            var sawExist = false
            words.removeAll(keepingCapacity: true)
            for t in toks {
                if t.unquoted == nil && (lexer.equals(t, "-exist") || lexer.equals(t, "-!")) {
                    sawExist = true
                } else {
                    words.append(t)
                }
            }
            guard !words.isEmpty else { return }
            if sawExist { stickyExist = true }
            verb = classify(words[0])
            if verb == .add || verb == .del {
                let name = words.count > 1 ? lexer.slice(words[1]) : []
                if verb != batchVerb || !name.elementsEqual(batchKey) {
                    batchVerb = verb
                    batchKey = Array(name)
                    batchExist = stickyExist
                }
                exist = batchExist
            } else {
                batchKey = []
                batchVerb = nil
                addCache = nil
                exist = stickyExist
            }
            do {
                try command()
            } catch {
                // Already reported.
            }
        }
    }

    func script() -> IpsetScript {
        let live = slots.compactMap { $0 }
        // `ipset save` dumps list:set sets after all others so that a restore
        // finds their members already created.
        let ordered = live.filter { $0.create.type != .listSet } + live.filter { $0.create.type == .listSet }
        return IpsetScript(sets: ordered.map { IpsetSet(create: $0.create, entries: $0.liveEntries) })
    }

    // MARK: diagnostics

    mutating func report(_ id: String, _ message: String, start: Int, end: Int) {
        diagnostics.append(Diagnostic(id: id, message, at: lexer.location(line: line, start: start, end: end),
                                      line: lexer.lineText(line)))
    }

    mutating func report(_ id: String, _ message: String, at t: IpsetToken) {
        report(id, message, start: t.start, end: t.end)
    }

    /// Points just past the last word, for "expected ... after ..." at end of line.
    mutating func reportEnd(_ id: String, _ message: String) {
        var e = line.end
        while e > line.start && IpsetLexer.isSpace(lexer.bytes[e - 1]) { e -= 1 }
        report(id, message, start: e, end: e + 1)
    }

    func text(_ t: IpsetToken) -> String { lexer.text(t) }

    // MARK: commands

    /// Command words and the aliases ipset's restore accepts, compared as bytes.
    func classify(_ t: IpsetToken) -> IpsetVerb? {
        let l = lexer
        if l.equals(t, "add") || l.equals(t, "-A") || l.equals(t, "a") { return .add }
        if l.equals(t, "create") || l.equals(t, "-N") || l.equals(t, "n") { return .create }
        if l.equals(t, "del") || l.equals(t, "-D") || l.equals(t, "d") { return .del }
        if l.equals(t, "flush") || l.equals(t, "-F") || l.equals(t, "f") { return .flush }
        if l.equals(t, "destroy") || l.equals(t, "-X") || l.equals(t, "x") { return .destroy }
        if l.equals(t, "swap") || l.equals(t, "-W") || l.equals(t, "w") { return .swap }
        if l.equals(t, "rename") || l.equals(t, "-E") || l.equals(t, "e") { return .rename }
        return nil
    }

    mutating func command() throws(IpsetLineAbort) {
        let cmd = words[0]
        switch verb {
        case .create: try createCommand()
        case .add: try addCommand(delete: false)
        case .del: try addCommand(delete: true)
        case .flush: try flushOrDestroy(destroy: false)
        case .destroy: try flushOrDestroy(destroy: true)
        case .swap: try swapOrRename(swap: true)
        case .rename: try swapOrRename(swap: false)
        case nil:
            report("unknown-command", "unknown command '\(text(cmd))', expected create, add, del, flush, destroy, swap or rename", at: cmd)
            throw IpsetLineAbort()
        }
    }

    /// The set named by word `i`, which must exist.
    mutating func liveSet(_ i: Int, verb: String) throws(IpsetLineAbort) -> Int {
        guard i < words.count else {
            reportEnd("missing-set-name", "expected a set name after '\(verb)'")
            throw IpsetLineAbort()
        }
        let name = text(words[i])
        guard let slot = byName[name] else {
            if verb == "add" || verb == "del" {
                pendingUndefined[name, default: []].append((diagnostics.count, verb))
            }
            report("undefined-set", "set '\(name)' is not defined", at: words[i])
            throw IpsetLineAbort()
        }
        return slot
    }
}
