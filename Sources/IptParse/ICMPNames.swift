/// ICMP and ICMPv6 type names iptables accepts, with the code range each stands for.
enum ICMPNames {
    struct Entry {
        var name: String
        var type: UInt8
        var codes: ClosedRange<UInt8>
    }

    static let v4: [Entry] = [
        .init(name: "any", type: 255, codes: 0...255),
        .init(name: "echo-reply", type: 0, codes: 0...255), .init(name: "pong", type: 0, codes: 0...255),
        .init(name: "destination-unreachable", type: 3, codes: 0...255),
        .init(name: "network-unreachable", type: 3, codes: 0...0),
        .init(name: "host-unreachable", type: 3, codes: 1...1),
        .init(name: "protocol-unreachable", type: 3, codes: 2...2),
        .init(name: "port-unreachable", type: 3, codes: 3...3),
        .init(name: "fragmentation-needed", type: 3, codes: 4...4),
        .init(name: "source-route-failed", type: 3, codes: 5...5),
        .init(name: "network-unknown", type: 3, codes: 6...6),
        .init(name: "host-unknown", type: 3, codes: 7...7),
        .init(name: "network-prohibited", type: 3, codes: 9...9),
        .init(name: "host-prohibited", type: 3, codes: 10...10),
        .init(name: "TOS-network-unreachable", type: 3, codes: 11...11),
        .init(name: "TOS-host-unreachable", type: 3, codes: 12...12),
        .init(name: "communication-prohibited", type: 3, codes: 13...13),
        .init(name: "host-precedence-violation", type: 3, codes: 14...14),
        .init(name: "precedence-cutoff", type: 3, codes: 15...15),
        .init(name: "source-quench", type: 4, codes: 0...255),
        .init(name: "redirect", type: 5, codes: 0...255),
        .init(name: "network-redirect", type: 5, codes: 0...0),
        .init(name: "host-redirect", type: 5, codes: 1...1),
        .init(name: "TOS-network-redirect", type: 5, codes: 2...2),
        .init(name: "TOS-host-redirect", type: 5, codes: 3...3),
        .init(name: "echo-request", type: 8, codes: 0...255), .init(name: "ping", type: 8, codes: 0...255),
        .init(name: "router-advertisement", type: 9, codes: 0...255),
        .init(name: "router-solicitation", type: 10, codes: 0...255),
        .init(name: "time-exceeded", type: 11, codes: 0...255), .init(name: "ttl-exceeded", type: 11, codes: 0...255),
        .init(name: "ttl-zero-during-transit", type: 11, codes: 0...0),
        .init(name: "ttl-zero-during-reassembly", type: 11, codes: 1...1),
        .init(name: "parameter-problem", type: 12, codes: 0...255),
        .init(name: "ip-header-bad", type: 12, codes: 0...0),
        .init(name: "required-option-missing", type: 12, codes: 1...1),
        .init(name: "timestamp-request", type: 13, codes: 0...255),
        .init(name: "timestamp-reply", type: 14, codes: 0...255),
        .init(name: "address-mask-request", type: 17, codes: 0...255),
        .init(name: "address-mask-reply", type: 18, codes: 0...255),
    ]

    static let v6: [Entry] = [
        .init(name: "destination-unreachable", type: 1, codes: 0...255),
        .init(name: "no-route", type: 1, codes: 0...0),
        .init(name: "communication-prohibited", type: 1, codes: 1...1),
        .init(name: "beyond-scope", type: 1, codes: 2...2),
        .init(name: "address-unreachable", type: 1, codes: 3...3),
        .init(name: "port-unreachable", type: 1, codes: 4...4),
        .init(name: "failed-policy", type: 1, codes: 5...5),
        .init(name: "reject-route", type: 1, codes: 6...6),
        .init(name: "packet-too-big", type: 2, codes: 0...255),
        .init(name: "time-exceeded", type: 3, codes: 0...255), .init(name: "ttl-exceeded", type: 3, codes: 0...255),
        .init(name: "ttl-zero-during-transit", type: 3, codes: 0...0),
        .init(name: "ttl-zero-during-reassembly", type: 3, codes: 1...1),
        .init(name: "parameter-problem", type: 4, codes: 0...255),
        .init(name: "bad-header", type: 4, codes: 0...0),
        .init(name: "unknown-header-type", type: 4, codes: 1...1),
        .init(name: "unknown-option", type: 4, codes: 2...2),
        .init(name: "echo-request", type: 128, codes: 0...255), .init(name: "ping", type: 128, codes: 0...255),
        .init(name: "echo-reply", type: 129, codes: 0...255), .init(name: "pong", type: 129, codes: 0...255),
        .init(name: "mld-listener-query", type: 130, codes: 0...255),
        .init(name: "mld-listener-report", type: 131, codes: 0...255),
        .init(name: "mld-listener-done", type: 132, codes: 0...255),
        .init(name: "mld-listener-reduction", type: 132, codes: 0...255),
        .init(name: "router-solicitation", type: 133, codes: 0...255),
        .init(name: "router-advertisement", type: 134, codes: 0...255),
        .init(name: "neighbour-solicitation", type: 135, codes: 0...255),
        .init(name: "neighbor-solicitation", type: 135, codes: 0...255),
        .init(name: "neighbour-advertisement", type: 136, codes: 0...255),
        .init(name: "neighbor-advertisement", type: 136, codes: 0...255),
        .init(name: "redirect", type: 137, codes: 0...255),
    ]

    /// `echo-request`, `8`, `3/3`: type and code range, or nil.
    static func parse(_ s: String, v6: Bool) -> (type: UInt8, codes: ClosedRange<UInt8>, any: Bool)? {
        let table = v6 ? ICMPNames.v6 : ICMPNames.v4
        if let e = table.first(where: { $0.name == s }) {
            return (e.type, e.codes, !v6 && e.name == "any")
        }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let t = UInt8(parts[0]) else { return nil }
        if parts.count == 2 {
            let r = parts[1].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let lo = UInt8(r[0]) else { return nil }
            if r.count == 2 {
                guard let hi = UInt8(r[1]), lo <= hi else { return nil }
                return (t, lo...hi, !v6 && t == 255)
            }
            // xt_icmp: type 255 matches every ICMP packet, whatever the codes.
            return (t, lo...lo, !v6 && t == 255)
        }
        return (t, 0...255, !v6 && t == 255)
    }
}
