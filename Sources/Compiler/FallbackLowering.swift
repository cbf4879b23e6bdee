import IptParse

/// A conjunction of atoms as fallback entries. A disjunction inside one atom
/// (multiport lists) becomes one entry per alternative, all at the same position;
/// a negated disjunction (`! --dports 1,2`) cannot be said that way and is refused.
enum FallbackLowering {
    static let maxEntriesPerRule = 32

    static func lower(_ atoms: [Atom], position: UInt32) throws(Unsupported) -> [CompiledTables.FallbackRule] {
        var alternatives = [CompiledTables.FallbackRule(position: position)]
        func each(_ f: (inout CompiledTables.FallbackRule) -> Void) {
            for i in alternatives.indices { f(&alternatives[i]) }
        }
        func fork(_ ranges: [ClosedRange<UInt16>], negated: Bool, _ set: @escaping (inout CompiledTables.FallbackRule, Negatable<ClosedRange<UInt16>>) -> Void) throws(Unsupported) {
            if negated && ranges.count > 1 {
                throw Unsupported(reason: "a negated port list is not one range", advice: "write it as one negated range, or as separate rules")
            }
            alternatives = alternatives.flatMap { base in
                ranges.map { r in
                    var copy = base
                    set(&copy, Negatable(r, negated: negated))
                    return copy
                }
            }
            if alternatives.count > maxEntriesPerRule {
                throw Unsupported(reason: "the rule expands to more than \(maxEntriesPerRule) fallback entries", advice: "split it")
            }
        }
        var seen = Set<String>()
        for a in atoms {
            // Normalization merged what can be merged; two tests of one kind left here are not one entry.
            let kind = "\(a)".prefix { $0 != "(" }
            if !seen.insert(String(kind)).inserted {
                throw Unsupported(reason: "two \(kind) tests in one rule cannot share one fallback entry", advice: "split the rule")
            }
            switch a {
            case .source(let p, let n):
                each { $0.source = Negatable(p, negated: n) }
            case .destination(let p, let n):
                each { $0.destination = Negatable(p, negated: n) }
            case .proto(let p, let n):
                each { $0.proto = Negatable(p, negated: n) }
            case .sourcePorts(let r, let n):
                try fork(r, negated: n) { $0.sourcePorts = $1 }
            case .destinationPorts(let r, let n):
                try fork(r, negated: n) { $0.destinationPorts = $1 }
            case .eitherPorts(let r, let n):
                try fork(r, negated: n) { $0.eitherPort = $1 }
            case .tcpFlags(let f, let n):
                each { $0.tcpFlags = Negatable(f, negated: n) }
            case .icmp(let i, let n):
                each { $0.icmp = Negatable(i, negated: n) }
            case .conntrack(let s, let n):
                each { $0.conntrack = Negatable(s, negated: n) }
            case .fragment(let f):
                each { $0.fragment = f }
            case .length(let r, let n):
                each { $0.length = Negatable(r, negated: n) }
            case .ttl(let t):
                each { $0.ttl = t }
            case .sourceSet:
                throw Unsupported(reason: "a set match together with tests other than protocol and destination port",
                                  advice: "move the other tests into a chain that the set rule jumps to")
            }
        }
        return alternatives
    }
}
