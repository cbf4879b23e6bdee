/// A value with iptables' `!` in front of it.
public struct Negatable<Value: Equatable & Sendable>: Equatable, Sendable {
    public var value: Value
    public var negated: Bool
    public init(_ value: Value, negated: Bool = false) {
        self.value = value
        self.negated = negated
    }
}

/// `[packets:bytes]` as `-c` and chain lines carry them.
public struct Counters: Equatable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// One rule of a chain, after `-s a,b` lists were expanded (iptables makes one rule per address).
/// Equality ignores where the rule was written and its counters: `-D` and `-C` compare rules that way.
public struct Rule: Equatable, Sendable {
    public var source: Negatable<IPPrefix>?
    public var destination: Negatable<IPPrefix>?
    public var inInterface: Negatable<String>?
    public var outInterface: Negatable<String>?
    /// IP protocol number; `-p all` / `-p 0` leave it nil, as the kernel does.
    public var proto: Negatable<UInt8>?
    /// `-f` (true) or `! -f` (false); IPv4 only.
    public var fragment: Bool?
    public var matches: [Match]
    public var target: Target?
    public var counters: Counters?
    public var location: SourceLocation?

    public init(source: Negatable<IPPrefix>? = nil, destination: Negatable<IPPrefix>? = nil,
                inInterface: Negatable<String>? = nil, outInterface: Negatable<String>? = nil,
                proto: Negatable<UInt8>? = nil, fragment: Bool? = nil, matches: [Match] = [],
                target: Target? = nil, counters: Counters? = nil, location: SourceLocation? = nil) {
        self.source = source
        self.destination = destination
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.proto = proto
        self.fragment = fragment
        self.matches = matches
        self.target = target
        self.counters = counters
        self.location = location
    }

    public static func == (a: Rule, b: Rule) -> Bool {
        a.source == b.source && a.destination == b.destination && a.inInterface == b.inInterface
            && a.outInterface == b.outInterface && a.proto == b.proto && a.fragment == b.fragment
            && a.matches == b.matches && a.target == b.target
    }
}

/// What a rule does when it matches.
public enum Target: Equatable, Sendable {
    case accept
    case drop
    case `return`
    case queue
    case reject(RejectTarget)
    case log(LogTarget)
    /// `-j CHAIN` into a user chain.
    case jump(String)
    /// `-g CHAIN`: like a jump, but RETURN from there returns to this chain's caller.
    case goto(String)
    /// A target we parse and print but do not model (MASQUERADE, DNAT, MARK, ...).
    case opaque(ExtensionCall)

    /// The name after `-j` (or `-g`).
    public var name: String {
        switch self {
        case .accept: "ACCEPT"
        case .drop: "DROP"
        case .return: "RETURN"
        case .queue: "QUEUE"
        case .reject: "REJECT"
        case .log: "LOG"
        case .jump(let c), .goto(let c): c
        case .opaque(let e): e.name
        }
    }
}

public struct RejectTarget: Equatable, Sendable {
    /// Canonical name as iptables-save prints it (`icmp-port-unreachable`, `tcp-reset`, `icmp6-port-unreachable`...).
    public var with: String
    public init(with: String) { self.with = with }
}

public struct LogTarget: Equatable, Sendable {
    public var prefix: String?
    public var level: UInt8
    public var tcpSequence = false
    public var tcpOptions = false
    public var ipOptions = false
    public var uid = false
    public var macDecode = false
    public init(prefix: String? = nil, level: UInt8 = 4) {
        self.prefix = prefix
        self.level = level
    }
}

/// An extension (match or target) kept by name with its options in canonical
/// order, so it is never dropped and later stages can name it in reports.
public struct ExtensionCall: Equatable, Sendable {
    public var name: String
    public var options: [ExtensionOption]
    public init(name: String, options: [ExtensionOption]) {
        self.name = name
        self.options = options
    }
}

public struct ExtensionOption: Equatable, Sendable {
    /// Long name without dashes, canonical (abbreviations resolved).
    public var name: String
    public var negated: Bool
    public var args: [String]
    public init(_ name: String, negated: Bool = false, args: [String] = []) {
        self.name = name
        self.negated = negated
        self.args = args
    }
}
