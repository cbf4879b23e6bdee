import Foundation

/// The iptables-save and `-L` forms of extensions we keep by name (a–l: ah, cgroup, connbytes,
/// connlabel, connlimit, connmark, cpu, dccp, devgroup, dscp, ecn, esp, hashlimit, helper and
/// the targets AUDIT, CHECKSUM, CLASSIFY, CONNMARK, CONNSECMARK, CT, DSCP, ECN), learnt from
/// iptables 1.8.9 through the option sweep (fixtures/option-sweep, scripts/option-sweep): what
/// each libxt_*.c parse stores and its save/print functions write back.
enum ExtensionForms {
    /// iptables' own words for a refusal, shown as iptables shows them (IptablesMessages
    /// prints `iptables v1.8.9 (nf_tables): ` + message + usage hint). A trailing newline in
    /// `text` is iptables' own (xtables_error's messages that end in "\n" give a blank line).
    static func xt(_ parser: CommandLineParser, _ text: String, _ word: Word) -> Diagnostic {
        parser.fail("xt", text, word)
    }

    /// A rule the kernel refuses when it is committed (iptables exits 4 with
    /// "RULE_APPEND failed (Invalid argument)"): the match needs its protocol.
    static func kernelRefuses(_ parser: CommandLineParser, _ what: String, _ word: Word) -> Diagnostic {
        parser.fail("kernel-refuses", what, word)
    }

    /// A port as libxtables' xtables_parse_port reads it: a number (kept modulo 2^16, as
    /// the u16 it is stored in) or a service name.
    static func port(_ s: Substring, proto: String) -> UInt32? {
        if !s.isEmpty, s.allSatisfy(\.isNumber) {
            guard let n = UInt32(s) else { return nil }
            return n & 0xffff
        }
        return (ProtocolNames.port(s, proto: proto) ?? ProtocolNames.port(s, proto: "tcp")).map(UInt32.init)
    }

    /// `a`, `a:b`, `:b`, `a:`, `:` for ports; reversed ranges are kept as given (the kernel
    /// matches no port then). Printed as iptables-save prints them: `a` when a == b.
    static func portRange(_ text: String, proto: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> (UInt32, UInt32) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        func one(_ s: Substring, _ dflt: UInt32) throws(Diagnostic) -> UInt32 {
            if s.isEmpty && parts.count == 2 { return dflt }
            guard let p = port(s, proto: proto) else {
                throw xt(parser, "Port \"\(s)\" does not resolve to anything.\n", word)
            }
            return p
        }
        let lo = try one(parts[0], 0)
        let hi = parts.count == 2 ? try one(parts[1], 65535) : lo
        return (lo, hi)
    }

    static func rangeText(_ lo: UInt64, _ hi: UInt64) -> String { lo == hi ? "\(lo)" : "\(lo):\(hi)" }

    /// `N`, `N:M`, `:M`, `N:` of 32-bit values (ah/esp spi): `near "x"` errors as libxtables' xtables_parse_range.
    static func range32(_ text: String, ext: String, option: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> (UInt64, UInt64) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        func one(_ s: Substring, _ dflt: UInt64) throws(Diagnostic) -> UInt64 {
            if s.isEmpty { return dflt }
            guard let v = parseNumber(s), v <= 0xffff_ffff else {
                throw xt(parser, "\(ext): bad value for option \"--\(option)\" near \"\(s)\", or out of range (0-4294967295).\n", word)
            }
            return v
        }
        if parts.count == 1 {
            let v = try one(parts[0], 0)
            if parts[0].isEmpty { throw xt(parser, "\(ext): bad value for option \"--\(option)\" near \"\", or out of range (0-4294967295).\n", word) }
            return (v, v)
        }
        return (try one(parts[0], 0), try one(parts[1], 0xffff_ffff))
    }

    /// strtoul with base 0 as libxtables uses it: decimal, 0x hex, 0 octal; no sign.
    static func parseNumber(_ s: Substring) -> UInt64? {
        // Plain decimal (every port and count of a usual ruleset): read from the bytes, nil on
        // overflow as UInt64(s) gives; anything else takes the general path below.
        let u = s.utf8
        if let first = u.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") {
            var v: UInt64 = 0
            var plain = true
            for b in u {
                guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { plain = false; break }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                v = a
            }
            if plain { return v }
        }
        if s.hasPrefix("-") || s.hasPrefix("+") || s.isEmpty { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
        if s.count > 1 && s.hasPrefix("0") { return UInt64(s.dropFirst(), radix: 8) }
        return UInt64(s)
    }

    static let dccpTypes = ["REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC", "SYNCACK", "INVALID"]

    /// Matches: the options in iptables-save's form, or nil when the extension is not one of these.
    static func match(_ e: LoadedExtension, _ opts: [ExtensionOption], family: Family, parser: CommandLineParser) throws(Diagnostic) -> [ExtensionOption]? {
        func word(_ o: ExtensionOption) -> Word {
            e.given.first { $0.option.name == o.name }?.args.first ?? e.word
        }
        switch e.spec.name {
        case "dccp":
            guard let p = parser.proto, !p.negated, p.value == 33 else {
                throw kernelRefuses(parser, "match dccp needs '-p dccp'", e.word)
            }
            var out: [ExtensionOption] = []
            for o in opts {
                switch o.name {
                case "sport", "source-port", "dport", "destination-port":
                    let (lo, hi) = try portRange(o.args[0], proto: "dccp", parser: parser, word: word(o))
                    out.append(ExtensionOption(o.name.hasPrefix("s") ? "sport" : "dport", negated: o.negated,
                                               args: [rangeText(UInt64(lo), UInt64(hi))]))
                case "dccp-types":
                    var mask = 0
                    for t in o.args[0].split(separator: ",", omittingEmptySubsequences: false) {
                        guard let i = dccpTypes.firstIndex(of: t.uppercased()) else {
                            throw xt(parser, "Unknown DCCP type `\(t)'", word(o))
                        }
                        mask |= 1 << i
                    }
                    let names = dccpTypes.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
                    out.append(ExtensionOption("dccp-types", negated: o.negated, args: [names.joined(separator: ",")]))
                default:
                    out.append(o)
                }
            }
            // libxt_dccp saves source port, destination port, types, option.
            let order = ["sport", "dport", "dccp-types", "dccp-option"]
            return order.flatMap { n in out.filter { $0.name == n } }
        case "ah", "esp":
            let need: UInt8 = e.spec.name == "ah" ? 51 : 50
            guard let p = parser.proto, !p.negated, p.value == need else {
                throw kernelRefuses(parser, "match \(e.spec.name) needs '-p \(e.spec.name)'", e.word)
            }
            var out: [ExtensionOption] = []
            for o in opts {
                let (lo, hi) = try range32(o.args[0], ext: e.spec.name, option: o.name, parser: parser, word: word(o))
                // The full range is no test: iptables-save leaves it out (the -L form still shows `! 0:max`).
                if lo == 0 && hi == 0xffff_ffff { out.append(ExtensionOption(o.name, negated: o.negated, args: ["0:4294967295"])); continue }
                out.append(ExtensionOption(o.name, negated: o.negated, args: [rangeText(lo, hi)]))
            }
            return out
        case "devgroup":
            var out: [ExtensionOption] = []
            for o in opts {
                let parts = o.args[0].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
                guard let v = parts[0] == "default" ? 0 : parseNumber(parts[0]), v <= 0xffff_ffff else {
                    throw xt(parser, "devgroup: could not map name \(parts[0]) to an integer value for option \"--\(o.name)\".\n", word(o))
                }
                let m = parts.count == 2 ? parseNumber(parts[1]) : nil
                // libxt_devgroup saves a group by its name in /etc/iproute2/group (0 is `default`), else in hex.
                var text = v == 0 && m == nil ? "default" : "0x" + String(v, radix: 16)
                if let m { text = "0x" + String(v, radix: 16) + "/0x" + String(m, radix: 16) }
                out.append(ExtensionOption(o.name, negated: o.negated, args: [text]))
            }
            return out
        case "helper":
            // The kernel keeps 29 characters of a helper name (char name[30]).
            return opts.map { ExtensionOption($0.name, negated: $0.negated, args: [String($0.args[0].prefix(29))]) }
        case "cgroup", "connlabel":
            return opts.map { o in
                if e.spec.name == "cgroup" && o.name == "cgroup", let v = parseNumber(Substring(o.args[0])) {
                    return ExtensionOption(o.name, negated: o.negated, args: ["\(v)"])
                }
                return o
            }
        case "ecn":
            // The TCP bits need `-p tcp`: the kernel refuses them otherwise.
            if opts.contains(where: { $0.name.hasPrefix("ecn-tcp") }), parser.proto?.value != 6 || parser.proto?.negated == true {
                throw kernelRefuses(parser, "ecn --ecn-tcp-* needs '-p tcp'", e.word)
            }
            return opts
        case "cpu":
            return opts.map { o in
                ExtensionOption(o.name, negated: o.negated, args: [parseNumber(Substring(o.args[0])).map { "\($0)" } ?? o.args[0]])
            }
        case "connbytes":
            var out: [ExtensionOption] = []
            for o in opts {
                guard o.name == "connbytes" else { out.append(o); continue }
                let parts = o.args[0].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let lo = parts[0].isEmpty ? 0 : parseNumber(parts[0]) ?? 0
                let hi = parts.count == 2 ? (parts[1].isEmpty ? UInt64.max : parseNumber(parts[1]) ?? UInt64.max) : UInt64.max
                if hi < lo { throw xt(parser, "\(lo) should be less than \(hi)", word(o)) }
                // libxt_connbytes inverts by swapping the bounds: `! a:a` (and `! max`) stays a:a.
                let negated = o.negated && lo != hi
                out.append(ExtensionOption("connbytes", negated: negated, args: [hi == UInt64.max ? "\(lo)" : "\(lo):\(hi)"]))
            }
            return out
        default:
            return nil
        }
    }

    /// Options in the spec's order (iptables-save's), after a rewrite changed names.
    static func ordered(_ opts: [ExtensionOption], spec: ExtensionSpec) -> [ExtensionOption] {
        spec.options.flatMap { o in opts.filter { $0.name == o.name } }
    }

    /// Targets: the options in iptables-save's form, or nil when the target is not one of these.
    static func target(_ e: LoadedExtension, _ opts: [ExtensionOption], parser: CommandLineParser) throws(Diagnostic) -> [ExtensionOption]? {
        switch e.spec.name {
        case "CLASSIFY":
            // libxt_CLASSIFY: `%x:%x` into a 32-bit handle (each half cut to 16 bits), saved as %04x:%04x.
            return try opts.map { (o: ExtensionOption) throws(Diagnostic) -> ExtensionOption in
                let parts = o.args[0].split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let hi = UInt32(parts[0], radix: 16), let lo = UInt32(parts[1], radix: 16) else {
                    throw xt(parser, "Bad class value \"\(o.args[0])\"", e.word)
                }
                func h4(_ v: UInt32) -> String { let s = String(v & 0xffff, radix: 16); return String(repeating: "0", count: 4 - s.count) + s }
                return ExtensionOption(o.name, args: [h4(hi) + ":" + h4(lo)])
            }
        case "AUDIT":
            return opts.map { ExtensionOption($0.name, args: $0.args.map { $0.lowercased() }) }
        case "CT":
            let events = ["new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "natseqinfo", "secmark"]
            var out: [ExtensionOption] = []
            for o in opts {
                if o.name == "ctevents" || o.name == "expevents" {
                    let allowed = o.name == "ctevents" ? events : ["new"]
                    for ev in o.args[0].split(separator: ",", omittingEmptySubsequences: false) where !allowed.contains(String(ev)) {
                        throw xt(parser, "Unknown event type \"\(ev)\"", e.word)
                    }
                }
                // Defaults are not saved: no helper, zone 0.
                if o.name == "helper" && o.args.first == "" { continue }
                if o.name.hasPrefix("zone"), o.args.first == "0" { continue }
                out.append(o)
            }
            return out
        default:
            return nil
        }
    }

    /// The spec's option order, for the extensions above that reorder (connbytes saves
    /// --connbytes, --connbytes-mode, --connbytes-dir; ecn saves cwr, ece, ect).
    static let saveOrder: [String: [String]] = [
        "connbytes": ["connbytes", "connbytes-mode", "connbytes-dir"],
    ]

    /// The `-L` rendering of a match we keep by name; nil when we do not know it.
    static func list(_ e: ExtensionCall, numeric: Bool) -> String? {
        func arg(_ n: String) -> ExtensionOption? { e.options.first { $0.name == n } }
        func bang(_ o: ExtensionOption) -> String { o.negated ? "!" : "" }
        switch e.name {
        case "dccp":
            var s = " dccp"
            for o in e.options {
                switch o.name {
                case "sport", "dport":
                    let short = o.name == "sport" ? "spt" : "dpt"
                    let a = o.args[0]
                    if a == "0:65535" && !o.negated { continue }
                    s += a.contains(":") ? " \(short)s:\(bang(o))\(a)" : " \(short):\(bang(o))\(a)"
                case "dccp-types":
                    var nums: [String] = []
                    for t in o.args[0].split(separator: ",") {
                        guard let i = dccpTypes.firstIndex(of: String(t)) else { continue }
                        nums += i == 10 ? (10...15).map(String.init) : ["\(i)"]
                    }
                    s += (o.negated ? " !" : "") + " " + nums.joined(separator: ",")
                case "dccp-option":
                    s += " option=\(bang(o))\(o.args[0])"
                default:
                    return nil
                }
            }
            return s
        case "ah", "esp":
            var s = " \(e.name)"
            for o in e.options {
                let a = o.args[0]
                // libxt_ah prints a space before an omitted full range, libxt_esp does not.
                if a == "0:4294967295" && !o.negated { s += e.name == "ah" ? " " : ""; continue }
                s += a.contains(":") ? " spis:\(bang(o))\(a)" : " spi:\(bang(o))\(a)"
            }
            if e.options.isEmpty && e.name == "ah" { s += " " }
            return s
        case "helper":
            guard let o = arg("helper") else { return nil }
            return " helper match" + (o.negated ? " !" : "") + " \"\(o.args[0])\""
        case "cpu", "cgroup":
            guard let o = e.options.first else { return nil }
            return " \(e.name)" + (o.negated ? " !" : "") + " " + o.args[0]
        case "connlabel":
            guard let o = arg("label") else { return nil }
            return " connlabel" + (o.negated ? " !" : "") + " " + o.args[0] + (arg("set") != nil ? " set" : "")
        case "connbytes":
            guard let c = arg("connbytes"), let m = arg("connbytes-mode"), let d = arg("connbytes-dir") else { return nil }
            return (c.negated ? " !" : "") + " connbytes \(c.args[0]) connbytes mode \(m.args[0]) connbytes direction \(d.args[0])"
        case "connlimit":
            guard let mask = arg("connlimit-mask") else { return nil }
            let dir = arg("connlimit-daddr") != nil ? "dst" : "src"
            if let up = arg("connlimit-upto") { return " #conn \(dir)/\(mask.args[0]) <= \(up.args[0])" }
            if let ab = arg("connlimit-above") { return " #conn \(dir)/\(mask.args[0]) > \(ab.args[0])" }
            return nil
        case "connmark":
            guard let o = arg("mark") else { return nil }
            return " connmark match " + (o.negated ? "!" : "") + " " + o.args[0]
        case "dscp":
            guard let o = arg("dscp") else { return nil }
            return " DSCP match " + bang(o) + o.args[0]
        case "ecn":
            var s = " ECN match"
            for o in e.options {
                switch o.name {
                case "ecn-tcp-cwr": s += " " + bang(o) + "CWR"
                case "ecn-tcp-ece": s += " " + bang(o) + "ECE"
                case "ecn-ip-ect": s += " " + bang(o) + "ECT=" + o.args[0]
                default: return nil
                }
            }
            return s
        case "devgroup":
            var s = ""
            for o in e.options {
                s += (o.negated ? " !" : "") + " \(o.name) " + (o.args[0] == "default" ? "0x0" : o.args[0])
            }
            return s
        case "hashlimit":
            return hashlimitList(e)
        case "rateest":
            return RateEstimator.MatchInfo(e.options).list(numeric: numeric)
        case "realm":
            return RealmNames.list(e, numeric: numeric)
        case "bpf":
            return BPFMatchForms.list(e)
        default:
            return ExtensionListMZ.match(e)
        }
    }

    /// libxt_hashlimit's print (revision 3): `limit: up to|above RATE burst N mode M ...`.
    static func hashlimitList(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        let above = arg("hashlimit-above")
        guard let rate = above ?? arg("hashlimit-upto") else { return nil }
        var s = " limit: " + (above != nil ? "above " : "up to ") + rate
        if let b = arg("hashlimit-burst") { s += " burst \(b)" }
        if let m = arg("hashlimit-mode") { s += " mode " + m.replacingOccurrences(of: ",", with: "-") }
        let known: Set<String> = ["hashlimit-upto", "hashlimit-above", "hashlimit-burst", "hashlimit-mode", "hashlimit-name"]
        for o in e.options where !known.contains(o.name) {
            let short = o.name.replacingOccurrences(of: "hashlimit-", with: "")
            switch o.name {
            case "hashlimit-htable-size": s += " htable-size \(o.args[0])"
            case "hashlimit-htable-max": s += " htable-max \(o.args[0])"
            case "hashlimit-htable-gcinterval": s += " htable-gcinterval \(o.args[0])"
            case "hashlimit-htable-expire": s += " htable-expire \(o.args[0])"
            case "hashlimit-srcmask": s += " srcmask \(o.args[0])"
            case "hashlimit-dstmask": s += " dstmask \(o.args[0])"
            case "hashlimit-rate-match": s += " rate-match"
            case "hashlimit-rate-interval": s += " rate-interval \(o.args[0])"
            default: _ = short; return nil
            }
        }
        return s
    }

    /// The `-L` rendering of a target we keep by name; nil when we do not know it.
    static func listTarget(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        func has(_ n: String) -> Bool { e.options.contains { $0.name == n } }
        switch e.name {
        case "AUDIT":
            return arg("type").map { " AUDIT \($0)" }
        case "NOTRACK":
            return e.options.isEmpty ? " NOTRACK" : nil
        case "CHECKSUM":
            return has("checksum-fill") ? " CHECKSUM fill" : " CHECKSUM"
        case "CLASSIFY":
            guard let c = arg("set-class") else { return nil }
            let parts = c.split(separator: ":").map { String(Int($0, radix: 16) ?? 0, radix: 16) }
            return " CLASSIFY set " + parts.joined(separator: ":")
        case "CONNSECMARK":
            if has("save") { return " CONNSECMARK save" }
            if has("restore") { return " CONNSECMARK restore" }
            return nil
        case "ECN":
            return has("ecn-tcp-remove") ? " ECN TCP remove" : nil
        case "DSCP":
            return arg("set-dscp").map { " DSCP set \($0)" }
        case "CONNMARK":
            if has("save-mark") || has("restore-mark") {
                let what = has("save-mark") ? "save" : "restore"
                let nf = arg("nfmask") ?? "0xffffffff", ct = arg("ctmask") ?? "0xffffffff"
                if nf == "0xffffffff" && ct == "0xffffffff" { return " CONNMARK \(what)" }
                // libxt_CONNMARK prints equal masks as one (`--mask`).
                if nf == ct { return " CONNMARK \(what) mask \(nf)" }
                return " CONNMARK \(what) nfmask \(nf) ctmask ~\(ct)"
            }
            guard let xm = arg("set-xmark") else { return nil }
            let parts = xm.split(separator: "/").map { UInt32($0.dropFirst(2), radix: 16) }
            guard parts.count == 2, let v = parts[0], let m = parts[1] else { return nil }
            func hex(_ x: UInt32) -> String { "0x" + String(x, radix: 16) }
            // libxt_CONNMARK's print, in its order.
            if v == 0 { return " CONNMARK and " + hex(~m) }
            if v == m { return " CONNMARK or " + hex(v) }
            if m == 0 { return " CONNMARK xor " + hex(v) }
            if m == 0xffff_ffff { return " CONNMARK set " + hex(v) }
            return " CONNMARK xset " + hex(v) + "/" + hex(m)
        case "CT":
            if has("notrack") { return " CT notrack" }
            var s = " CT"
            for o in e.options {
                switch o.name {
                case "ctevents", "expevents", "helper", "timeout", "zone", "zone-orig", "zone-reply":
                    s += " \(o.name) \(o.args[0])"
                default: return nil
                }
            }
            return s
        case "RATEEST":
            return RateEstimator.listTarget(e)
        case "TRACE":
            // libxt_TRACE has no print function.
            return e.options.isEmpty ? "" : nil
        default:
            return ExtensionListMZ.target(e)
        }
    }

    /// A conntrack address option as libxt_conntrack stores and saves it: the address as
    /// given (not masked), `/N` for a prefix shorter than 32 (a dotted mask is turned into
    /// its prefix; /32, a longer one and a mask with holes print no mask). Only dotted quads
    /// come here (`isDottedAddress`); names go to the resolver.
    static func conntrackAddress(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addr = String(parts[0])
        guard let a = dotted(Substring(addr)) else {
            throw xt(parser, addr.contains(":") ? "getaddrinfo: Address family for hostname not supported\n"
                                                 : "getaddrinfo: Name or service not known\n", word)
        }
        let bare = a.map(String.init).joined(separator: ".")
        guard parts.count == 2 else { return bare }
        var prefix: Int?
        if let n = Int(parts[1]), n >= 0 {
            prefix = n
        } else if let m = dotted(parts[1]) {
            let v = m.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let ones = v.leadingZeroBitCount == 0 ? (~v).leadingZeroBitCount : 0
            prefix = (v == 0) ? 0 : ((ones > 0 && v << UInt32(ones) == 0) ? ones : 32)
        } else {
            throw xt(parser, "getaddrinfo: Name or service not known\n", word)
        }
        guard let p = prefix, p < 32 else { return bare }
        return bare + "/\(p)"
    }

    /// Whether a conntrack address option's word is a dotted quad (mask or not), which
    /// `conntrackAddress` reads; anything else is a host name for the resolver.
    static func isDottedAddress(_ text: String) -> Bool {
        dotted(text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]) != nil
    }

    static func dotted(_ s: Substring) -> [UInt8]? {
        let q = s.split(separator: ".", omittingEmptySubsequences: false)
        guard q.count == 4 else { return nil }
        let b = q.compactMap { $0.isEmpty || $0.count > 3 ? nil : UInt8($0) }
        return b.count == 4 ? b : nil
    }

    /// A conntrack port range as iptables-save writes it: `lo` when both ends are equal or
    /// the upper end wrapped to 0 (`1:65536`), else `lo:hi` (reversed kept).
    static func conntrackPort(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) -> String {
        let (lo, hi) = try portRange(text, proto: "tcp", parser: parser, word: word)
        return lo == hi || (hi == 0 && text.contains(":")) ? "\(lo)" : "\(lo):\(hi)"
    }

    /// `value[/mask]` of 32-bit numbers (connmark, CONNMARK).
    static func markValue(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.allSatisfy { p in parseNumber(p).map { $0 <= 0xffff_ffff } ?? false }
    }

    /// `--hashlimit-burst N[kb|mb|b]`: a byte burst is kept in bytes (libxt_hashlimit).
    static func hashlimitBurst(_ text: String) -> UInt64? {
        for (suffix, mult) in [("kb", UInt64(1024)), ("mb", UInt64(1024 * 1024)), ("b", UInt64(1))] where text.hasSuffix(suffix) {
            return UInt64(text.dropLast(suffix.count)).map { $0 * mult }
        }
        return UInt64(text)
    }

    /// hashlimit's byte rates (`10kb/s`, `1mb/m`, `512b/s`).
    static func hashlimitByteRate(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let n = parts[0]
        let units = ["kb", "mb", "b"]
        guard let u = units.first(where: { n.hasSuffix($0) }) else { return false }
        let digits = n.dropLast(u.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return false }
        return ["s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"].contains(String(parts[1]))
    }
}
