import IptParse

/// A rule of the INPUT chain after user chains were inlined: the conjunction of the
/// tests on the way to it, and a terminal verdict. Order is iptables' evaluation order.
struct FlatRule: Equatable {
    var atoms: [Atom]
    var verdict: CompiledTables.Verdict
    /// The rule that decides, and the jumps that led to it (for the report).
    var origin: RuleRef
}

/// Where a rule was written: its chain and index, and its source location.
public struct RuleRef: Equatable, Hashable, Sendable {
    public var table: String
    public var chain: String
    /// 1-based, as `iptables -L --line-numbers` counts.
    public var index: Int
    public var line: Int?
    public init(table: String, chain: String, index: Int, line: Int?) {
        self.table = table
        self.chain = chain
        self.index = index
        self.line = line
    }
}

/// Inlines the chains INPUT reaches. A jump conjoins its tests with the callee's rules;
/// a conditional RETURN (or a goto that falls through) excludes the rest of its chain
/// for the packets it matched, which one negated atom can say when the rule has one test;
/// otherwise the rule is refused as inexpressible.
struct ChainFlattener {
    let table: Table
    let lowering: AtomLowering
    let options: CompileOptions
    let policy: CompiledTables.Verdict
    var flat: [FlatRule] = []
    var statuses: [RuleRef: RuleStatus] = [:]
    var reached: Set<String> = []
    /// Chains a jump or goto that could not be compiled leads into, with that rule.
    var enteredByUnsupported: [String: RuleRef] = [:]

    /// Packets an unsupported RETURN or goto would have taken out of the rest of a chain:
    /// the tests of it we can read (a superset of what it matches), and the rule.
    struct Taint {
        var conds: [Atom]
        var by: RuleRef
    }

    init(table: Table, lowering: AtomLowering, options: CompileOptions, policy: CompiledTables.Verdict) {
        self.table = table
        self.lowering = lowering
        self.options = options
        self.policy = policy
    }

    mutating func setStatus(_ ref: RuleRef, _ s: RuleStatus) {
        // A rule reached along several paths keeps its worst status.
        if let old = statuses[ref], old.severity >= s.severity { return }
        statuses[ref] = s
    }

    /// Walks `chain` for packets that satisfy `context`. `topLevel`: the chain is INPUT,
    /// whose RETURN and fall-through mean "apply the policy".
    /// iptables itself allows deep nesting; inlining beyond this would grow without bound.
    static let maxDepth = 64

    mutating func walk(_ chainName: String, context: [Atom], topLevel: Bool, depth: Int = 0, taints inherited: [Taint] = []) {
        guard let chain = table.chain(chainName) else { return }
        reached.insert(chainName)
        var excluded: [Atom] = []
        var taints = inherited
        for (i, rule) in chain.rules.enumerated() {
            let ref = RuleRef(table: table.name, chain: chainName, index: i + 1, line: rule.location?.line)
            let own: [Atom]
            do {
                guard let a = try lowering.atoms(of: rule) else {
                    setStatus(ref, .neverMatches("its -i does not match interface \(lowering.interface)"))
                    continue
                }
                own = a
            } catch {
                setStatus(ref, .unsupported(error.reason, advice: error.advice))
                // What iptables does with the packets this rule matches decides where they go next.
                let known = context + excluded + lowering.knownAtoms(of: rule)
                switch rule.target {
                case .return?:
                    taints.append(Taint(conds: known, by: ref))
                case .goto(let target)?:
                    taints.append(Taint(conds: known, by: ref))
                    enteredByUnsupported[target] = enteredByUnsupported[target] ?? ref
                case .jump(let target)?:
                    enteredByUnsupported[target] = enteredByUnsupported[target] ?? ref
                default:
                    break // a terminal rule decides itself; LOG and the like let packets go on unchanged
                }
                continue
            }
            let conds = context + excluded + own
            func emit(_ v: CompiledTables.Verdict, _ status: RuleStatus) {
                flat.append(FlatRule(atoms: conds, verdict: v, origin: ref))
                setStatus(ref, status)
                if let t = taints.first(where: { Overlap.possible($0.conds, conds) }) {
                    setStatus(ref, .dependsOnUnsupported(t.by))
                }
            }
            /// The rest of this chain is for packets this rule did not match.
            func exclude() -> Bool {
                if own.isEmpty { return false }
                if own.count == 1, let n = own[0].negation {
                    excluded.append(n)
                    return true
                }
                setStatus(ref, .unsupported("a RETURN or goto with \(own.count) tests cannot be inlined exactly",
                                            advice: "split the rule so that it has a single test, or use a chain per test"))
                taints.append(Taint(conds: conds, by: ref))
                return true
            }
            switch rule.target {
            case .accept?: emit(.accept, .compiled)
            case .drop?: emit(.drop, .compiled)
            case .reject?:
                if options.rejectAsDrop {
                    emit(.drop, .changedOnRequest("REJECT compiled as DROP (--reject-as-drop): no ICMP/RST reply is sent"))
                } else {
                    setStatus(ref, .unsupported("REJECT answers with an ICMP error or a TCP reset, which the XDP program does not send",
                                                advice: "pass --reject-as-drop to drop these packets silently instead"))
                }
            case .return?:
                if topLevel {
                    emit(policy, .compiled)
                    if own.isEmpty { return }
                } else {
                    setStatus(ref, .compiled)
                    if !exclude() { return }
                }
            case .jump(let target)?:
                guard depth + 1 < Self.maxDepth else {
                    setStatus(ref, .unsupported("chains nested deeper than \(Self.maxDepth) levels are not inlined", advice: "flatten the chain structure"))
                    continue
                }
                setStatus(ref, .compiled)
                walk(target, context: conds, topLevel: false, depth: depth + 1, taints: taints)
            case .goto(let target)?:
                guard depth + 1 < Self.maxDepth else {
                    setStatus(ref, .unsupported("chains nested deeper than \(Self.maxDepth) levels are not inlined", advice: "flatten the chain structure"))
                    continue
                }
                setStatus(ref, .compiled)
                walk(target, context: conds, topLevel: false, depth: depth + 1, taints: taints)
                if topLevel {
                    // Falling off the end of a chain entered by goto from INPUT applies INPUT's policy.
                    emit(policy, .compiled)
                    if own.isEmpty { return }
                } else if !exclude() {
                    return
                }
            case nil:
                setStatus(ref, .noEffect("no target: it only counts packets"))
            case .log?:
                setStatus(ref, .unsupported("LOG writes to the kernel log, which the XDP program does not do",
                                            advice: "remove the LOG rule or keep logging in iptables"))
            case .queue?, .opaque?:
                setStatus(ref, .unsupported("target \(rule.target?.name ?? "") is not available in XDP", advice: "keep this rule in iptables"))
            }
        }
    }
}

extension ChainFlattener {
    /// After the walk: every rule of a chain that an uncompiled jump or goto leads into, and
    /// of the chains it leads on to, depends on that rule (iptables runs it for packets XDP
    /// never sends there).
    mutating func markEnteredByUnsupported() {
        var queue = enteredByUnsupported.map { ($0.key, $0.value) }
        var seen: Set<String> = []
        while let (name, by) = queue.popLast() {
            guard seen.insert(name).inserted, let chain = table.chain(name) else { continue }
            for (i, rule) in chain.rules.enumerated() {
                let ref = RuleRef(table: table.name, chain: name, index: i + 1, line: rule.location?.line)
                setStatus(ref, .dependsOnUnsupported(by))
                switch rule.target {
                case .jump(let t)?, .goto(let t)?: queue.append((t, by))
                default: break
                }
            }
        }
    }
}

/// Whether two conjunctions of tests can hold for one packet. "Yes" unless a protocol,
/// prefix, port range, fragment or conntrack test of one contradicts one of the other:
/// a cheap over-approximation, used only to decide which rules an unsupported one may affect.
enum Overlap {
    static func possible(_ a: [Atom], _ b: [Atom]) -> Bool {
        for x in a { for y in b where contradicts(x, y) { return false } }
        return true
    }

    static func contradicts(_ x: Atom, _ y: Atom) -> Bool {
        switch (x, y) {
        case (.proto(let p, let n), .proto(let q, let m)):
            return (!n && !m && p != q) || (n != m && p == q)
        case (.source(let p, false), .source(let q, false)), (.destination(let p, false), .destination(let q, false)):
            return !p.contains(q) && !q.contains(p)
        case (.source(let p, let n), .source(let q, let m)), (.destination(let p, let n), .destination(let q, let m)):
            // x inside y's negation (or the reverse) and both exact: no packet has both.
            return n != m && (n ? p.contains(q) : q.contains(p))
        case (.destinationPorts(let r, false), .destinationPorts(let s, false)), (.sourcePorts(let r, false), .sourcePorts(let s, false)):
            return !r.contains { a in s.contains { b in a.overlaps(b) } }
        case (.fragment(let f), .fragment(let g)):
            return f != g
        case (.conntrack(let s, false), .conntrack(let t, false)):
            return s.intersection(t).isEmpty
        default:
            return false
        }
    }
}
