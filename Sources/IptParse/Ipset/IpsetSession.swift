/// Executes one ipset command line against the live sets: what it prints, its exit
/// status, and the new state when it changed anything. Pure: time, rule references,
/// random numbers and standard input come from the caller.
public struct IpsetEnvironment {
    /// Milliseconds since the Unix epoch.
    public var now: Int64
    /// How many iptables rules name each set (`-m set --match-set`, `-j SET`).
    public var references: [String: Int]
    /// The `initval` of a hash set created without one (the kernel picks it at random).
    public var newInitval: () -> UInt32
    /// Text of `restore` (standard input or `-file`), read only when needed.
    public var readInput: (String?) -> String?

    public init(now: Int64, references: [String: Int], newInitval: @escaping () -> UInt32,
                readInput: @escaping (String?) -> String?) {
        self.now = now
        self.references = references
        self.newInitval = newInitval
        self.readInput = readInput
    }
}

/// What a command printed, its exit status, and the sets after it.
public struct IpsetOutcome: Sendable {
    public var stdout = ""
    public var stderr = ""
    public var status: Int32 = 0
    /// The sets after the command, when it changed them.
    public var state: IpsetState?
    public var change: IpsetChange?
    /// `-file` of list/save: the output goes there instead of standard output.
    public var outputFile: String?

    public init() {}
}

/// One ipset command against the live sets.
public enum IpsetSession {
    /// Refusals print like ipset: "ipset v7.17: message", the hint for parameter problems.
    public static func fail(_ e: IpsetUsageError, quiet: Bool, restoreLine: Int? = nil) -> IpsetOutcome {
        var o = IpsetOutcome()
        o.status = e.usage ? 2 : 1
        guard !quiet else { return o }
        let line = restoreLine.map { "Error in line \($0): " } ?? ""
        o.stderr = IpsetMessages.prefix + line + e.message + "\n" + (e.usage ? IpsetMessages.hint + "\n" : "")
        return o
    }

    /// Runs `inv` on `state`; the caller commits `state` of the outcome when it is set.
    public static func execute(_ inv: IpsetInvocation, state: IpsetState, env: IpsetEnvironment) -> IpsetOutcome {
        switch inv.command {
        case .version:
            var o = IpsetOutcome()
            o.stdout = "ipset v7.17, protocol version: 7\n"
            return o
        case .help:
            var o = IpsetOutcome()
            o.stdout = "ipset v7.17\n\nUsage: ipset [options] COMMAND\n\nCommands: create add del test destroy list save restore flush rename swap help version\n"
            return o
        case .list, .save: return list(inv, state: state, env: env)
        case .test: return test(inv, state: state, env: env)
        case .restore:
            guard let text = env.readInput(inv.file ?? inv.args.first) else {
                return fail(IpsetUsageError("Cannot open \(inv.file ?? inv.args.first ?? "stdin") for reading", usage: false), quiet: inv.quiet)
            }
            return apply(text, file: "<restore>", touching: nil, inv: inv, state: state, env: env, restore: true)
        case .create, .add, .del, .flush, .destroy, .swap, .rename:
            // The words become one restore line: a line break must not smuggle in a second command.
            if let bad = inv.args.first(where: { $0.contains(where: { $0 == "\n" || $0 == "\r" }) }) {
                return fail(IpsetUsageError("Unknown argument: `\(bad)'"), quiet: inv.quiet)
            }
            if let k = inv.args.firstIndex(of: "comment"), k + 1 < inv.args.count, inv.args[k + 1].contains("\"") {
                return fail(IpsetUsageError("Syntax error: \" character is not permitted in comments", usage: false), quiet: inv.quiet)
            }
            let line = ([inv.command.rawValue] + inv.args.map(quote)).joined(separator: " ")
            let touching = Set(inv.args.prefix(inv.command == .swap || inv.command == .rename ? 2 : 1))
            return apply(line, file: "<argv>", touching: touching, inv: inv, state: state, env: env, restore: false)
        }
    }

    /// Quotes a word holding blanks so the restore lexer keeps it one word.
    static func quote(_ w: String) -> String {
        w.contains(where: { $0 == " " || $0 == "\t" }) || w.isEmpty ? "\"\(w)\"" : w
    }

    static func apply(_ text: String, file: String, touching: Set<String>?, inv: IpsetInvocation,
                      state: IpsetState, env: IpsetEnvironment, restore: Bool) -> IpsetOutcome {
        let members = inv.command == .add || inv.command == .del
        let r = IpsetRun.run(text, file: file, on: state, exist: inv.exist, references: env.references,
                             touching: touching, recordChanges: members)
        var o = IpsetOutcome()
        if let d = r.error {
            let name = d.sourceLine.split(separator: " ").dropFirst().first.map(String.init)
            let family = name.flatMap { state.set(named: $0)?.create.family }
            let e = IpsetMessages.message(for: d, family: family)
            o = fail(e, quiet: inv.quiet, restoreLine: restore && !e.usage ? d.location.line : nil)
        }
        var next = r.state
        stamp(&next, now: env.now, newInitval: env.newInitval)
        if next != state {
            o.state = next
            if members, let changes = r.memberChanges, let set = inv.args.first {
                o.change = .members(set: set, changes: changes)
            } else {
                o.change = .structure
            }
        }
        return o
    }

    /// What the kernel decides when a set or member is created: a random initval, and
    /// for members of sets with timeouts an absolute deadline (0 means permanent).
    static func stamp(_ state: inout IpsetState, now: Int64, newInitval: () -> UInt32) {
        for k in state.slots.indices {
            guard var s = state.slots[k] else { continue }
            var changed = false
            if s.create.type.isHash && s.create.initval == nil {
                s.create.initval = newInitval()
                changed = true
            }
            if let d = s.create.timeout {
                for i in s.entries.indices where s.entries[i].expiresAt == nil && s.entries[i].timeout != 0 {
                    let t = s.entries[i].timeout ?? d
                    if t == 0 {
                        s.entries[i].timeout = 0
                    } else {
                        s.entries[i].expiresAt = now + Int64(t) * 1000
                    }
                    changed = true
                }
            }
            if changed { state.slots[k] = s }
        }
    }
}
