import IptParse

/// Where a rule was written: its table, chain and index, and its source location.
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

    var spoken: String { "\(table)/\(chain) rule \(index)\(line.map { " (line \($0))" } ?? "")" }
}

/// Where a rule runs. The kernel holds every rule; `xdp` says XDP decides the packets
/// the rule matches before they reach it, `kernel` says XDP passes them up for the
/// kernel to decide. The other cases are informational: the rule never decides.
public enum RuleStatus: Equatable, Sendable {
    case xdp(XDPPlacement)
    case kernel(KernelReason)
    /// No target: it only counts packets.
    case noEffect
    /// An earlier rule decides every packet it matches.
    case shadowed(by: RuleRef)
    case neverMatches(NeverMatches)
    /// No built-in chain of its table reaches its chain.
    case unreachable

    public enum Layer: String, Equatable, Sendable, CaseIterable { case xdp, kernel }

    /// nil for rules that never decide (no effect, shadowed, never matching, unreachable).
    public var layer: Layer? {
        switch self {
        case .xdp: .xdp
        case .kernel: .kernel
        case .noEffect, .shadowed, .neverMatches, .unreachable: nil
        }
    }
}

/// How XDP decides a rule's packets.
public enum XDPPlacement: Equatable, Sendable {
    case keyed(KeyedTable, entries: Int)
    case fallback(entries: Int)
    /// Fallback entries that test a conntrack state, looked up in the kernel's table
    /// (`bpf_xdp_ct_lookup`).
    case conntrackLookup(fallbackEntries: Int)
    /// A jump, goto or RETURN whose tests are part of the positions it leads to.
    case inlined(Inlined)
    /// REJECT compiled as DROP because `--reject-as-drop` asked for it: no ICMP/RST is sent.
    indirect case rejectAsDrop(XDPPlacement)
    /// REJECT answered from XDP with the kernel's reply (bpf/reject.h).
    indirect case rejectReply(RejectReply, XDPPlacement)
    /// REJECT answered from XDP for the originals whose reply is proven to pass its way out
    /// (ReplyStateSplit); `goingUp` says which originals go up to the kernel's REJECT, and why.
    indirect case rejectReplyByState(RejectReply, goingUp: String, XDPPlacement)
    /// Matched in XDP, which goes on after it and counts it when it decides the packet: a
    /// rule whose target does not end iptables' walk (ContinuePositions.swift).
    indirect case continues(ContinueKind, XDPPlacement)

    public enum KeyedTable: String, Equatable, Sendable {
        case catchAll = "catch-all"
        case protocolPort = "protocol/port"
        case sourcePrefix = "source prefix"
        case sourceProtocolPort = "source/protocol/port"
    }

    public enum Inlined: Equatable, Sendable {
        case jump(String)
        case goto(String)
        case `return`
        /// raw PREROUTING's NOTRACK, folded into the state tests after it (NotrackFold).
        case notrack
    }
}

/// Why XDP passes a rule's packets to the kernel.
public enum KernelReason: Equatable, Sendable {
    /// Tests XDP cannot decide; its position holds the others.
    case unsupportedTests([UnsupportedTest])
    /// A target XDP does not perform: LOG, QUEUE, NFQUEUE, SET, ... (non-terminal or unknown).
    case target(String)
    /// REJECT answers with an ICMP error or a TCP reset; `--reject-as-drop` drops instead.
    case reject
    /// REJECT whose reply's way out (OUTPUT, POSTROUTING) is not proven untouched (ReplyPath):
    /// the kernel sends the reply; the text says which rule or policy stood in the way.
    case rejectPath(String)
    /// No target: it only counts, and only the kernel can count what it matches.
    case countsOnly
    /// No target, and a recent test XDP evaluates: XDP records the list update as the kernel
    /// does and goes on; the kernel still counts (only the packets it sees).
    case recentActs(list: String)
    /// A RETURN or goto (falling through) whose tests cannot be inlined: it takes its packets
    /// out of the rest of its chain, which the positions after it would have to say exactly.
    case multiTestReturn(target: String, tests: Int, why: ReturnLimit)
    case nestedTooDeep(limit: Int)
    case missingChain(String)
    /// A state test after a conditional NOTRACK whose untracked and tracked cases would need
    /// more alternatives than a position holds (or a NOTRACK test without a negation atom).
    case untrackedSplit(limit: Int)
    /// In a chain that runs before filter INPUT, with a target that may change the packet
    /// or what INPUT sees of it (DNAT, MARK, NOTRACK, LOG, ...).
    case beforeInput(table: String, chain: String, target: String)
    /// The first rule that did not fit the program: a catch-all `KERNEL` position.
    case capacity(Capacity)
    /// After the capacity cut at that rule: everything goes to the kernel.
    case afterCapacityCut(RuleRef)
    /// In a chain entered only through a rule that runs in the kernel.
    case reachedThrough(RuleRef)
    /// An earlier rule that runs in the kernel takes every packet this one matches in XDP.
    case coveredBy(RuleRef)
    /// An ip6tables rule: XDP judges IPv4 packets only.
    case otherFamily
    /// In a chain no packet for this host passes through in XDP's place (FORWARD, OUTPUT,
    /// POSTROUTING, and the user chains only those reach).
    case kernelOnly(table: String, builtins: [String])

    public enum ReturnLimit: Equatable, Sendable {
        /// A test whose negation no atom says (a set with counters, a stateful extension).
        case notInvertible(String)
        /// The packets staying in the chain would need more alternatives per position.
        case tooManyAlternatives(limit: Int)
    }

    public enum Capacity: Equatable, Sendable {
        case fallback(limit: Int)
        case positions(limit: Int)
    }
}

public enum NeverMatches: Equatable, Sendable {
    /// Its `-i` excludes the interface the tables are for.
    case interface(String)
    /// Its tests contradict each other, after inlining the chains that lead to it.
    case contradiction
}

extension RuleStatus {
    /// Short name used in reports and JSON (never compared by code).
    public var name: String {
        switch self {
        case .xdp(let p): p.name
        case .kernel: "kernel"
        case .noEffect: "no-effect"
        case .shadowed: "shadowed"
        case .neverMatches: "never-matches"
        case .unreachable: "unreachable"
        }
    }

    public var detail: String {
        switch self {
        case .xdp(let p): p.detail
        case .kernel(let r): r.detail
        case .noEffect: "no target: it only counts packets"
        case .shadowed(let r): "every packet it matches is decided earlier by \(r.spoken)"
        case .neverMatches(.interface(let i)): "its -i \(i) excludes this interface"
        case .neverMatches(.contradiction): "its tests contradict each other (after inlining the chains that lead to it)"
        case .unreachable: "no packet reaches it: no built-in chain leads to its chain, or the rules before it take every packet"
        }
    }
}

extension XDPPlacement {
    public var name: String {
        switch self {
        case .keyed: "keyed"
        case .fallback: "fallback"
        case .conntrackLookup: "conntrack"
        case .inlined: "inlined"
        case .rejectAsDrop: "reject-as-drop"
        case .rejectReply(_, let p): p.name
        case .rejectReplyByState(_, _, let p): p.name
        case .continues: "continue"
        }
    }

    public var detail: String {
        switch self {
        case .keyed(let t, let n): "\(t.rawValue) table, \(n) entr\(n == 1 ? "y" : "ies")"
        case .fallback(let n): "fallback list, \(n) entr\(n == 1 ? "y" : "ies")"
        case .conntrackLookup(let n):
            "conntrack state looked up in the kernel's table (bpf_xdp_ct_lookup); \(n) fallback entr\(n == 1 ? "y" : "ies")"
        case .inlined(.jump(let c)): "jump to \(c) inlined into the rules it leads to"
        case .inlined(.goto(let c)): "goto \(c) inlined into the rules it leads to"
        case .inlined(.return): "RETURN inlined into the rules after it"
        case .inlined(.notrack): "NOTRACK folded into the state tests of the rules after it (its packets answer them as UNTRACKED)"
        case .rejectAsDrop(let p): "REJECT compiled as DROP (--reject-as-drop): no ICMP/RST reply is sent; \(p.detail)"
        case .rejectReply(let r, let p):
            "answered from XDP with \(r.name), the kernel's reply (passed up where XDP cannot be sure of it); \(p.detail)"
        case .rejectReplyByState(let r, let up, let p):
            "answered from XDP with \(r.name), the kernel's reply (passed up where XDP cannot be sure of it), for the originals whose conntrack state says how the reply leaves; \(up); \(p.detail)"
        case .continues(let k, let p): "\(k.detail); \(p.detail)"
        }
    }
}

extension KernelReason {
    /// Short stable id, for JSON.
    public var id: String {
        switch self {
        case .unsupportedTests(let tests):
            tests.allSatisfy { if case .dynamicSet = $0 { true } else { false } } ? "dynamic-set" : "unsupported-test"
        case .target: "target"
        case .reject, .rejectPath: "reject"
        case .countsOnly: "counts-only"
        case .recentActs: "recent-acts"
        case .multiTestReturn: "multi-test-return"
        case .nestedTooDeep: "nested-too-deep"
        case .untrackedSplit: "untracked-split"
        case .missingChain: "missing-chain"
        case .beforeInput: "before-input"
        case .capacity: "capacity"
        case .afterCapacityCut: "after-capacity-cut"
        case .reachedThrough: "reached-through-kernel-rule"
        case .coveredBy: "covered-by-kernel-rule"
        case .otherFamily: "other-family"
        case .kernelOnly: "kernel-only-chain"
        }
    }

    public var detail: String {
        switch self {
        case .unsupportedTests(let tests): tests.map(\.description).joined(separator: "; ")
        case .target(let name): "target \(name) is not performed in XDP"
        case .reject:
            "REJECT's reply goes through OUTPUT and POSTROUTING, whose rules (or the nat table, or --xdp-only) XDP's reply would skip: the kernel sends it (--reject-as-drop drops instead)"
        case .rejectPath(let why):
            "REJECT's reply goes through OUTPUT and POSTROUTING, which XDP's reply would skip, and not provably untouched there (\(why)): the kernel sends it (--reject-as-drop drops instead)"
        case .countsOnly: "no target: it only counts, and only the kernel counts what it matches"
        case .recentActs(let list):
            "no target: XDP records its packets in recent list \(list) as the kernel does and goes on; its counter is the kernel's (packets XDP drops further on are not counted here)"
        case .multiTestReturn(let target, let n, .notInvertible(let kind)):
            "\(target) with \(n) test\(n == 1 ? "" : "s"): the \(kind) test has no negation XDP can evaluate, so the packets staying in its chain cannot be told apart"
        case .multiTestReturn(let target, let n, .tooManyAlternatives(let limit)):
            "\(target) with \(n) tests: the packets staying in its chain would need more than \(limit) alternatives per rule"
        case .nestedTooDeep(let n): "chains nested deeper than \(n) levels are not inlined"
        case .untrackedSplit(let n):
            "a NOTRACK in raw PREROUTING makes some of its packets UNTRACKED; its state test would need more than \(n) alternatives to tell them apart"
        case .missingChain(let c): "jump to chain \(c), which does not exist"
        case .beforeInput(let t, let c, let target):
            "\(t) \(c) runs before filter INPUT and its target \(target) acts on the packet there (it may change it or what INPUT sees of it): XDP must not drop what it may see"
        case .capacity(.fallback(let n)): "the fallback list is full (\(n) entries): from here on everything goes to the kernel"
        case .capacity(.positions(let n)): "the program holds \(n) positions: from here on everything goes to the kernel"
        case .afterCapacityCut(let r): "after the capacity cut at \(r.spoken)"
        case .reachedThrough(let r): "its chain is entered through \(r.spoken), which runs in the kernel"
        case .otherFamily: "XDP judges IPv4 packets only and passes the others to the kernel"
        case .coveredBy(let r): "\(r.spoken), which runs in the kernel, takes every packet it matches before XDP could decide it"
        case .kernelOnly(let t, let b):
            b.isEmpty ? "the \(t) table runs in the kernel only" : "in the kernel only: reached from \(t) \(b.joined(separator: "/"))"
        }
    }
}
