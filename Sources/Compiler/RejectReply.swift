import IptParse

/// The reply a REJECT rule sends, as the kernel's ipt_REJECT sends it for IPv4: an ICMP
/// destination-unreachable with one of seven codes (nf_send_unreach -> icmp_send), or a TCP
/// reset (nf_send_reset). XDP builds the same bytes (bpf/reject.h).
public enum RejectReply: Equatable, Hashable, Sendable {
    case icmpUnreachable(code: UInt8)
    case tcpReset

    /// `--reject-with` names as iptables-save prints them (IPv4 only: ip6tables' replies are
    /// never answered from XDP, which judges IPv4).
    public init?(with name: String) {
        switch name {
        case "icmp-net-unreachable": self = .icmpUnreachable(code: 0)
        case "icmp-host-unreachable": self = .icmpUnreachable(code: 1)
        case "icmp-proto-unreachable": self = .icmpUnreachable(code: 2)
        case "icmp-port-unreachable": self = .icmpUnreachable(code: 3)
        case "icmp-net-prohibited": self = .icmpUnreachable(code: 9)
        case "icmp-host-prohibited": self = .icmpUnreachable(code: 10)
        case "icmp-admin-prohibited": self = .icmpUnreachable(code: 13)
        case "tcp-reset": self = .tcpReset
        default: return nil
        }
    }

    /// `eipt_rule_info.reject_with`: the ICMP code, or EIPT_REJECT_TCP_RESET (255).
    public var wire: UInt8 {
        switch self {
        case .icmpUnreachable(let code): code
        case .tcpReset: 255
        }
    }

    public var name: String {
        switch self {
        case .icmpUnreachable(let code): "ICMP destination unreachable code \(code)"
        case .tcpReset: "a TCP reset"
        }
    }

    /// Whether the kernel's reply passes no rule of its own on the way out: REJECT's replies
    /// go through OUTPUT and POSTROUTING (raw, mangle, nat, filter, security), which XDP's
    /// XDP_TX skips. Only when those chains hold no rule and accept by policy is XDP's reply
    /// the kernel's; the nat table must be empty too (conntrack NATs replies of NATed flows).
    static func replyPathClear(_ ruleset: Ruleset) -> Bool {
        guard ruleset.family == .ipv4 else { return false }
        for table in ruleset.tables {
            if table.name == "nat", table.chains.contains(where: { !$0.rules.isEmpty }) { return false }
            for name in ["OUTPUT", "POSTROUTING"] {
                guard let chain = table.chain(name) else { continue }
                if !chain.rules.isEmpty { return false }
                if let p = chain.policy, p != "ACCEPT" { return false }
            }
        }
        return true
    }
}
