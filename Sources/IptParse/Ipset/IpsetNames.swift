/// Name tables ipset uses when reading and printing entries. They are built in
/// rather than read from /etc/protocols and /etc/services so a parse gives the
/// same answer on every machine; the printed names are the ones ipset 7.17
/// prints on Debian 12 (checked against the kernel).
enum IpsetNames {
    static let protoTCP: UInt8 = 6
    static let protoUDP: UInt8 = 17
    static let protoICMP: UInt8 = 1
    static let protoICMPv6: UInt8 = 58

    /// Printed name first; parsing accepts every alias.
    static let protocols: [(name: String, number: UInt8)] = [
        ("icmp", 1), ("igmp", 2), ("ipencap", 4), ("tcp", 6), ("udp", 17),
        ("ipv6", 41), ("gre", 47), ("esp", 50), ("ah", 51), ("ipv6-icmp", 58),
        ("ospf", 89), ("pim", 103), ("vrrp", 112), ("sctp", 132), ("udplite", 136),
        ("icmpv6", 58), ("IPv6-ICMP", 58), ("TCP", 6), ("UDP", 17), ("ICMP", 1),
    ]

    static func protocolNumber(_ name: String) -> UInt8? {
        if let n = UInt8(name) { return protocolName(n) == nil ? nil : n }
        return protocols.first { $0.name == name }?.number
    }

    static func protocolName(_ number: UInt8) -> String? {
        protocols.first { $0.number == number }?.name
    }

    /// Protocols whose entries carry a real port; the others take pseudo port 0 only.
    static func hasPorts(_ proto: UInt8) -> Bool {
        proto == 6 || proto == 17 || proto == 132 || proto == 136
    }

    /// ipset lib/icmp.c, in its order: the first name of a type/code is the printed one.
    static let icmp: [(name: String, type: UInt8, code: UInt8)] = [
        ("echo-reply", 0, 0), ("pong", 0, 0),
        ("network-unreachable", 3, 0), ("host-unreachable", 3, 1),
        ("protocol-unreachable", 3, 2), ("port-unreachable", 3, 3),
        ("fragmentation-needed", 3, 4), ("source-route-failed", 3, 5),
        ("network-unknown", 3, 6), ("host-unknown", 3, 7),
        ("network-prohibited", 3, 9), ("host-prohibited", 3, 10),
        ("TOS-network-unreachable", 3, 11), ("TOS-host-unreachable", 3, 12),
        ("communication-prohibited", 3, 13), ("host-precedence-violation", 3, 14),
        ("precedence-cutoff", 3, 15), ("source-quench", 4, 0),
        ("network-redirect", 5, 0), ("host-redirect", 5, 1),
        ("TOS-network-redirect", 5, 2), ("TOS-host-redirect", 5, 3),
        ("echo-request", 8, 0), ("ping", 8, 0),
        ("router-advertisement", 9, 0), ("router-solicitation", 10, 0),
        ("ttl-zero-during-transit", 11, 0), ("ttl-zero-during-reassembly", 11, 1),
        ("ip-header-bad", 12, 0), ("required-option-missing", 12, 1),
        ("timestamp-request", 13, 0), ("timestamp-reply", 14, 0),
        ("address-mask-request", 17, 0), ("address-mask-reply", 18, 0),
    ]

    /// ipset lib/icmpv6.c (including its historical misspellings as aliases).
    static let icmpv6: [(name: String, type: UInt8, code: UInt8)] = [
        ("no-route", 1, 0), ("communication-prohibited", 1, 1),
        ("address-unreachable", 1, 3), ("port-unreachable", 1, 4),
        ("packet-too-big", 2, 0), ("ttl-zero-during-transit", 3, 0),
        ("ttl-zero-during-reassembly", 3, 1), ("bad-header", 4, 0),
        ("unknown-header-type", 4, 1), ("unknown-option", 4, 2),
        ("echo-request", 128, 0), ("ping", 128, 0),
        ("echo-reply", 129, 0), ("pong", 129, 0),
        ("router-solicitation", 133, 0), ("router-advertisement", 134, 0),
        ("neighbour-solicitation", 135, 0), ("neigbour-solicitation", 135, 0),
        ("neighbour-advertisement", 136, 0), ("neigbour-advertisement", 136, 0),
        ("redirect", 137, 0),
    ]

    /// A few well-known service names (ipset asks getservbyname); numbers are
    /// always printed, so only parsing needs these.
    static let services: [String: UInt16] = [
        "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "http": 80,
        "pop3": 110, "ntp": 123, "imap2": 143, "snmp": 161, "bgp": 179, "ldap": 389,
        "https": 443, "submission": 587, "imaps": 993, "pop3s": 995, "openvpn": 1194,
        "mysql": 3306, "sip": 5060, "sip-tls": 5061, "postgresql": 5432,
    ]
}

/// Address and number printing in exactly the spelling `ipset save` uses.
enum IpsetFormat {
    static func address(_ a: IpsetAddress) -> String {
        a.family == .inet ? ipv4(UInt32(truncatingIfNeeded: a.lo)) : ipv6(hi: a.hi, lo: a.lo)
    }

    static func ipv4(_ v: UInt32) -> String {
        "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
    }

    /// glibc inet_ntop: longest run (>= 2) of zero groups becomes `::`, the
    /// first one on a tie; `::a.b.c.d` and `::ffff:a.b.c.d` keep a dotted tail.
    static func ipv6(hi: UInt64, lo: UInt64) -> String {
        var words = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            words[i] = UInt16(truncatingIfNeeded: hi >> (48 - 16 * UInt64(i)))
            words[i + 4] = UInt16(truncatingIfNeeded: lo >> (48 - 16 * UInt64(i)))
        }
        var bestStart = -1, bestLen = 0, curStart = -1, curLen = 0
        for i in 0..<8 {
            if words[i] == 0 {
                if curStart < 0 { curStart = i; curLen = 1 } else { curLen += 1 }
                if curLen > bestLen { bestStart = curStart; bestLen = curLen }
            } else {
                curStart = -1
                curLen = 0
            }
        }
        if bestLen < 2 { bestStart = -1; bestLen = 0 }
        var out = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                i += bestLen
                continue
            }
            if i == 6 && bestStart == 0 && (bestLen == 6 || (bestLen == 5 && words[5] == 0xffff)) {
                if !out.hasSuffix(":") { out += ":" }
                out += ipv4(UInt32(truncatingIfNeeded: lo))
                break
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(words[i], radix: 16)
            i += 1
        }
        return out
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    static func mac(_ v: UInt64) -> String {
        (0..<6).map { i -> String in
            let b = UInt8(truncatingIfNeeded: v >> (40 - 8 * UInt64(i)))
            let s = String(b, radix: 16, uppercase: true)
            return b < 16 ? "0" + s : s
        }.joined(separator: ":")
    }
}
