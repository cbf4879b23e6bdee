/// ipset's own command line (`ipset [options] COMMAND [args]`, options also after the
/// command) into an invocation. The messages and exit statuses are ipset 7.17's, since
/// scripts match on them; the set arguments themselves are read by the restore-line
/// parser, which knows the same syntax.
public struct IpsetInvocation: Sendable, Equatable {
    /// The command word, aliases resolved (`-A` is `add`).
    public enum Command: String, Sendable, CaseIterable {
        case create, add, del, test, list, save, restore, flush, destroy, swap, rename, version, help
    }

    /// `-output`: list's default is plain, save's is save.
    public enum Output: String, Sendable { case plain, save, xml }

    public var command: Command
    /// Words after the command, global options removed.
    public var args: [String] = []
    /// `-exist`/`-!`: no error for existing sets or members, or missing members on del.
    public var exist = false
    /// `-quiet`: errors and test answers are not printed; the status stays.
    public var quiet = false
    /// `-name`, `-terse`, `-sorted`, `-resolve` of list.
    public var namesOnly = false
    public var terse = false
    public var sorted = false
    public var resolve = false
    /// `-output` and `-file` (list/save write there, restore reads it).
    public var output: Output?
    public var file: String?

    public init(command: Command) { self.command = command }
}

/// A command line ipset refuses before doing anything. `usage` errors are ipset's
/// parameter problems: exit status 2 and the "Try `ipset help'" hint.
public struct IpsetUsageError: Error, Sendable, Equatable {
    public var message: String
    public var usage: Bool

    public init(_ message: String, usage: Bool = true) {
        self.message = message
        self.usage = usage
    }
}

/// Reads ipset's argv.
public enum IpsetArgv {
    /// Command words and their aliases (ipset's long, short-letter and old dash forms).
    static let commands: [String: IpsetInvocation.Command] = {
        var m: [String: IpsetInvocation.Command] = [:]
        let table: [(IpsetInvocation.Command, [String])] = [
            (.create, ["create", "n", "-N", "--create"]), (.add, ["add", "a", "-A", "--add"]),
            (.del, ["del", "d", "-D", "--del"]), (.test, ["test", "t", "-T", "--test"]),
            (.list, ["list", "l", "-L", "--list"]), (.save, ["save", "s", "-S", "--save"]),
            (.restore, ["restore", "r", "-R", "--restore"]), (.flush, ["flush", "f", "-F", "--flush"]),
            (.destroy, ["destroy", "x", "-X", "--destroy"]), (.swap, ["swap", "w", "-W", "--swap"]),
            (.rename, ["rename", "e", "-E", "--rename"]),
            (.version, ["version", "v", "-V", "-v", "--version"]), (.help, ["help", "h", "-h", "-H", "--help"]),
        ]
        for (c, names) in table { for n in names { m[n] = c } }
        return m
    }()

    /// Parses argv (without the program name).
    public static func parse(_ argv: [String]) throws(IpsetUsageError) -> IpsetInvocation {
        var command: IpsetInvocation.Command?
        var inv = IpsetInvocation(command: .help)
        var rest: [String] = []
        var i = 0
        while i < argv.count {
            let w = argv[i]
            // A comment's text is a value, whatever it looks like.
            let isValue = i > 0 && argv[i - 1] == "comment" && command != nil
            let opt = w.hasPrefix("--") ? String(w.dropFirst()) : w
            if !isValue, w.hasPrefix("-"), try globalOption(opt, argv, &i, &inv) {
                i += 1
                continue
            }
            if command == nil {
                guard let c = commands[w] else {
                    throw IpsetUsageError("No command specified: unknown argument \(w)")
                }
                command = c
            } else {
                rest.append(w)
            }
            i += 1
        }
        guard let command else { throw IpsetUsageError("No command specified.") }
        inv.command = command
        inv.args = rest
        try checkArity(inv)
        return inv
    }

    /// Handles option `opt` at `argv[i]`; false when it is not a global option.
    static func globalOption(_ opt: String, _ argv: [String], _ i: inout Int,
                             _ inv: inout IpsetInvocation) throws(IpsetUsageError) -> Bool {
        switch opt {
        case "-exist", "-!": inv.exist = true
        case "-quiet", "-q": inv.quiet = true
        case "-name", "-n": inv.namesOnly = true
        case "-terse", "-t": inv.terse = true
        case "-sorted", "-s": inv.sorted = true
        case "-resolve", "-r": inv.resolve = true
        case "-output", "-o", "-file", "-f":
            guard i + 1 < argv.count else {
                throw IpsetUsageError("Missing mandatory argument to option \(argv[i])")
            }
            i += 1
            if opt.hasPrefix("-o") {
                guard let o = IpsetInvocation.Output(rawValue: argv[i]) else {
                    throw IpsetUsageError("Syntax error: unknown output mode '\(argv[i])'", usage: false)
                }
                inv.output = o
            } else {
                inv.file = argv[i]
            }
        default: return false
        }
        return true
    }

    /// Argument counts per command, with ipset's wording.
    static func checkArity(_ inv: IpsetInvocation) throws(IpsetUsageError) {
        let name = inv.command.rawValue
        let n = inv.args.count
        switch inv.command {
        case .create, .add, .del, .test, .swap, .rename:
            if n == 0 { throw IpsetUsageError("Missing mandatory argument to command \(name)") }
            if n == 1 { throw IpsetUsageError("Missing second mandatory argument to command \(name)") }
            if (inv.command == .swap || inv.command == .rename) && n > 2 {
                throw IpsetUsageError("Unknown argument \(inv.args[2])")
            }
        case .list, .save, .flush, .destroy:
            if n > 1 { throw IpsetUsageError("Unknown argument \(inv.args[1])") }
        case .restore, .version:
            if n > 0 && inv.command == .version { throw IpsetUsageError("Unknown argument \(inv.args[0])") }
        case .help: break
        }
    }
}
