import IptParse

public struct RuleReport: Equatable, Sendable {
    public var ref: RuleRef
    /// The rule as iptables-save prints it.
    public var text: String
    public var status: RuleStatus
    public var scope: Scope

    /// Which part of the packet's way through the kernel the rule's chain is on.
    public enum Scope: String, Equatable, Sendable {
        /// filter INPUT and the user chains it reaches: what the XDP program mirrors.
        case input
        /// raw/mangle/nat PREROUTING, mangle INPUT and their user chains.
        case beforeInput = "before-input"
        /// Everything else (FORWARD, OUTPUT, POSTROUTING, unreachable chains).
        case elsewhere
    }
}

public struct CompileReport: Equatable, Sendable {
    public var interface: String
    public var rules: [RuleReport]
    public var notes: [String]

    /// Rules before filter INPUT that hold a `KERNEL` position: every packet they may see goes up.
    public var beforeInputKernelRules: Int {
        rules.filter { if case .kernel(.beforeInput) = $0.status { true } else { false } }.count
    }

    /// Rules in that layer (nil: rules that never decide).
    public func count(_ layer: RuleStatus.Layer?, scope: RuleReport.Scope? = nil) -> Int {
        rules.filter { $0.status.layer == layer && (scope == nil || $0.scope == scope) }.count
    }
}

/// Why XDP cannot decide alone (`--xdp-only`).
public enum XDPOnlyBlocker: Equatable, Sendable {
    /// A rule holds a `KERNEL` position (in INPUT or before it).
    case kernelRule(RuleRef, KernelReason)
    /// The nat table has rules: packets of NATed connections must go up.
    case natTable(rules: Int)

    public var detail: String {
        switch self {
        case .kernelRule(let r, let why): "\(r.spoken) runs in the kernel: \(why.detail)"
        case .natTable(let n): "the nat table has \(n) rule\(n == 1 ? "" : "s"): packets of NATed connections are passed to the kernel"
        }
    }
}
