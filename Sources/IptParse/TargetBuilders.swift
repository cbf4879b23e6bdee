/// From `-j NAME --options` to a typed target (REJECT, LOG) or a canonical opaque one.
extension CommandLineParser {
    static let rejectNames4: [String: String] = [
        "icmp-net-unreachable": "icmp-net-unreachable", "net-unreach": "icmp-net-unreachable",
        "icmp-host-unreachable": "icmp-host-unreachable", "host-unreach": "icmp-host-unreachable",
        "icmp-proto-unreachable": "icmp-proto-unreachable", "proto-unreach": "icmp-proto-unreachable",
        "icmp-port-unreachable": "icmp-port-unreachable", "port-unreach": "icmp-port-unreachable",
        "icmp-net-prohibited": "icmp-net-prohibited", "net-prohib": "icmp-net-prohibited",
        "icmp-host-prohibited": "icmp-host-prohibited", "host-prohib": "icmp-host-prohibited",
        "tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
        "icmp-admin-prohibited": "icmp-admin-prohibited", "admin-prohib": "icmp-admin-prohibited",
    ]
    static let rejectNames6: [String: String] = [
        "icmp6-no-route": "icmp6-no-route", "no-route": "icmp6-no-route",
        "icmp6-adm-prohibited": "icmp6-adm-prohibited", "adm-prohibited": "icmp6-adm-prohibited",
        "icmp6-addr-unreachable": "icmp6-addr-unreachable", "addr-unreach": "icmp6-addr-unreachable",
        "icmp6-port-unreachable": "icmp6-port-unreachable", "port-unreach": "icmp6-port-unreachable",
        "icmp6-policy-fail": "icmp6-policy-fail", "policy-fail": "icmp6-policy-fail",
        "icmp6-reject-route": "icmp6-reject-route", "reject-route": "icmp6-reject-route",
        "tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
    ]
    static let logLevels: [String: UInt8] = [
        "emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "warn": 4,
        "notice": 5, "info": 6, "debug": 7,
    ]

    func buildTarget(_ e: LoadedExtension) throws(Diagnostic) -> Target {
        // libxt_SET parses by hand and never looks at `!`: iptables drops it silently.
        for g in e.given where g.negated && e.spec.name != "SET" {
            throw fail("bad-negation", "target options cannot be negated", g.word)
        }
        switch e.spec.name {
        case "REJECT":
            let names = family == .ipv4 ? Self.rejectNames4 : Self.rejectNames6
            var with = family == .ipv4 ? "icmp-port-unreachable" : "icmp6-port-unreachable"
            if let g = e.given.first {
                guard let n = names[g.args[0].text] else {
                    throw fail("bad-reject", "unknown reject type '\(g.args[0].text)'", g.args[0])
                }
                with = n
                if n == "tcp-reset", proto?.value != 6 || proto?.negated == true {
                    throw fail("reject-needs-tcp", "'--reject-with tcp-reset' needs '-p tcp': only TCP can be reset", g.args[0])
                }
            }
            return .reject(RejectTarget(with: with))
        case "LOG":
            var t = LogTarget()
            for g in e.given {
                switch g.option.name {
                case "log-prefix":
                    // libxt_LOG keeps the first 29 bytes of a longer prefix, without a word
                    // (iptables and iptables-restore 1.8.9). A cut inside a UTF-8 character
                    // leaves bytes we cannot hold as text: refused.
                    let bytes = Array(g.args[0].text.utf8)
                    guard let prefix = bytes.count <= 29 ? g.args[0].text : String(validating: bytes.prefix(29), as: UTF8.self) else {
                        throw fail("too-long", "log prefix is longer than 29 bytes and cut inside a character", g.args[0])
                    }
                    t.prefix = prefix
                case "log-level":
                    let s = g.args[0].text.lowercased()
                    if let n = UInt8(s), n <= 7 { t.level = n }
                    else if let n = Self.logLevels[s] { t.level = n }
                    else { throw fail("bad-log-level", "unknown log level '\(g.args[0].text)' (0-7 or emerg..debug)", g.args[0]) }
                case "log-tcp-sequence": t.tcpSequence = true
                case "log-tcp-options": t.tcpOptions = true
                case "log-ip-options": t.ipOptions = true
                case "log-uid": t.uid = true
                default: t.macDecode = true
                }
            }
            return .log(t)
        default:
            return .opaque(try OpaqueCanonicalizer.target(e, family: family, parser: self))
        }
    }
}
