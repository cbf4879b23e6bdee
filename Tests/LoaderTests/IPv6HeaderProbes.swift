import TestSupport

/// The probes of the IPv6 differential tests for one kind of test each: the hop limit,
/// the routing header, the fragment header and the set of headers.
extension IPv6DifferentialTests {
    /// UDP datagrams to DNS, SIP and a closed port behind each list of extension headers.
    static func udpBehind(_ headers: [(String, [IPv6Frame.Ext])], sources: [String], firstPort: UInt16,
                          naming kind: String) -> [(String, IPv6Frame)] {
        var out: [(String, IPv6Frame)] = []
        var port = firstPort
        for src in sources {
            for (what, ext) in headers {
                for dport: UInt16 in [53, 5060, 9999] {
                    port &+= 1
                    var f = IPv6Frame(src: src, dst: local, proto: 17); f.dport = dport; f.sport = port; f.ext = ext
                    out.append(("udp \(src) -> \(dport), \(kind) \(what)", f))
                }
            }
        }
        return out
    }

    /// The hop-limit probes (ip6t_hl's =, !=, < and > on each side of their values): every
    /// source × each hop limit for a few services.
    static func hopLimitProbes(sources: [String]) -> [(String, IPv6Frame)] {
        var out: [(String, IPv6Frame)] = []
        var port: UInt16 = 30000
        for src in sources {
            for (proto, dport, limits) in [(UInt8(17), UInt16(123), [255, 254, 1]), (17, 12000, [1, 2, 3, 64]),
                                           (6, 80, [128, 129, 255]), (17, 5060, [63, 64, 65])] as [(UInt8, UInt16, [UInt8])] {
                for hl in limits {
                    port &+= 1
                    var f = IPv6Frame(src: src, dst: local, proto: proto); f.dport = dport; f.sport = port; f.hopLimit = hl
                    out.append(("\(proto == 6 ? "tcp" : "udp") \(src) -> \(dport) hop limit \(hl)", f))
                }
            }
            for hl: UInt8 in [1, 2] {
                port &+= 1
                var e = IPv6Frame(src: src, dst: local, proto: 58); e.icmpType = 128; e.sport = port; e.hopLimit = hl
                out.append(("echo request \(src) hop limit \(hl)", e))
            }
        }
        return out
    }

    /// The routing-header probes: each type and segments-left on each side of the rules'
    /// values, a long type-2 header, a routing header after destination options, and two
    /// routing headers (ip6t_rt tests the first).
    static func routingProbes(sources: [String]) -> [(String, IPv6Frame)] {
        let headers: [(String, [IPv6Frame.Ext])] = [
            ("none", []),
            ("type 0, 0 left", [.routingHeader(type: 0, segmentsLeft: 0, addresses: 1)]),
            ("type 0, 1 left", [.routingHeader(type: 0, segmentsLeft: 1, addresses: 1)]),
            ("type 2, 1 left", [.routingHeader(type: 2, segmentsLeft: 1, addresses: 1)]),
            ("type 2, 0 left", [.routingHeader(type: 2, segmentsLeft: 0, addresses: 1)]),
            ("type 2, 1 left, 40 bytes", [.routingHeader(type: 2, segmentsLeft: 1, addresses: 2)]),
            ("type 3, 0 left", [.routingHeader(type: 3, segmentsLeft: 0, addresses: 1)]),
            ("type 4, 0 left", [.routingHeader(type: 4, segmentsLeft: 0, addresses: 1)]),
            ("type 4, 2 left", [.routingHeader(type: 4, segmentsLeft: 2, addresses: 2)]),
            ("destination options, type 0", [.destination(extraUnits: 0), .routingHeader(type: 0, segmentsLeft: 0, addresses: 1)]),
            ("type 4 then type 0", [.routingHeader(type: 4, segmentsLeft: 0, addresses: 1), .routingHeader(type: 0, segmentsLeft: 0, addresses: 1)]),
        ]
        return udpBehind(headers, sources: sources, firstPort: 40000, naming: "routing header")
    }

    /// The fragment-header probes: no fragment header, atomic and first fragments with
    /// identifications inside and outside the rules' ranges, and a non-first fragment (XDP
    /// passes it; the kernel judges it alone, no conntrack here).
    static func fragmentProbes(sources: [String]) -> [(String, IPv6Frame)] {
        var headers: [(String, [IPv6Frame.Ext])] = [("none", [])]
        for id: UInt32 in [150, 500, 5000] {
            headers.append(("atomic, id \(id)", [.fragment(offset: 0, more: false, id: id)]))
            headers.append(("first, id \(id)", [.fragment(offset: 0, more: true, id: id)]))
        }
        headers.append(("non-first, id 500", [.fragment(offset: 8, more: false, id: 500)]))
        headers.append(("destination options, first, id 5000", [.destination(extraUnits: 0), .fragment(offset: 0, more: true, id: 5000)]))
        return udpBehind(headers, sources: sources, firstPort: 45000, naming: "fragment header")
    }

    /// The header-set probes: UDP behind each combination of extension headers, and ESP
    /// (8 bytes, and 1: too short for ip6t_ipv6header) and "no next header", bare and
    /// behind destination options.
    static func headerSetProbes(sources: [String]) -> [(String, IPv6Frame)] {
        let pad = [UInt8](repeating: 0, count: 6)
        let headers: [(String, [IPv6Frame.Ext])] = [
            ("none", []), ("hop-by-hop", [.hopByHop(options: pad)]), ("destination options", [.destination(extraUnits: 0)]),
            ("routing", [.routing]), ("atomic fragment", [.fragment(offset: 0, more: false, id: 7)]),
            ("destination options + fragment", [.destination(extraUnits: 0), .fragment(offset: 0, more: false, id: 8)]),
            ("hop-by-hop + destination options", [.hopByHop(options: pad), .destination(extraUnits: 0)]),
        ]
        var out = udpBehind(headers, sources: sources, firstPort: 50000, naming: "headers")
        for src in sources {
            for (what, proto, payload, ext) in [("ESP", UInt8(50), 8, [IPv6Frame.Ext]()), ("ESP, 1 byte", 50, 1, []),
                                                 ("no next header", 59, 0, []),
                                                 ("destination options + ESP", 50, 8, [.destination(extraUnits: 0)]),
                                                 ("destination options + no next header", 59, 0, [.destination(extraUnits: 0)])] {
                var f = IPv6Frame(src: src, dst: local, proto: proto); f.payload = [UInt8](repeating: 0x11, count: payload); f.ext = ext
                out.append(("\(what) from \(src)", f))
            }
        }
        return out
    }
}
