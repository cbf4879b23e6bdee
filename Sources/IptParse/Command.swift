/// One iptables invocation (a command line, or one command line of a restore file).
public struct IptCommand: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable {
        case append = "-A", check = "-C", delete = "-D", insert = "-I", replace = "-R"
        case list = "-L", listRules = "-S", flush = "-F", zero = "-Z"
        case newChain = "-N", deleteChain = "-X", policy = "-P", renameChain = "-E"

        /// Commands that carry a rule specification.
        public var takesRule: Bool { [.append, .check, .delete, .insert, .replace].contains(self) }
    }

    public var kind: Kind
    public var family: Family
    public var table: String
    public var chain: String?
    /// `-I CHAIN N`, `-D CHAIN N`, `-R CHAIN N`, `-S CHAIN N`, `-Z CHAIN N` (1-based).
    public var ruleNumber: Int?
    /// `-P CHAIN TARGET`'s target, `-E OLD NEW`'s new name.
    public var argument: String?
    /// The rule(s) of a rule command: `-s a,b` gives two, as in iptables.
    public var rules: [Rule]
    public var numeric = false
    public var verbose = false
    public var exact = false
    public var lineNumbers = false
    public var location: SourceLocation

    public init(kind: Kind, family: Family, table: String, chain: String? = nil, rules: [Rule] = [],
                location: SourceLocation) {
        self.kind = kind
        self.family = family
        self.table = table
        self.chain = chain
        self.rules = rules
        self.location = location
    }
}

/// What the parser needs to know about the world a command applies to.
public struct CommandContext {
    public var family: Family
    /// Set inside a restore file: the table of the current `*table` section.
    public var restoreTable: String?
    /// Whether a user chain exists in a table; decides if `-j NAME` is a jump or a target extension.
    public var chainExists: @Sendable (String, String) -> Bool
    /// When set, `-m set --match-set NAME` must name a set it knows.
    public var setExists: (@Sendable (String) -> Bool)?

    public init(family: Family, restoreTable: String? = nil,
                chainExists: @escaping @Sendable (String, String) -> Bool = { _, _ in false },
                setExists: (@Sendable (String) -> Bool)? = nil) {
        self.family = family
        self.restoreTable = restoreTable
        self.chainExists = chainExists
        self.setExists = setExists
    }
}

/// The built-in tables and their built-in chains, in the order iptables-save prints them.
public enum BuiltinTables {
    public static let chains: [String: [String]] = [
        "filter": ["INPUT", "FORWARD", "OUTPUT"],
        "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw": ["PREROUTING", "OUTPUT"],
        "security": ["INPUT", "FORWARD", "OUTPUT"],
    ]
    public static func isBuiltin(_ chain: String, in table: String) -> Bool {
        chains[table]?.contains(chain) ?? false
    }
}
