import Foundation

/// Integer options of extensions we keep by name, as libxt's option tables declare them
/// (XTTYPE_UINT8/16/32/64 with their bounds): read with strtoul base 0 over the whole word
/// (`0x10` is 16), refused outside the bounds with xtopt's message, printed in decimal by
/// the extensions' save functions. Options holding their default are not printed.
enum OptionValues {
    /// "EXTENSION option" -> the values xtopt accepts.
    static let integers: [String: ClosedRange<UInt64>] = [
        "NFLOG nflog-group": 0...65535, "NFLOG nflog-threshold": 0...65535, "NFLOG nflog-size": 0...0xffff_ffff,
        "NFQUEUE queue-num": 0...65535,
        "TTL ttl-set": 0...255, "TTL ttl-dec": 1...255, "TTL ttl-inc": 1...255,
        "HL hl-set": 0...255, "HL hl-dec": 1...255, "HL hl-inc": 1...255,
        "TCPMSS set-mss": 0...65515,
        "quota quota": 0...UInt64.max,
        "recent seconds": 1...0xffff_ffff, "recent hitcount": 0...0xffff_ffff,
        "statistic every": 1...0xffff_ffff, "statistic packet": 0...0xffff_ffff,
    ]

    /// Values the save functions leave out (libxt_NFLOG prints a threshold other than 0;
    /// libxt_recent a hitcount other than 0).
    static let unprinted: [String: String] = ["NFLOG nflog-threshold": "0", "recent hitcount": "0"]

    /// Every integer option of `ext` checked and printed as iptables-save prints it.
    static func integers(_ ext: String, _ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var out: [ExtensionOption] = []
        for o in opts {
            let key = ext + " " + o.name
            guard let bounds = integers[key], let text = o.args.first else { out.append(o); continue }
            guard let v = CNumbers.strtoui(Substring(text), min: bounds.lowerBound, max: bounds.upperBound) else {
                throw parser.fail("xt-message-nl", "\(ext): bad value for option \"--\(o.name)\", or out of range (\(bounds.lowerBound)-\(bounds.upperBound)).", word)
            }
            if unprinted[key] == "\(v)" { continue }
            var c = o
            c.args = ["\(v)"]
            out.append(c)
        }
        return out
    }

    /// xtopt's check of options that exclude one another: the first given in the table's
    /// order is named with the first it excludes.
    static func exclusive(_ ext: String, _ names: [String], _ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) {
        let given = opts.map(\.name).filter(names.contains)
        if given.count > 1 {
            throw parser.fail("xt-message-nl", "\(ext): option \"--\(given[0])\" cannot be used together with \"--\(given[1])\".", word)
        }
    }

    /// NFQUEUE (libxt_NFQUEUE v3): --queue-num or --queue-balance `lo:hi` (lo < hi, each
    /// 0-65535; the kernel refuses a total of 65536 queues itself), --queue-cpu-fanout only
    /// with a balance, and --queue-num 0 printed when only flags were given.
    static func nfqueue(_ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var out = try integers("NFQUEUE", opts, parser: parser, word: word)
        try exclusive("NFQUEUE", ["queue-num", "queue-balance"], out, parser: parser, word: word)
        if let i = out.firstIndex(where: { $0.name == "queue-balance" }) {
            let text = out[i].args[0]
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw parser.fail("xt-message-nl", "NFQUEUE: Too many components for option \"--queue-balance\" (max: 2)", word)
            }
            var values: [UInt64] = []
            for p in parts {
                guard let v = CNumbers.strtoui(p, max: 65535) else {
                    throw parser.fail("xt-message-nl", "NFQUEUE: bad value for option \"--queue-balance\" near \"\(p)\", or out of range (0-65535).", word)
                }
                values.append(v)
            }
            guard values.count == 2 else { throw parser.fail("xt-message", "Bad range \"\(text)\"", word) }
            guard values[0] < values[1] else { throw parser.fail("xt-message", "\(values[0]) should be less than \(values[1])", word) }
            out[i].args = ["\(values[0]):\(values[1])"]
        } else {
            if out.contains(where: { $0.name == "queue-cpu-fanout" }) {
                throw parser.fail("xt-message-nl", "NFQUEUE: option \"--queue-cpu-fanout\" also requires \"--queue-balance\".", word)
            }
            if !out.contains(where: { $0.name == "queue-num" }) { out.insert(ExtensionOption("queue-num", args: ["0"]), at: 0) }
        }
        return out
    }

    /// TTL/HL: exactly one action.
    static func ttlTarget(_ ext: String, _ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        let out = try integers(ext, opts, parser: parser, word: word)
        let p = ext == "TTL" ? "ttl" : "hl"
        try exclusive(ext, ["\(p)-set", "\(p)-dec", "\(p)-inc"], out, parser: parser, word: word)
        guard !out.isEmpty else { throw parser.fail("xt-message", "\(ext): You must specify an action", word) }
        return out
    }

    /// A NAT port or port range (libxt_REDIRECT, libxt_MASQUERADE, libxt_NAT): a number
    /// (strtoul base 0, at most 65535) or a service name, then `-hi`; printed `lo` or
    /// `lo-hi`. nil plus iptables' message when refused.
    /// `shift`: DNAT/SNAT's `lo-hi/base` (a shifted port map, libxt_NAT revision 2); REDIRECT
    /// and MASQUERADE refuse it.
    static func natPorts(_ text: Substring, shift: Bool) -> Result<String, NatPortError> {
        var lo: UInt64
        var rest: Substring
        if let p = CNumbers.strtouiPrefix(text, max: 65535) {
            (lo, rest) = (p.value, p.rest)
        } else if let p = ProtocolNames.port(text, proto: "tcp") ?? ProtocolNames.port(text, proto: "udp") {
            (lo, rest) = (UInt64(p), "")
        } else {
            return .failure(.init(message: "Port `\(text)' not valid"))
        }
        var hi = lo
        switch rest.first {
        case nil: break
        case "-":
            let after = rest.dropFirst()
            let slash = after.firstIndex(of: "/")
            let hiText = after[..<(slash ?? after.endIndex)]
            guard let h = CNumbers.strtoui(hiText, max: 65535) else {
                return .failure(.init(message: "Port `\(slash == nil ? after : hiText)' not valid"))
            }
            guard h >= lo else { return .failure(.init(message: "Port range `\(after)' funky")) }
            hi = h
            if let slash {
                guard shift else { return .failure(.init(message: "Shifted portmap ranges not supported with this kernel")) }
                let baseText = after[after.index(after: slash)...]
                guard let base = CNumbers.strtoui(baseText, max: 65535) else {
                    return .failure(.init(message: "Port `\(baseText)' not valid"))
                }
                return .success((lo == hi ? "\(lo)" : "\(lo)-\(hi)") + "/\(base)")
            }
        case "/" where shift:
            // What iptables-save prints for `lo-lo/base` (iptables itself refuses to read it
            // back, "Garbage after port value"); read here so the kernel's own save parses.
            guard let base = CNumbers.strtoui(rest.dropFirst(), max: 65535) else {
                return .failure(.init(message: "Garbage after port value: `\(rest)'"))
            }
            return .success("\(lo)/\(base)")
        case ":":
            return .failure(.init(message: "Invalid port:port syntax - use dash"))
        default:
            return .failure(.init(message: "Garbage after port value: `\(rest)'"))
        }
        return .success(lo == hi ? "\(lo)" : "\(lo)-\(hi)")
    }

    struct NatPortError: Error { var message: String }

    /// `--to-destination`/`--to-source` with its port part printed as iptables-save does.
    static func natTarget(_ text: String, family: Family, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        let split: String.Index?
        if family == .ipv4 {
            split = text.firstIndex(of: ":")
        } else {
            split = text.hasPrefix("[") ? text.range(of: "]:").map { text.index(after: $0.lowerBound) } : nil
        }
        // libxt_NAT reads the address part (`a.b.c.d[-e.f.g.h]`, left out only before a
        // port) with inet_pton: anything else, a name or `01.2.3.4` too, is refused.
        if family == .ipv4 {
            let addr = split.map { String(text[..<$0]) } ?? text
            if split == nil || !addr.isEmpty {
                for part in addr.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false) where !OptionValues.strictDottedQuad(part) {
                    throw ExtensionForms.xt(parser, "Bad IP address \"\(part)\"", word)
                }
            }
        }
        guard let colon = split else { return text }
        let portText = text[text.index(after: colon)...]
        // A second colon in an IPv4 address part is the address parser's refusal.
        if family == .ipv4, portText.contains(":") { return text }
        switch natPorts(portText, shift: true) {
        case .success(let p): return String(text[..<colon]) + ":" + p
        case .failure(let e): throw parser.fail("xt-message", e.message, word)
        }
    }

    /// TCPOPTSTRIP's option names (libxt_TCPOPTSTRIP) and numbers, printed as the kernel's
    /// bitmap: ascending numbers, each once.
    static let tcpOptionNames: [String: UInt64] = ["wscale": 3, "mss": 2, "sack-permitted": 4, "sack": 5, "timestamp": 8, "md5": 19]

    static func stripOptions(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        var set = Set<UInt64>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            if let n = tcpOptionNames[String(item)] { set.insert(n); continue }
            guard let n = CNumbers.strtoui(item, max: 255) else {
                throw parser.fail("xt-message", "Bad TCP option value \"\(item)\"", word)
            }
            set.insert(n)
        }
        return set.sorted().map(String.init).joined(separator: ",")
    }

    /// TPROXY (libxt_TPROXY v1): every field printed, `--on-port` read as xtopt's port
    /// (getaddrinfo: modulo 65536), `--on-ip` 0.0.0.0 (:: for IPv6) when absent, the mark
    /// `0xV/0xM` (mask all ones when only a value, 0/0 when absent).
    static func tproxy(_ opts: [ExtensionOption], family: Family, parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var port = "0", ip = family == .ipv4 ? "0.0.0.0" : "::", mark = "0x0/0x0"
        for o in opts {
            switch o.name {
            case "on-port":
                let s = Substring(o.args[0])
                switch CNumbers.getaddrinfoPort(s) {
                case .some(.some(let p)): port = "\(p)"
                case .some(.none): throw parser.fail("xt-message-nl", "Port \"\(s)\" does not resolve to anything.", word)
                case .none:
                    guard let p = ProtocolNames.port(s, proto: "tcp") ?? ProtocolNames.port(s, proto: "udp") else {
                        throw parser.fail("xt-message-nl", "Port \"\(s)\" does not resolve to anything.", word)
                    }
                    port = "\(p)"
                }
            case "on-ip":
                ip = o.args[0]
            case "tproxy-mark":
                let (v, m) = try parser.valueMask(Word(o.args[0], column: word.column))
                mark = String(format: "0x%x/0x%x", v, m)
            default:
                break
            }
        }
        return [ExtensionOption("on-port", args: [port]), ExtensionOption("on-ip", args: [ip]), ExtensionOption("tproxy-mark", args: [mark])]
    }

    /// NETMAP --to (IPv4): `addr[/mask]` as the network and prefix length iptables prints
    /// (the address masked; a dotted mask as its length). A CIDR length outside 0-32 stands
    /// for /32, as iptables 1.8.9 stores it; a dotted mask that is no prefix is refused.
    static func netmap(_ text: String, family: Family, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        guard family == .ipv4 else { return text }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPv4Text.parse(parts[0]) else { return text }
        var length = 32
        if parts.count == 2 {
            let m = parts[1]
            if m.contains(".") {
                guard let mask = IPv4Text.parse(m), let l = IPv4Text.prefixLength(mask) else {
                    throw parser.fail("xt-message-nl", "NETMAP: bad value for option \"--to\", neither a valid network mask nor valid CIDR (0-32).", word)
                }
                length = l
            } else if let l = Int(m), (0...32).contains(l) {
                length = l
            }
        }
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
        return IPv4Text.format(a & mask) + "/\(length)"
    }
    /// inet_pton's IPv4 form: four decimal parts of 0-255, no leading zeros.
    static func strictDottedQuad(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            (1...3).contains(p.count) && p.allSatisfy { $0.isASCII && $0.isNumber } && (p.count == 1 || p.first != "0") && (Int(p) ?? 256) <= 255
        }
    }
}

/// Dotted-quad IPv4 text, for values kept as words.
enum IPv4Text {
    static func parse(_ s: Substring) -> UInt32? {
        let p = s.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 4 else { return nil }
        var v: UInt32 = 0
        for x in p {
            guard !x.isEmpty, x.count <= 3, let b = UInt8(x) else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }

    /// Four decimal parts without leading zeros: read the same by `parse` and by inet_aton
    /// (which takes `010` as octal), so no resolver is needed.
    static func isPlain(_ s: Substring) -> Bool {
        parse(s) != nil && !s.split(separator: ".").contains { $0.count > 1 && $0.first == "0" }
    }

    static func prefixLength(_ mask: UInt32) -> Int? {
        let l = mask.nonzeroBitCount
        let m: UInt32 = l == 0 ? 0 : ~UInt32(0) << UInt32(32 - l)
        return m == mask ? l : nil
    }

    static func format(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
    }
}

extension OptionValues {
    /// libxt_tcpmss --mss (XTTYPE_UINT16RC): `lo[:hi]`, an empty side 0 or 65535, strtoul
    /// base 0 each; printed `lo` or `lo:hi`.
    static func mssRange(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw parser.fail("xt-message-nl", "tcpmss: Too many components for option \"--mss\" (max: 2)", word)
        }
        var values: [UInt64] = []
        for (i, p) in parts.enumerated() {
            if p.isEmpty && parts.count == 2 { values.append(i == 0 ? 0 : 65535); continue }
            guard let v = CNumbers.strtoui(p, max: 65535) else {
                throw parser.fail("xt-message-nl", "tcpmss: bad value for option \"--mss\" near \"\(p)\", or out of range (0-65535).", word)
            }
            values.append(v)
        }
        let lo = values[0], hi = values.count == 2 ? values[1] : values[0]
        guard lo <= hi else { throw parser.fail("xt-message", "tcpmss: invalid range given", word) }
        return lo == hi ? "\(lo)" : "\(lo):\(hi)"
    }

    /// SYNPROXY --mss and --wscale: read as 32-bit numbers (XTTYPE_UINT32) and stored in 16
    /// and 8 bits, so 65536 is printed 0 (libxt_SYNPROXY).
    static func synproxy(_ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        var out = opts
        for (i, o) in out.enumerated() where o.name == "mss" || o.name == "wscale" {
            guard let v = CNumbers.strtoui(Substring(o.args[0]), max: 0xffff_ffff) else {
                throw parser.fail("xt-message-nl", "SYNPROXY: bad value for option \"--\(o.name)\", or out of range (0-4294967295).", word)
            }
            out[i].args = ["\(o.name == "mss" ? v & 0xffff : v & 0xff)"]
        }
        return out
    }
}

extension OpaqueCanonicalizer {
    /// `-m policy` as libxt_policy prints it: `--dir`, `--pol`, `--strict`, then each element
    /// (elements parted by `--next`) as reqid, spi (hex), proto (by name), mode, tunnel-dst,
    /// tunnel-src, each with its own `!`.
    static func policy(_ e: LoadedExtension) -> [ExtensionOption] {
        let given = e.given.map { ExtensionOption($0.option.name, negated: $0.negated, args: $0.args.map(\.text)) }
        var head: [ExtensionOption] = []
        for name in ["dir", "pol", "strict"] { head += given.filter { $0.name == name } }
        var elements: [[ExtensionOption]] = [[]]
        for o in given where !["dir", "pol", "strict"].contains(o.name) {
            if o.name == "next" { elements.append([]); continue }
            elements[elements.count - 1].append(o)
        }
        var out = head
        for (n, element) in elements.enumerated() {
            if n > 0 { out.append(ExtensionOption("next")) }
            for name in ["reqid", "spi", "proto", "mode", "tunnel-dst", "tunnel-src"] {
                for var o in element where o.name == name {
                    switch name {
                    case "spi":
                        if let v = CNumbers.strtoui(Substring(o.args[0]), max: 0xffff_ffff) { o.args = [String(format: "0x%x", v)] }
                    case "reqid":
                        if let v = CNumbers.strtoui(Substring(o.args[0]), max: 0xffff_ffff) { o.args = ["\(v)"] }
                    case "proto":
                        if let p = ProtocolNames.parse(o.args[0].lowercased()) { o.args = [ProtocolNames.name(p)] }
                    case "tunnel-dst", "tunnel-src":
                        if o.args[0].hasSuffix("/32") { o.args = [String(o.args[0].dropLast(3))] }
                    default:
                        break
                    }
                    out.append(o)
                }
            }
        }
        return out
    }
}
