import IptParse

/// One test of a rule after lowering; a flattened rule is a conjunction of atoms.
/// Only tests the XDP program can decide exactly become atoms.
public enum Atom: Equatable, Sendable {
    case source(CompiledTables.Prefix, negated: Bool)
    /// `-m set --match-set NAME src` over a hash:ip / hash:net set.
    case sourceSet(String, negated: Bool)
    case destination(CompiledTables.Prefix, negated: Bool)
    case proto(UInt8, negated: Bool)
    case sourcePorts([ClosedRange<UInt16>], negated: Bool)
    case destinationPorts([ClosedRange<UInt16>], negated: Bool)
    case eitherPorts([ClosedRange<UInt16>], negated: Bool)
    case tcpFlags(TCPFlags, negated: Bool)
    case icmp(CompiledTables.ICMPTest, negated: Bool)
    case conntrack(ConntrackStates, negated: Bool)
    /// true: a non-first fragment (`-f`); false: not one (also implied by every L4 match).
    case fragment(Bool)
    case length(ClosedRange<UInt16>, negated: Bool)
    case ttl(TTLMatch)
    /// A test evaluated by an extension function of the program (ExtTest.swift).
    case ext(ExtTest)

    /// The kind of test, as a word for reports (two of one kind cannot share a fallback entry).
    var kind: String {
        switch self {
        case .source: "source"
        case .sourceSet: "set"
        case .destination: "destination"
        case .proto: "protocol"
        case .sourcePorts: "source port"
        case .destinationPorts: "destination port"
        case .eitherPorts: "port"
        case .tcpFlags: "TCP flags"
        case .icmp: "ICMP type"
        case .conntrack: "conntrack state"
        case .fragment: "fragment"
        case .length: "length"
        case .ttl: "TTL"
        case .ext(let e): e.kind
        }
    }

    /// The same test negated, when one atom can say it (used for RETURN and goto).
    var negation: Atom? {
        switch self {
        case .source(let p, let n): .source(p, negated: !n)
        case .sourceSet(let s, let n): .sourceSet(s, negated: !n)
        case .destination(let p, let n): .destination(p, negated: !n)
        case .proto(let p, let n): .proto(p, negated: !n)
        case .sourcePorts(let r, let n): .sourcePorts(r, negated: !n)
        case .destinationPorts(let r, let n): .destinationPorts(r, negated: !n)
        case .eitherPorts(let r, let n): .eitherPorts(r, negated: !n)
        case .tcpFlags(let f, let n): .tcpFlags(f, negated: !n)
        case .icmp(let i, let n): .icmp(i, negated: !n)
        case .conntrack(let s, let n): .conntrack(s, negated: !n)
        case .fragment(let f): .fragment(!f)
        case .length(let r, let n): .length(r, negated: !n)
        case .ttl(let t): t.negation.map { .ttl($0) }
        case .ext(let e): e.negation.map { .ext($0) }
        }
    }
}
