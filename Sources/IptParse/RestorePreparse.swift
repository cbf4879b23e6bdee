import Dispatch

/// Parses the command lines of a large restore file on all cores before the
/// (sequential, cheap) replay applies them.
///
/// A command line parses on its own once two things are known: its table, and
/// which user chains exist at that line (it decides whether `-j NAME` is a jump).
/// A scan of the `*table` and `:chain` lines gives both, as long as no command
/// creates, deletes or renames a chain; when one does, or when anything at all
/// goes wrong, the caller parses sequentially instead, so diagnostics are exactly
/// those of the one-line-at-a-time reading.
enum RestorePreparse {
    /// Below this many lines the threads cost more than they save.
    static let threshold = 4000

    static func run(_ lines: [String], options: RestoreParser.Options) -> [CommandParser.Parsed?]? {
        guard lines.count >= threshold else { return nil }
        struct Job { var index: Int; var section: Int; var table: String }
        var sections: [[String: Int]] = []
        var jobs: [Job] = []
        var table: String?
        for (i, text) in lines.enumerated() {
            let n = i + 1
            guard let first = text.utf8.first else { continue }
            switch first {
            case UInt8(ascii: "#"): continue
            case UInt8(ascii: "*"):
                let name = String(text.dropFirst().split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
                table = BuiltinTables.chains[name] != nil ? name : nil
                var decl: [String: Int] = [:]
                if options.noflush, let t = table, let base = options.base?.table(t) {
                    for c in base.chains where !c.isBuiltin { decl[c.name] = 0 }
                }
                sections.append(decl)
            case UInt8(ascii: ":"):
                guard let t = table, !sections.isEmpty else { continue }
                let name = String(text.dropFirst().split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
                if !BuiltinTables.isBuiltin(name, in: t), sections[sections.count - 1][name] == nil {
                    sections[sections.count - 1][name] = n
                }
            default:
                if text == "COMMIT" { table = nil; continue }
                guard let t = table else { continue }
                jobs.append(Job(index: i, section: sections.count - 1, table: t))
            }
        }
        let decls = sections
        // A command that creates, deletes or renames a chain changes what the lines after it
        // mean: each worker says whether it met one (instead of a second pass over every command).
        let editsChains = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 8)
        editsChains.initialize(repeating: false)
        defer { editsChains.deallocate() }
        nonisolated(unsafe) let edits = editsChains
        let chunks = 8
        let family = options.family, file = options.file, setExists = options.setExists
        let allJobs = jobs
        // The workers write straight into the array the replay reads: no copy of 100,000 commands.
        let parsed = [CommandParser.Parsed?](unsafeUninitializedCapacity: lines.count) { buffer, count in
            nonisolated(unsafe) let out = buffer
            // A Parsed? per line is megabytes of fresh pages: their first touch (the kernel
            // zeroing them) is shared by the cores, each clearing a slice.
            DispatchQueue.concurrentPerform(iterations: chunks) { k in
                let lo = lines.count * k / chunks, hi = lines.count * (k + 1) / chunks
                if hi > lo, let base = out.baseAddress { (base + lo).initialize(repeating: nil, count: hi - lo) }
            }
            count = lines.count
            DispatchQueue.concurrentPerform(iterations: chunks) { k in
                // Each worker gets its own copies of the shared tables: reference counts on one
                // dictionary's storage, bumped for every line by both cores, cost more than the copy.
                let myDecls = decls.map { d in Dictionary(uniqueKeysWithValues: d.map { ($0.key, $0.value) }) }
                let lo = allJobs.count * k / chunks, hi = allJobs.count * (k + 1) / chunks
                var ctx = CommandContext(family: family, restoreTable: nil, setExists: setExists)
                var section = -1
                var line = 0
                let lineBox = LineBox()
                for job in allJobs[lo..<hi] {
                    line = job.index + 1
                    lineBox.value = line
                    if job.section != section || ctx.restoreTable != job.table {
                        section = job.section
                        let decl = myDecls[job.section]
                        ctx = CommandContext(family: family, restoreTable: job.table,
                                             chainExists: { _, c in (decl[c] ?? Int.max) < lineBox.value },
                                             setExists: setExists)
                    }
                    let result = parseLine(lines[job.index], number: line, file: file, context: ctx)
                    if case .command(let c)? = result, c.kind == .newChain || c.kind == .deleteChain || c.kind == .renameChain {
                        edits[k] = true
                    }
                    out[job.index] = result
                }
            }
        }
        if editsChains.contains(true) { return nil }
        // Lines that failed stay nil: the replay parses them again and reports them in order.
        return parsed
    }

    /// The line a worker is at, read by its chain-existence closure (one per worker, never shared).
    final class LineBox: @unchecked Sendable {
        var value = 0
    }

    /// One command line with its optional `[p:b]` prefix; nil when it does not parse.
    static func parseLine(_ text: String, number n: Int, file: String, context: CommandContext) -> CommandParser.Parsed? {
        guard case .success(var words) = RestoreTokenizer.words(text), let first = words.first else { return nil }
        var counters: Counters?
        if first.text.hasPrefix("[") {
            guard let c = RestoreState.counters(first.text) else { return nil }
            counters = c
            words.removeFirst()
        }
        guard case .command(var cmd)? = try? CommandParser.parse(words, source: WordSource(file: file, line: n, text: text), context: context) else {
            return try? CommandParser.parse(words, source: WordSource(file: file, line: n, text: text), context: context)
        }
        if let counters { for i in cmd.rules.indices { cmd.rules[i].counters = counters } }
        return .command(cmd)
    }
}
