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
}
