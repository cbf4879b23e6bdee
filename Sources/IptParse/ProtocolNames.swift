import Foundation

/// IP protocol and service names. iptables asks the C library (/etc/protocols,
/// /etc/services); we read the same files when present and fall back to the
/// Debian netbase entries that matter for firewalls, so parsing does not depend
/// on what a minimal container happens to ship.
enum ProtocolNames {
    static let fallbackProtocols: [(String, UInt8)] = [
        ("ip", 0), ("icmp", 1), ("igmp", 2), ("ipencap", 4), ("st", 5), ("tcp", 6), ("egp", 8), ("igp", 9),
        ("pup", 12), ("udp", 17), ("hmp", 20), ("xns-idp", 22), ("rdp", 27), ("iso-tp4", 29), ("dccp", 33),
        ("xtp", 36), ("ddp", 37), ("idpr-cmtp", 38), ("ipv6", 41), ("ipv6-route", 43), ("ipv6-frag", 44),
        ("idrp", 45), ("rsvp", 46), ("gre", 47), ("esp", 50), ("ah", 51), ("skip", 57), ("ipv6-icmp", 58),
        ("ipv6-nonxt", 59), ("ipv6-opts", 60), ("rspf", 73), ("vmtp", 81), ("eigrp", 88), ("ospf", 89),
        ("ax.25", 93), ("ipip", 94), ("etherip", 97), ("encap", 98), ("pim", 103), ("ipcomp", 108),
        ("vrrp", 112), ("l2tp", 115), ("isis", 124), ("sctp", 132), ("fc", 133), ("mobility-header", 135),
        ("udplite", 136), ("mpls-in-ip", 137), ("manet", 138), ("hip", 139), ("shim6", 140), ("wesp", 141),
        ("rohc", 142), ("ethernet", 143),
    ]

    /// (name, number, aliases) from /etc/protocols, or the fallback.
    static let table: (byName: [String: UInt8], byNumber: [UInt8: String]) = {
        var byName: [String: UInt8] = [:]
        var byNumber: [UInt8: String] = [:]
        if let text = try? String(contentsOfFile: "/etc/protocols", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let body = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                let f = body.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard f.count >= 2, let n = UInt8(f[1]) else { continue }
                byName[String(f[0])] = byName[String(f[0])] ?? n
                for alias in f.dropFirst(2) { byName[String(alias)] = byName[String(alias)] ?? n }
                if byNumber[n] == nil { byNumber[n] = String(f[0]) }
            }
        }
        if byNumber.isEmpty {
            for (name, n) in fallbackProtocols {
                byName[name] = n
                byNumber[n] = byNumber[n] ?? name
            }
        }
        return (byName, byNumber)
    }()

    /// iptables' own names win over the C library's (xtables_chain_protos).
    static let iptablesNames: [String: UInt8] = [
        "tcp": 6, "sctp": 132, "udp": 17, "udplite": 136, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58,
        "esp": 50, "ah": 51, "ipv6-mh": 135, "mh": 135, "all": 0,
    ]

    /// `-p` argument (already lowercased) to a protocol number.
    static func parse(_ s: String) -> UInt8? {
        // xtables_parse_protocol: strtoul base 0 first (`0x6` and `006` are tcp, `010` is 8).
        if let n = CNumbers.strtoui(Substring(s), max: 255) { return UInt8(n) }
        if s.allSatisfy(\.isNumber) { return nil }
        if s == "all" { return 0 }
        return table.byName[s] ?? iptablesNames[s]
    }

    /// Name as iptables-save prints it, or the number.
    static func name(_ n: UInt8) -> String {
        switch n {
        case 6: return "tcp"
        case 17: return "udp"
        case 1: return "icmp"
        case 132: return "sctp"
        case 136: return "udplite"
        case 50: return "esp"
        case 51: return "ah"
        case 58: return "ipv6-icmp"
        default: return table.byNumber[n] ?? "\(n)"
        }
    }

    static let fallbackServices: [String: UInt16] = [
        "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67,
        "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "pop3": 110, "sunrpc": 111, "auth": 113,
        "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap2": 143, "imap": 143,
        "snmp": 161, "snmp-trap": 162, "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500,
        "syslog": 514, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995, "openvpn": 1194,
        "l2f": 1701, "ms-sql-s": 1433, "mysql": 3306, "sip": 5060, "sip-tls": 5061, "postgresql": 5432,
        "ipsec-nat-t": 4500, "iax": 4569,
    ]

    static let services: [String: [String: UInt16]] = {
        var out: [String: [String: UInt16]] = [:]
        guard let text = try? String(contentsOfFile: "/etc/services", encoding: .utf8) else { return out }
        for line in text.split(separator: "\n") {
            let body = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let f = body.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2 else { continue }
            let pp = f[1].split(separator: "/")
            guard pp.count == 2, let port = UInt16(pp[0]) else { continue }
            let proto = String(pp[1])
            for name in [f[0]] + f.dropFirst(2) where out[proto]?[String(name)] == nil {
                out[proto, default: [:]][String(name)] = port
            }
        }
        return out
    }()

    /// A port number or service name for a protocol (`ssh` for tcp).
    static func port(_ s: Substring, proto: String) -> UInt16? {
        if let n = UInt16(s) { return n }
        if s.isEmpty || s.allSatisfy(\.isNumber) { return nil }
        if services.isEmpty { return fallbackServices[String(s)] }
        return services[proto]?[String(s)]
    }
}
