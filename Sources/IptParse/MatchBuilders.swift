/// From the options given to a `-m` to its typed value, with the checks the
/// kernel's extension parsers make.
extension CommandLineParser {
    func buildMatch(_ e: LoadedExtension) throws(Diagnostic) -> Match {
        switch e.spec.name {
        case "tcp": return .tcp(try tcp(e))
        case "udp":
            try requireProto(17, e)
            var m = UDPMatch()
            for g in e.given {
                let r = try portRange(g, proto: "udp")
                if g.option.name == "sport" || g.option.name == "source-port" { m.sourcePort = r } else { m.destinationPort = r }
            }
            return .udp(m)
        case "sctp":
            try requireProto(132, e)
            var m = SCTPMatch()
            for g in e.given {
                switch g.option.name {
                case "sport", "source-port": m.sourcePort = try portRange(g, proto: "sctp")
                case "dport", "destination-port": m.destinationPort = try portRange(g, proto: "sctp")
                default: m.chunkTypes = Negatable(ListFormsMZ1.sctpChunkOrder(g.args.map(\.text)), negated: g.negated)
                }
            }
            return .sctp(m)
        case "icmp", "icmp6": return try icmp(e)
        case "multiport": return .multiport(try multiport(e))
        case "conntrack": return .conntrack(try conntrack(e))
        case "state":
            guard let g = e.given.first else { throw missing(e, "--state") }
            return .state(Negatable(try states(g.args[0], conntrack: false), negated: g.negated))
        case "set": return .set(try setMatch(e))
        case "iprange":
            var m = IPRangeMatch(family: family)
            for g in e.given {
                let r = Negatable(try addressRange(g.args[0]), negated: g.negated)
                if g.option.name == "src-range" { m.source = r } else { m.destination = r }
            }
            if m.source == nil && m.destination == nil { throw missing(e, "--src-range or --dst-range") }
            return .iprange(m)
        case "addrtype":
            var m = AddrTypeMatch()
            for g in e.given {
                switch g.option.name {
                case "src-type": m.sourceTypes = Negatable(try addrTypes(g.args[0]), negated: g.negated)
                case "dst-type": m.destinationTypes = Negatable(try addrTypes(g.args[0]), negated: g.negated)
                case "limit-iface-in": m.limitIfaceIn = true
                default: m.limitIfaceOut = true
                }
            }
            return .addrtype(m)
        case "mac":
            guard let g = e.given.first else { throw missing(e, "--mac-source") }
            let parts = g.args[0].text.split(separator: ":", omittingEmptySubsequences: false)
            let bytes = parts.compactMap { $0.count <= 2 ? UInt8($0, radix: 16) : nil }
            guard parts.count == 6, bytes.count == 6 else {
                throw fail("bad-mac", "expected a MAC address like 00:11:22:33:44:55, got '\(g.args[0].text)'", g.args[0])
            }
            return .mac(Negatable(bytes, negated: g.negated))
        case "limit":
            // libxt_limit's defaults: 3/hour, burst 5.
            var m = LimitMatch(average: LimitMatch.scale * 3600 / 3)
            for g in e.given {
                if g.negated { throw fail("bad-negation", "'--\(g.option.name)' cannot be negated", g.word) }
                if g.option.name == "limit" {
                    m.average = try rate(g.args[0])
                } else {
                    guard let b = UInt32(g.args[0].text), b <= 10000 else {
                        throw fail("bad-number", "expected a burst from 0 to 10000, got '\(g.args[0].text)'", g.args[0])
                    }
                    // iptables-nft stores a burst of 0 as nft's default and reads it back as 5.
                    m.burst = b == 0 ? 5 : b
                }
            }
            return .limit(m)
        case "comment":
            guard let g = e.given.first else { throw missing(e, "--comment") }
            guard g.args[0].text.utf8.count <= 255 else {
                throw fail("too-long", "comment is longer than 255 bytes", g.args[0])
            }
            return .comment(g.args[0].text)
        case "length":
            guard let g = e.given.first else { throw missing(e, "--length") }
            return .length(Negatable(try range(g.args[0], what: "a length"), negated: g.negated))
        case "ttl", "hl":
            guard let g = e.given.first else { throw missing(e, "--\(e.spec.name)-eq") }
            let op = TTLMatch.Operator(rawValue: String(g.option.name.suffix(2))) ?? .eq
            if g.negated && op != .eq {
                throw fail("bad-negation", "'--\(g.option.name)' cannot be negated; use '! --\(e.spec.name)-eq'", g.word)
            }
            // libxt_ttl/libxt_hl: xtables_strtoui with base 0 (`0x10` is 16).
            guard let v = CNumbers.strtoui(Substring(g.args[0].text), max: 255).map(UInt8.init) else {
                throw fail("bad-number", "expected a value from 0 to 255, got '\(g.args[0].text)'", g.args[0])
            }
            let m = TTLMatch(op: g.negated ? .ne : op, value: v)
            return e.spec.name == "ttl" ? .ttl(m) : .hl(m)
        case "pkttype":
            guard let g = e.given.first else { throw missing(e, "--pkt-type") }
            // libxt_pkttype prints PACKET_HOST by its first name, `unicast` (`host` is an alias).
            guard let t = PacketType(rawValue: g.args[0].text.lowercased()).map({ $0 == .host ? .unicast : $0 }) else {
                throw fail("bad-value", "expected unicast, broadcast or multicast, got '\(g.args[0].text)'", g.args[0])
            }
            return .pkttype(Negatable(t, negated: g.negated))
        case "string": return .string(try stringMatch(e))
        case "mark":
            guard let g = e.given.first else { throw missing(e, "--mark") }
            let (v, m) = try valueMask(g.args[0])
            return .mark(MarkMatch(value: v, mask: m, negated: g.negated))
        default:
            return .opaque(try OpaqueCanonicalizer.match(e, family: family, parser: self))
        }
    }

    func missing(_ e: LoadedExtension, _ what: String) -> Diagnostic {
        fail("missing-option", "match '\(e.spec.name)' needs \(what)", e.word)
    }

    func requireProto(_ n: UInt8, _ e: LoadedExtension) throws(Diagnostic) {
        guard let p = proto, p.value == n, !p.negated else {
            // libxt_sctp leaves the protocol to the kernel, which refuses the rule (exit 4).
            if e.spec.name == "sctp" { throw ExtensionForms.kernelRefuses(self, "match sctp needs '-p sctp'", e.word) }
            throw fail("match-needs-protocol", "match '\(e.spec.name)' needs '-p \(ProtocolNames.name(n))' before it can be used", e.word)
        }
    }

    func tcp(_ e: LoadedExtension) throws(Diagnostic) -> TCPMatch {
        try requireProto(6, e)
        var m = TCPMatch()
        for g in e.given {
            switch g.option.name {
            case "sport", "source-port": m.sourcePort = try portRange(g, proto: "tcp")
            case "dport", "destination-port": m.destinationPort = try portRange(g, proto: "tcp")
            case "syn":
                if m.flags != nil { throw fail("duplicate-option", "'--syn' and '--tcp-flags' cannot both be given", g.word) }
                m.flags = Negatable(.syn, negated: g.negated)
            case "tcp-flags":
                if m.flags != nil { throw fail("duplicate-option", "'--syn' and '--tcp-flags' cannot both be given", g.word) }
                m.flags = Negatable(TCPFlags(mask: try tcpFlags(g.args[0]), compare: try tcpFlags(g.args[1])), negated: g.negated)
            default:
                guard let v = CNumbers.strtoui(Substring(g.args[0].text), min: 1, max: 255).map(UInt8.init) else {
                    throw fail("bad-number", "expected a TCP option number from 1 to 255, got '\(g.args[0].text)'", g.args[0])
                }
                m.option = Negatable(v, negated: g.negated)
            }
        }
        // iptables-nft 1.8.9 stores no test for `--tcp-flags NONE NONE` (nothing to compare):
        // `-S` shows `-m tcp`, negated the match vanishes (PortRangeForms), as the kernel holds it.
        if let f = m.flags, f.value.mask == 0, f.value.compare == 0 { m.flags = nil }
        return m
    }

    func tcpFlags(_ w: Word) throws(Diagnostic) -> UInt8 {
        let names: [String: UInt8] = ["FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0]
        var v: UInt8 = 0
        for f in w.text.split(separator: ",") {
            guard let b = names[f.uppercased()] else {
                throw fail("bad-tcp-flag", "unknown TCP flag '\(f)' (expected FIN, SYN, RST, PSH, ACK, URG, ALL or NONE)", w)
            }
            v |= b
        }
        return v
    }

    /// A port option as the kernel stores it. For tcp and udp, nf_tables keeps `! 0:N` as
    /// `N+1:65535` and keeps no test at all for `0:65535`, negated or not (nil here: iptables-nft
    /// 1.8.9 translates `! --sport 0:65535` to no test, so the kernel matches every port; see
    /// `PortRangeForms`). sctp stays an xt match: the range is kept as written.
    func portRange(_ g: LoadedExtension.Given, proto: String) throws(Diagnostic) -> Negatable<ValueRange>? {
        let long = g.option.name.hasPrefix("s") ? "source-port" : "destination-port"
        let r = proto == "udp" ? try resolvedPorts(g.args[0], option: long) : try ports(g.args[0], proto: proto)
        if proto == "sctp" { return Negatable(r, negated: g.negated) }
        if r.isFull { return nil }
        if g.negated && r.lower == 0 && r.lower < r.upper {
            return Negatable(ValueRange(r.upper + 1, 65535))
        }
        return Negatable(r, negated: g.negated)
    }

    /// `22`, `ssh`, `1024:`, `:1023`, `1000:2000`, as libxt_tcp, libxt_sctp and
    /// libxt_multiport read them (xtables_parse_port): strtoul with base 0 within 0-65535
    /// (`0x16` and `026` are 22), else a service of the protocol; `hi:lo` is refused.
    func ports(_ w: Word, proto: String, separator: Character = ":") throws(Diagnostic) -> ValueRange {
        let parts = w.text.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false)
        func one(_ s: Substring, _ dflt: UInt16) throws(Diagnostic) -> UInt16 {
            if s.isEmpty && parts.count == 2 { return dflt }
            if let n = CNumbers.strtoui(s, max: 65535) { return UInt16(n) }
            guard let p = ProtocolNames.port(s, proto: proto) else {
                throw fail("bad-port", "expected a port number (0-65535) or service name, got '\(s)'", w)
            }
            return p
        }
        let lo = try one(parts[0], 0)
        let hi = parts.count == 2 ? try one(parts[1], 65535) : lo
        guard lo <= hi else { throw fail("bad-port-range", "port range '\(w.text)' is reversed (first port must be lower)", w) }
        return ValueRange(lo, hi)
    }

    /// `--sport`/`--dport` of libxt_udp, read by xtopt's port-range type: each side through
    /// xtables_getportbyname (getaddrinfo), so a number is decimal and taken modulo 65536
    /// (`65536` is port 0) and a service of any protocol is taken; the sides are kept in
    /// the order written. iptables 1.8.9 stores `60000:29` as it is (no check of the order),
    /// and the kernel then matches no port with it (xt_udp's and nft_range's `lo <= p <= hi`);
    /// `! 60000:29` matches every port.
    func resolvedPorts(_ w: Word, option: String) throws(Diagnostic) -> ValueRange {
        let parts = w.text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw fail("too-many-components", "too many components for option '--\(option)' (max: 2) in '\(w.text)'", w)
        }
        func one(_ s: Substring, _ dflt: UInt16) throws(Diagnostic) -> UInt16 {
            if s.isEmpty && parts.count == 2 { return dflt }
            switch CNumbers.getaddrinfoPort(s) {
            case .some(.some(let p)): return p
            case .some(.none): break
            case .none:
                if let p = ProtocolNames.port(s, proto: "tcp") ?? ProtocolNames.port(s, proto: "udp") { return p }
            }
            throw fail("unresolved-port", "port '\(s)' does not resolve to anything", w)
        }
        let lo = try one(parts[0], 0)
        let hi = parts.count == 2 ? try one(parts[1], 65535) : lo
        return ValueRange(lo, hi)
    }

    func range(_ w: Word, what: String) throws(Diagnostic) -> ValueRange {
        let parts = w.text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        // `:N` is 0:N and `N:` is N:65535, as libxt_length reads them.
        let lo = parts.count == 2 && parts[0].isEmpty ? 0 : UInt16(parts[0])
        let hiText = parts.count == 2 ? parts[1] : parts[0]
        let hiValue = parts.count == 2 && hiText.isEmpty ? 65535 : UInt16(hiText)
        guard let lo, let hi = hiValue else {
            throw fail("bad-number", "expected \(what) or range like 64:1500, got '\(w.text)'", w)
        }
        guard lo <= hi else { throw fail("bad-range", "range '\(w.text)' is reversed", w) }
        return ValueRange(lo, hi)
    }

    func icmp(_ e: LoadedExtension) throws(Diagnostic) -> Match {
        let v6 = e.spec.name == "icmp6"
        if !v6, proto.map({ $0.value != 1 || $0.negated }) ?? true {
            // iptables takes `-m icmp` without `-p icmp`; the kernel refuses it (exit 4).
            throw ExtensionForms.kernelRefuses(self, "match icmp needs '-p icmp'", e.word)
        }
        try requireProto(v6 ? 58 : 1, e)
        guard let g = e.given.first else { throw missing(e, v6 ? "--icmpv6-type" : "--icmp-type") }
        guard let t = ICMPNames.parse(g.args[0].text, v6: v6) else {
            throw fail("bad-icmp-type", "unknown \(v6 ? "ICMPv6" : "ICMP") type '\(g.args[0].text)'", g.args[0])
        }
        let m = ICMPMatch(type: t.type, codes: t.codes, any: t.any, negated: g.negated)
        return v6 ? .icmp6(m) : .icmp(m)
    }

    func multiport(_ e: LoadedExtension) throws(Diagnostic) -> MultiportMatch {
        guard e.given.count == 1, let g = e.given.first else {
            if e.given.isEmpty { throw missing(e, "--dports, --sports or --ports") }
            throw fail("duplicate-option", "multiport takes one of --sports, --dports, --ports", e.given[1].word)
        }
        guard let p = proto, !p.negated, [6, 17, 132, 33, 136].contains(p.value) else {
            // libxt_multiport's check_proto, in its quotes.
            throw ExtensionForms.xt(self, "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'", e.word)
        }
        let dir: MultiportMatch.Direction
        switch g.option.name {
        case "sports", "source-ports": dir = .source
        case "dports", "destination-ports": dir = .destination
        default: dir = .either
        }
        var list: [ValueRange] = []
        var slots = 0
        var col = g.args[0].column
        for item in g.args[0].text.split(separator: ",", omittingEmptySubsequences: false) {
            let iw = Word(String(item), column: col, length: max(1, item.count))
            col += item.count + 1
            let r = try ports(iw, proto: ProtocolNames.name(p.value))
            slots += r.lower == r.upper ? 1 : 2
            list.append(r)
        }
        guard slots <= 15 else {
            throw fail("too-many-ports", "multiport takes at most 15 ports (a range counts as two)", g.args[0])
        }
        return MultiportMatch(direction: dir, ports: list, negated: g.negated)
    }

    func states(_ w: Word, conntrack: Bool) throws(Diagnostic) -> ConntrackStates {
        var s: ConntrackStates = []
        for name in w.text.split(separator: ",", omittingEmptySubsequences: false) {
            let allowed = conntrack ? ConntrackStates.names : Array(ConntrackStates.names.prefix(5))
            guard let st = allowed.first(where: { $0.0 == name.uppercased() }) else {
                throw fail("bad-state", "unknown connection state '\(name)' (expected \(allowed.map(\.0).joined(separator: ", ")))", w)
            }
            s.insert(st.1)
        }
        return s
    }

    func conntrack(_ e: LoadedExtension) throws(Diagnostic) -> ConntrackMatch {
        var m = ConntrackMatch()
        var other: [String: ExtensionOption] = [:]
        for g in e.given {
            switch g.option.name {
            case "ctstate": m.states = Negatable(try states(g.args[0], conntrack: true), negated: g.negated)
            case "ctproto":
                guard let n = ProtocolNames.parse(g.args[0].text.lowercased()) else {
                    throw fail("bad-protocol", "unknown protocol '\(g.args[0].text)'", g.args[0])
                }
                other["ctproto"] = ExtensionOption("ctproto", negated: g.negated, args: ["\(n)"])
            case "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst":
                let text: String
                if family == .ipv4, ExtensionForms.isDottedAddress(g.args[0].text) {
                    // A dotted quad (with a mask or not): libxt_conntrack's own forms.
                    text = try ExtensionForms.conntrackAddress(g.args[0].text, parser: self, word: g.args[0])
                } else {
                    // A name, or an IPv6 address: resolved as libxtables resolves host names.
                    let (given, a) = try AddressParser.single(g.args[0], family: family, source: source)
                    // The address unmasked, as conntrack keeps it: 192.0.2.7/24 is printed so.
                    let mask = a.saveText.split(separator: "/").dropFirst().first.map { "/" + $0 } ?? ""
                    text = IPAddressText.format(a.prefixLength == family.maxPrefix ? a.address : given, family: family) + (a.prefixLength == family.maxPrefix ? "" : mask)
                }
                other[g.option.name] = ExtensionOption(g.option.name, negated: g.negated, args: [text])
            case "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport":
                let text = try ExtensionForms.conntrackPort(g.args[0].text, parser: self, word: g.args[0])
                other[g.option.name] = ExtensionOption(g.option.name, negated: g.negated, args: [text])
            case "ctexpire":
                let (lo, hi) = try ExtensionForms.range32(g.args[0].text, ext: "conntrack", option: "ctexpire", parser: self, word: g.args[0])
                other["ctexpire"] = ExtensionOption("ctexpire", negated: g.negated, args: [ExtensionForms.rangeText(lo, hi)])
            case "ctstatus", "ctdir":
                other[g.option.name] = ExtensionOption(g.option.name, negated: g.negated, args: [g.args[0].text.uppercased()])
            default:
                other[g.option.name] = ExtensionOption(g.option.name, negated: g.negated, args: g.args.map(\.text))
            }
        }
        m.other = e.spec.options.compactMap { other[$0.name] }
        return m
    }

    func setMatch(_ e: LoadedExtension) throws(Diagnostic) -> SetMatch {
        guard let g = e.given.first(where: { ["match-set", "set"].contains($0.option.name) }) else {
            throw missing(e, "--match-set NAME src|dst")
        }
        let name = g.args[0].text
        guard name.count <= 31 else { throw fail("bad-set-name", "set name '\(name)' is too long (at most 31 characters)", g.args[0]) }
        var dirs: [SetMatch.Direction] = []
        for f in g.args[1].text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let d = SetMatch.Direction(rawValue: String(f)) else {
                throw fail("bad-set-flags", "expected src or dst (comma separated, up to 6), got '\(g.args[1].text)'", g.args[1])
            }
            dirs.append(d)
        }
        guard dirs.count <= 6 else { throw fail("bad-set-flags", "a set has at most 6 dimensions", g.args[1]) }
        if let check = setExists, !check(name) {
            throw fail("undefined-set", "set '\(name)' is not defined", g.args[0])
        }
        var other: [String: ExtensionOption] = [:]
        for o in e.given where o.option.name != g.option.name {
            if ["packets-eq", "packets-lt", "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"].contains(o.option.name),
               UInt64(o.args[0].text) == nil {
                throw fail("bad-number", "expected a number, got '\(o.args[0].text)'", o.args[0])
            }
            other[o.option.name] = ExtensionOption(o.option.name, negated: o.negated, args: o.args.map(\.text))
        }
        let order = ["return-nomatch", "update-counters", "update-subcounters", "packets-eq", "packets-lt",
                     "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"]
        return SetMatch(name: name, directions: dirs, negated: g.negated, other: order.compactMap { other[$0] })
    }

    func addressRange(_ w: Word) throws(Diagnostic) -> AddressRange {
        let parts = w.text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lo = AddressParser.address(parts[0], family: family) else {
            throw fail("bad-address", "expected an address range like 192.0.2.1-192.0.2.9, got '\(w.text)'", w)
        }
        guard parts.count == 2 else { return AddressRange(lower: lo, upper: lo) }
        guard let hi = AddressParser.address(parts[1], family: family) else {
            throw fail("bad-address", "expected an address range like 192.0.2.1-192.0.2.9, got '\(w.text)'", w)
        }
        return AddressRange(lower: lo, upper: hi)
    }

    func addrTypes(_ w: Word) throws(Diagnostic) -> [String] {
        var out: [String] = []
        for t in w.text.split(separator: ",") {
            guard AddrTypeMatch.order.contains(t.uppercased()) else {
                throw fail("bad-addrtype", "unknown address type '\(t)'", w)
            }
            out.append(t.uppercased())
        }
        return AddrTypeMatch.order.filter(out.contains)
    }

    /// `N/sec|min|hour|day` (any prefix of second/minute/hour/day) to the kernel's interval.
    func rate(_ w: Word) throws(Diagnostic) -> UInt32 {
        let parts = w.text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var mult: UInt64 = 1
        if parts.count == 2 {
            let u = parts[1].lowercased()
            if !u.isEmpty && "second".hasPrefix(u) { mult = 1 }
            else if !u.isEmpty && "minute".hasPrefix(u) { mult = 60 }
            else if !u.isEmpty && "hour".hasPrefix(u) { mult = 3600 }
            else if !u.isEmpty && "day".hasPrefix(u) { mult = 86400 }
            else { throw fail("bad-rate", "expected a rate like 10/sec, 3/min, 1/hour or 1/day, got '\(w.text)'", w) }
        }
        guard let r = UInt64(parts[0]), r > 0 else {
            throw fail("bad-rate", "expected a rate like 10/sec, 3/min, 1/hour or 1/day, got '\(w.text)'", w)
        }
        let v = UInt64(LimitMatch.scale) * mult / r
        guard v > 0 else { throw fail("bad-rate", "rate '\(w.text)' is too fast", w) }
        return UInt32(clamping: v)
    }

    /// xtables_parse_val_mask: value and mask read with strtoul base 0 (`010` is 8).
    func valueMask(_ w: Word) throws(Diagnostic) -> (UInt32, UInt32) {
        let parts = w.text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        func parseUInt32(_ s: Substring) -> UInt32? { ExtensionForms.parseNumber(s).flatMap { $0 <= 0xffff_ffff ? UInt32($0) : nil } }
        guard let v = parseUInt32(parts[0]), parts.count == 1 || parseUInt32(parts[1]) != nil else {
            throw fail("bad-number", "expected a value or value/mask, got '\(w.text)'", w)
        }
        return (v, parts.count == 2 ? parseUInt32(parts[1]) ?? 0 : 0xffff_ffff)
    }

    func parseUInt32(_ s: Substring) -> UInt32? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt32(s.dropFirst(2), radix: 16) }
        return UInt32(s)
    }

    func stringMatch(_ e: LoadedExtension) throws(Diagnostic) -> StringMatch {
        var m = StringMatch(pattern: [], algorithm: "", from: 0, to: 65535, ignoreCase: false, negated: false)
        var havePattern = false
        for g in e.given {
            switch g.option.name {
            case "string":
                m.pattern = Array(g.args[0].text.utf8)
                m.negated = g.negated
                havePattern = true
            case "hex-string":
                m.pattern = try hexString(g.args[0])
                m.negated = g.negated
                havePattern = true
            case "algo":
                guard ["bm", "kmp"].contains(g.args[0].text) else {
                    throw fail("bad-value", "expected algorithm bm or kmp, got '\(g.args[0].text)'", g.args[0])
                }
                m.algorithm = g.args[0].text
            case "from", "to":
                guard let v = UInt16(g.args[0].text) else {
                    throw fail("bad-number", "expected an offset from 0 to 65535, got '\(g.args[0].text)'", g.args[0])
                }
                if g.option.name == "from" { m.from = v } else { m.to = v }
            default: m.ignoreCase = true
            }
        }
        if !havePattern { throw missing(e, "--string or --hex-string") }
        if m.algorithm.isEmpty { throw missing(e, "--algo bm|kmp") }
        if m.pattern.isEmpty || m.pattern.count > 128 {
            throw fail("bad-value", "the string must be 1 to 128 bytes", e.word)
        }
        return m
    }

    /// `|41 42|abc`: hex bytes between bars, text elsewhere.
    func hexString(_ w: Word) throws(Diagnostic) -> [UInt8] {
        var out: [UInt8] = []
        var inHex = false
        var pending: [UInt8] = []
        for u in w.text.utf8 {
            if u == UInt8(ascii: "|") {
                if inHex && !pending.isEmpty { throw fail("bad-value", "odd number of hex digits in '\(w.text)'", w) }
                inHex.toggle()
                continue
            }
            if inHex {
                if u == UInt8(ascii: " ") { continue }
                guard let d = UInt8(String(UnicodeScalar(u)), radix: 16) else {
                    throw fail("bad-value", "invalid hex digit in '\(w.text)'", w)
                }
                pending.append(d)
                if pending.count == 2 { out.append(pending[0] << 4 | pending[1]); pending = [] }
            } else {
                out.append(u)
            }
        }
        if inHex { throw fail("bad-value", "unterminated '|' in '\(w.text)'", w) }
        return out
    }
}
