import Compiler
import IptParse

/// A tiny reference of iptables' first-match semantics over the AST, written apart from the
/// compiler (it reads `Rule` values, not atoms). Every match it cannot know for one packet
/// (limit, string, addrtype, mark, sets whose members change in the kernel, sets it was not
/// given) is a free choice: `outcomes` tries every sequence of choices, so it answers the
/// set of verdicts iptables may reach for the packet.
struct ReferenceIptables {
    let ruleset: Ruleset
    let interface: String
    /// Members of the sets whose members are fixed; any other set is a free choice.
    let staticSets: [String: [(address: UInt32, length: Int)]]

    enum Outcome: Hashable {
        case accept, drop, reject
        /// Dropped by a DROP before filter INPUT (raw/mangle PREROUTING, mangle INPUT).
        case droppedBeforeInput
        /// A rule before INPUT changed the packet (DNAT, MARK, NOTRACK) or a target whose
        /// outcome is not the ruleset's (NFQUEUE): anything may happen.
        case anything
    }

    struct Packet {
        var facts: PacketFacts
        var state: ConntrackStates
    }

    /// Choices drawn in evaluation order; `outcomes` enumerates every sequence.
    final class Chooser {
        var prefix: [Bool] = []
        var used = 0
        /// Every rule (`table/chain#index`) that ended a walk with its target, over all runs.
        var deciders: Set<String> = []
        /// Answers of choices that must agree within one walk: a `-m string` test is a function
        /// of the packet, so the same test met twice (a rule and an inlined jump) answers alike.
        var fixed: [String: Bool] = [:]
        func choose(same key: String) -> Bool {
            if let v = fixed[key] { return v }
            let v = choose()
            fixed[key] = v
            return v
        }
        func choose() -> Bool {
            defer { used += 1 }
            if used < prefix.count { return prefix[used] }
            prefix.append(false)
            return false
        }
        /// The next sequence in depth-first order, or false when all were tried.
        func advance() -> Bool {
            prefix = Array(prefix.prefix(used))
            while let last = prefix.last, last { prefix.removeLast() }
            guard !prefix.isEmpty else { return false }
            prefix[prefix.count - 1] = true
            used = 0
            fixed = [:]
            return true
        }
    }

    /// Every verdict iptables may reach, how many choice sequences were tried, and the
    /// rules that decided in any of them.
    func outcomes(_ p: Packet, limit: Int = 1 << 14) -> (Set<Outcome>, runs: Int, deciders: Set<String>) {
        let chooser = Chooser()
        var out: Set<Outcome> = []
        var runs = 0
        repeat {
            chooser.used = 0
            out.insert(run(p, chooser))
            runs += 1
        } while runs < limit && chooser.advance()
        return (out, runs, chooser.deciders)
    }

    /// `acceptedByTable`: ACCEPT before INPUT ends that table's walk; the next table runs.
    private enum ChainEnd { case verdict(Outcome), fellOff, acceptedByTable }

    private func run(_ original: Packet, _ c: Chooser) -> Outcome {
        var p = original
        // raw runs before conntrack: its state tests see no entry (INVALID), or UNTRACKED once
        // a NOTRACK attached the untracked template (xt_state.c, xt_CT.c notrack_tg).
        var inRaw = p
        inRaw.state = .invalid
        if let t = ruleset.table("raw") {
            if case .verdict(let v) = walk(t, "PREROUTING", &inRaw, c, preInput: true) { return v }
            if inRaw.state == .untracked { p.state = .untracked }
        }
        for (table, chain) in [("mangle", "PREROUTING"), ("nat", "PREROUTING"), ("mangle", "INPUT")] {
            // The nat table sees only a connection's first packet (never an untracked one).
            if table == "nat" && p.state != .new { continue }
            guard let t = ruleset.table(table) else { continue }
            if case .verdict(let v) = walk(t, chain, &p, c, preInput: true) { return v }
        }
        guard let filter = ruleset.table("filter") else { return .accept }
        switch walk(filter, "INPUT", &p, c, preInput: false) {
        case .verdict(let v): return v
        case .fellOff, .acceptedByTable: return filter.chain("INPUT")?.policy == "DROP" ? .drop : .accept
        }
    }

    private func walk(_ table: Table, _ name: String, _ p: inout Packet, _ c: Chooser, preInput: Bool, depth: Int = 0) -> ChainEnd {
        guard let chain = table.chain(name), depth < 100 else { return .fellOff }
        for (i, rule) in chain.rules.enumerated() where matches(rule, p, c) {
            switch rule.target {
            case .accept?, .drop?, .reject?, .queue?: c.deciders.insert("\(table.name)/\(name)#\(i + 1)")
            default: break
            }
            switch rule.target {
            case nil, .log?:
                continue
            case .accept?:
                // ACCEPT before INPUT only ends that table's chain.
                return preInput ? .acceptedByTable : .verdict(.accept)
            case .drop?:
                return .verdict(preInput ? .droppedBeforeInput : .drop)
            case .reject?:
                return .verdict(.reject)
            case .return?:
                return .fellOff
            case .jump(let callee)?:
                switch walk(table, callee, &p, c, preInput: preInput, depth: depth + 1) {
                case .fellOff: continue
                case let end: return end
                }
            case .goto(let callee)?:
                return walk(table, callee, &p, c, preInput: preInput, depth: depth + 1)
            case .queue?:
                return .verdict(.anything)
            case .opaque(let e)?:
                switch e.name {
                case "SET": continue // changes a set every later use of which is a free choice
                case "NOTRACK" where table.name == "raw" && e.options.isEmpty:
                    p.state = .untracked
                    continue
                case "CT" where table.name == "raw" && e.options.map(\.name) == ["notrack"]:
                    p.state = .untracked
                    continue
                case "MARK", "CONNMARK": if preInput { return .verdict(.anything) } else { continue }
                default: return .verdict(.anything) // DNAT, NOTRACK, CT, NFQUEUE, ...
                }
            }
        }
        return .fellOff
    }

    func matches(_ r: Rule, _ p: Packet, _ c: Chooser) -> Bool {
        let f = p.facts
        if let i = r.inInterface {
            let hit = i.value.hasSuffix("+") ? interface.hasPrefix(String(i.value.dropLast())) : interface == i.value
            if hit == i.negated { return false }
        }
        if let s = r.source, Self.contains(s.value, f.source) == s.negated { return false }
        if let d = r.destination, Self.contains(d.value, f.destination) == d.negated { return false }
        if let pr = r.proto, (pr.value == f.proto) == pr.negated { return false }
        for m in r.matches {
            switch m {
            case .tcp(let t):
                guard let ports = f.ports else { return false }
                if !Self.inRange(t.sourcePort, ports.source) || !Self.inRange(t.destinationPort, ports.destination) { return false }
                if let fl = t.flags, ((f.tcpFlags ?? 0) & fl.value.mask == fl.value.compare) == fl.negated { return false }
            case .udp(let u):
                guard let ports = f.ports else { return false }
                if !Self.inRange(u.sourcePort, ports.source) || !Self.inRange(u.destinationPort, ports.destination) { return false }
            case .multiport(let mp):
                guard let ports = f.ports else { return false }
                let hit = mp.ports.contains { r in
                    switch mp.direction {
                    case .source: (r.lower...r.upper).contains(ports.source)
                    case .destination: (r.lower...r.upper).contains(ports.destination)
                    case .either: (r.lower...r.upper).contains(ports.source) || (r.lower...r.upper).contains(ports.destination)
                    }
                }
                if hit == mp.negated { return false }
            case .icmp(let i):
                guard let h = f.icmp else { return false }
                let hit = i.any || (h.type == i.type && i.codes.contains(h.code))
                if hit == i.negated { return false }
            case .conntrack(let ct):
                if let s = ct.states, s.value.contains(p.state) == s.negated { return false }
                if !ct.other.isEmpty && !c.choose() { return false }
            case .state(let s):
                if s.value.contains(p.state) == s.negated { return false }
            case .set(let s):
                let member: Bool
                if s.directions == [.src], s.other.isEmpty, let members = staticSets[s.name] {
                    member = members.contains { Self.contains($0.address, $0.length, f.source) }
                } else {
                    member = c.choose()
                }
                if member == s.negated { return false }
            case .length(let l):
                if (l.value.lower...l.value.upper).contains(f.totalLength) == l.negated { return false }
            case .ttl(let t):
                let hit: Bool
                switch t.op {
                case .eq: hit = f.ttl == t.value
                case .ne: hit = f.ttl != t.value
                case .lt: hit = f.ttl < t.value
                case .gt: hit = f.ttl > t.value
                }
                if !hit { return false }
            case .comment:
                continue
            case .string(let sm):
                // Unknown bytes, but one answer per packet for one search.
                let key = "string \(sm.pattern) \(sm.algorithm) \(sm.from) \(sm.to) \(sm.ignoreCase)"
                if c.choose(same: key) == sm.negated { return false }
            case .addrtype(let a):
                // The addresses' types are a function of the packet: one answer per test.
                if !c.choose(same: "addrtype \(a)") { return false }
            case .pkttype(let t):
                if c.choose(same: "pkttype \(t.value)") == t.negated { return false }
            default:
                if !c.choose() { return false }
            }
        }
        return true
    }

    static func inRange(_ r: Negatable<ValueRange>?, _ port: UInt16) -> Bool {
        guard let r else { return true }
        // xt_tcpudp's port_match: `lo <= port <= hi` (a reversed udp range holds no port).
        return (r.value.lower <= port && port <= r.value.upper) != r.negated
    }

    static func contains(_ p: IPPrefix, _ a: UInt32) -> Bool {
        let mask = UInt32(truncatingIfNeeded: p.maskBits.lo)
        return a & mask == UInt32(truncatingIfNeeded: p.bits.lo) & mask
    }

    static func contains(_ network: UInt32, _ length: Int, _ a: UInt32) -> Bool {
        let mask: UInt32 = length == 0 ? 0 : UInt32.max << (32 - UInt32(length))
        return a & mask == network & mask
    }
}
