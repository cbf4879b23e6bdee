import Foundation

/// OptionChecks for the m–z extensions recent, quota, rpfilter, nfacct, socket, statistic,
/// tcpmss, ttl, TTL, TCPOPTSTRIP (libxtables' guided parse: "can only be used once",
/// "cannot be inverted", then the value, as iptables reads each option) and the old-style
/// parsers of tcp, udp, sctp, multiport and set, which word their refusals themselves
/// (libxt_tcp "Only one `--source-port' allowed", libxt_set "Cannot parse X as a counter
/// value"). Messages are iptables 1.8.9's, learnt through the option sweep and libxt_*.c.
enum OptionChecksMZ1 {
    /// Guided extensions: the options that take `!` (XTOPT_INVERT).
    static let invertible: [String: Set<String>] = [
        "recent": ["set", "rcheck", "update", "remove"], "quota": ["quota"], "rpfilter": [], "nfacct": [],
        "socket": [], "statistic": ["probability", "every"], "tcpmss": ["mss"], "ttl": ["ttl-eq"],
        "TTL": [], "TCPOPTSTRIP": [], "TCPMSS": [], "string": ["string", "hex-string"], "u32": ["u32"],
        "udp": ["source-port", "sport", "destination-port", "dport"], "time": ["weekdays", "monthdays"],
    ]

    /// libxtables names an option by its first spelling in the extension's table.
    static let primary: [String: String] = [
        "sport": "source-port", "dport": "destination-port", "sports": "source-ports", "dports": "destination-ports",
    ]

    /// The old-style parsers (their own words); true when `ext` is one of them and was checked.
    /// libxt_set's parse_dirs, shared by the set match and the SET target: at most six
    /// comma-separated directions, each `src` or `dst` (its message keeps iptables' typo).
    static func setDirections(_ w: Word, parser: CommandLineParser) throws(Diagnostic) {
        let dirs = w.text.split(separator: ",", omittingEmptySubsequences: false)
        if dirs.count > 6 { throw ExtensionForms.xt(parser, "Can't be more src/dst options than 6.", w) }
        for d in dirs where d != "src" && d != "dst" {
            throw ExtensionForms.xt(parser, "You must spefify (the comma separated list of) 'src' or 'dst'.", w)
        }
    }

    static func oldStyle(_ e: LoadedExtension, _ opt: ExtensionSpec.Option, negated: Bool, args: [Word],
                         parser: CommandLineParser) throws(Diagnostic) -> Bool {
        let ext = e.spec.name
        let w = args.first ?? e.word
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, w) }
        let name = primary[opt.name] ?? opt.name
        let a = args.first?.text ?? ""
        func given(_ n: String) -> Bool { e.given.contains { (primary[$0.option.name] ?? $0.option.name) == n } }
        switch ext {
        case "tcp", "sctp":
            if opt.name == "tcp-option" {
                // libxt_tcp reads the option number before anything else.
                guard let v = ExtensionForms.parseNumber(Substring(a)), v >= 1, v <= 255 else { throw xt("Bad TCP option \"\(a)\"") }
            }
            if name == "source-port" || name == "destination-port" {
                // A port is read whole; an empty end of a range is the range's default.
                for p in a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                where !(p.isEmpty && a.contains(":")) && !portWord(p, proto: ext) {
                    throw xt("invalid port/service `\(p)' specified")
                }
            }
            if ["source-port", "destination-port", "chunk-types", "tcp-option"].contains(name), given(name) {
                throw xt("Only one `--\(name)' allowed")
            }
            if opt.name == "chunk-types" {
                let modes = ["all", "any", "only"]
                guard modes.contains(a.lowercased()) else { throw xt("Match type has to be one of \"ALL\", \"ANY\" or \"ONLY\"") }
                if args.count > 1 { try sctpChunks(args[1].text, parser: parser, word: args[1]) }
            }
            return true
        case "multiport":
            if given(name) { throw xt("multiport: option \"--\(name)\" can only be used once.\n") }
            // libxt_multiport: each element a port or `a:b` with both ends, a <= b.
            for item in a.split(separator: ",", omittingEmptySubsequences: false) {
                let ends = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                var values: [UInt32] = []
                for p in ends {
                    let proto = ProtocolNames.name(parser.proto?.value ?? 6)
                    guard portWord(p, proto: proto) else { throw xt("invalid port/service `\(p)' specified") }
                    values.append(ExtensionForms.parseNumber(p).map { UInt32(truncatingIfNeeded: $0) } ?? ExtensionForms.port(p, proto: proto) ?? 0)
                }
                if values.count == 2, values[0] > values[1] { throw xt("invalid portrange specified") }
            }
            return true
        case "SET":
            // libxt_SET (revision 3) parses by hand: a set once, its directions, a timeout below UINT32_MAX.
            switch opt.name {
            case "add-set", "del-set", "map-set":
                if given(opt.name) { throw xt("--\(opt.name) can be specified only once") }
                guard args.count == 2 else { return true }
                try setDirections(args[1], parser: parser)
            case "timeout":
                guard let v = UInt64(a), v < 0xffff_ffff else {
                    throw xt("Invalid value for option --timeout or out of range 0-4294967294")
                }
            default:
                break
            }
            return true
        case "set":
            switch opt.name {
            case "match-set", "set":
                if given("match-set") || given("set") { throw xt("--match-set can be specified only once") }
                guard args.count == 2 else { return true }
                // libxt_set looks the set up before it reads the directions.
                if let check = parser.setExists, !check(args[0].text) {
                    throw parser.fail("undefined-set", "set '\(args[0].text)' is not defined", args[0])
                }
                try setDirections(args[1], parser: parser)
            case "return-nomatch":
                if negated { throw xt("--return-nomatch flag cannot be inverted") }
            default:
                let kind = opt.name.hasPrefix("packets-") ? "packets" : opt.name.hasPrefix("bytes-") ? "bytes" : nil
                guard let kind else { return true }
                if negated && !opt.name.hasSuffix("-eq") { throw xt("--\(opt.name) option cannot be inverted") }
                if e.given.contains(where: { $0.option.name.hasPrefix(kind + "-") }) {
                    throw xt("only one of the --\(kind)-[eq|lt|gt] is allowed")
                }
                // libxt_set's parse_counter: strtoull base 10, the whole word.
                guard UInt64(a) != nil else { throw xt("Cannot parse \(a) as a counter value") }
            }
            return true
        default:
            return false
        }
    }

    /// A port word as the parsers take it: a number (strtoul base 0; kept modulo 2^16 by the
    /// builders) or a service name.
    static func portWord(_ p: Substring, proto: String) -> Bool {
        ExtensionForms.parseNumber(p) != nil || ExtensionForms.port(p, proto: proto) != nil
    }

    /// libxt_sctp's chunk list: known names (or ALL/NONE), flags only where the chunk has them.
    static func sctpChunks(_ text: String, parser: CommandLineParser, word: Word) throws(Diagnostic) {
        if text == "ALL" || text == "NONE" { return }
        let flags: [String: String] = ["DATA": "IUBE", "ABORT": "T", "SHUTDOWN_COMPLETE": "T", "I_DATA": "IUBE"]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0].uppercased()
            guard let n = ListFormsMZ1.sctpChunkNumbers[name] else {
                throw ExtensionForms.xt(parser, "Unknown sctp chunk `\(parts[0])'", word)
            }
            if parts.count == 2 {
                let allowed = flags[name] ?? ""
                for c in parts[1] where !allowed.contains(c.uppercased()) {
                    throw ExtensionForms.xt(parser, "Invalid flags for chunk type \(n)", word)
                }
            }
        }
    }

    /// Value checks of the guided extensions above, after the generic once/invert checks.
    static func value(_ e: LoadedExtension, _ opt: ExtensionSpec.Option, args: [Word], parser: CommandLineParser) throws(Diagnostic) {
        let ext = e.spec.name
        let w = args.first ?? e.word
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, w) }
        guard let a = args.first?.text else { return }
        func uint(_ lo: UInt64, _ hi: UInt64) throws(Diagnostic) {
            guard let v = ExtensionForms.parseNumber(Substring(a)), v >= lo, v <= hi else {
                throw xt("\(ext): bad value for option \"--\(opt.name)\", or out of range (\(lo)-\(hi)).\n")
            }
        }
        switch (ext, opt.name) {
        case ("quota", "quota"):
            try uint(0, UInt64.max)
        case ("recent", "seconds"):
            try uint(1, 0xffff_ffff)
        case ("recent", "hitcount"):
            try uint(0, 0xffff_ffff)
            // xt_recent refuses a hit count above its stamp limit when the rule is committed.
            if let v = ExtensionForms.parseNumber(Substring(a)), v > 65535 {
                throw ExtensionForms.kernelRefuses(parser, "recent --hitcount above 65535", w)
            }
        case ("recent", "name"):
            if a.isEmpty { throw ExtensionForms.kernelRefuses(parser, "recent --name must not be empty", w) }
        case ("statistic", "mode"):
            guard a == "random" || a == "nth" else { throw xt("Bad mode \"\(a)\"") }
        case ("statistic", "probability"):
            guard let p = Double(a), p >= 0, p <= 1, !a.hasPrefix("+") else {
                throw xt("statistic: bad value for option \"--probability\", or out of range (0-1).\n")
            }
        case ("statistic", "every"):
            try uint(1, 0xffff_ffff)
        case ("statistic", "packet"):
            try uint(0, 0xffff_ffff)
        case ("tcpmss", "mss"):
            for part in a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false) where !part.isEmpty || !a.contains(":") {
                guard let v = ExtensionForms.parseNumber(part), v <= 65535 else {
                    throw xt("tcpmss: bad value for option \"--mss\" near \"\(part)\", or out of range (0-65535).\n")
                }
            }
        case ("ttl", _):
            try uint(0, 255)
        case ("TTL", "ttl-set"):
            try uint(0, 255)
        case ("TTL", _):
            try uint(1, 255)
        case ("udp", _) where a.filter({ $0 == ":" }).count <= 1:
            // More than two components are libxt_udp's "Too many components" (the builder's).
            for p in a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            where !(p.isEmpty && a.contains(":")) && !portWord(p, proto: "udp") {
                throw xt("Port \"\(p)\" does not resolve to anything.\n")
            }
        case ("string", "string"):
            // xt_string holds 128 bytes of pattern.
            if a.utf8.count > 128 { throw xt("STRING too long \"\(a)\"") }
        case ("string", "hex-string"):
            try hexString(a, xt)
        case ("u32", "u32"):
            // libxt_u32 reads a number first: anything else fails at char 0.
            if a.drop(while: { $0 == " " }).first.map({ !$0.isNumber }) ?? true { throw xt("u32: at char 0: not a number or out of range") }
        case ("string", "from"), ("string", "to"):
            try uint(0, 65535)
        case ("time", "timestart"), ("time", "timestop"):
            guard clock(a) else { throw xt("invalid time \"\(a)\" specified, should be hh:mm[:ss] format and within the boundaries") }
        case ("time", "datestart"), ("time", "datestop"):
            guard date(a) else { throw xt("Invalid date \"\(a)\" specified. Should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]]") }
        case ("time", "monthdays"):
            // libxt_time reads a day of at most two characters; 0 is taken (as iptables does).
            for d in a.split(separator: ",", omittingEmptySubsequences: false) {
                guard let v = Int(d), v >= 0, v <= 31 else { throw xt("\(d.prefix(2)) is not a valid day for --monthdays") }
            }
        case ("time", "weekdays"):
            // libxt_time: a digit (0 refused), else the first three letters of a day's name, case matters.
            let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            for d in a.split(separator: ",", omittingEmptySubsequences: false) {
                if let c = d.first, c.isNumber {
                    if Int(d) == 0 { throw xt("No, the week does NOT begin with Sunday.") }
                } else if !names.contains(String(d.prefix(3))) {
                    throw xt("\(d.prefix(3)) is not a valid day specifier")
                }
            }
        case ("TCPOPTSTRIP", "strip-options"):
            // libxt_TCPOPTSTRIP: names or numbers; 0 and 1 (end, no-op) cannot be stripped.
            let names = ["wscale", "mss", "sack-permitted", "sack", "timestamp", "md5"]
            for item in a.split(separator: ",", omittingEmptySubsequences: false) where !names.contains(String(item)) {
                guard let v = ExtensionForms.parseNumber(item), v <= 255 else { throw xt("Bad TCP option value \"\(item)\"") }
                if v < 2 { throw xt("Option value may not be 0 or 1") }
            }
        default:
            break
        }
    }

    /// libxt_string's parse_hex_string: `|..|` blocks of hex pairs (spaces skipped), as it refuses them.
    static func hexString(_ a: String, _ xt: (String) -> Diagnostic) throws(Diagnostic) {
        let c = Array(a)
        var hex = false, i = 0
        func isHex(_ ch: Character) -> Bool { ch.isHexDigit && ch.isASCII }
        while i < c.count {
            if c[i] == "|" { hex.toggle(); i += 1; continue }
            if hex {
                if c[i] == " " { i += 1; continue }
                if !isHex(c[i]) { throw xt("Invalid hex char '\(c[i])'") }
                if i + 1 >= c.count { throw xt("Odd number of hex digits") }
                if !isHex(c[i + 1]) { throw xt("Invalid hex block") }
                i += 2
                continue
            }
            i += 1
        }
    }

    /// libxt_time's hh:mm[:ss] within a day.
    static func clock(_ a: String) -> Bool {
        let parts = a.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return false }
        let v = parts.compactMap { $0.count >= 1 && $0.count <= 2 ? Int($0) : nil }
        guard v.count == parts.count else { return false }
        return v[0] < 24 && v[1] < 60 && (v.count == 2 || v[2] < 60)
    }

    /// libxt_time's YYYY[-MM[-DD[Thh[:mm[:ss]]]]] from 1970 on.
    static func date(_ a: String) -> Bool {
        let halves = a.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
        let ymd = halves[0].split(separator: "-", omittingEmptySubsequences: false)
        guard ymd.count <= 3, ymd.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return false }
        let v = ymd.compactMap { Int($0) }
        guard v.count == ymd.count, v[0] >= 1970 else { return false }
        if v.count > 1 && !(1...12).contains(v[1]) { return false }
        if v.count > 2 && !(1...31).contains(v[2]) { return false }
        guard halves.count == 2 else { return true }
        guard v.count == 3 else { return false }
        let hms = halves[1].split(separator: ":", omittingEmptySubsequences: false)
        let t = hms.compactMap { $0.isEmpty ? nil : Int($0) }
        guard t.count == hms.count, t.count <= 3, !t.isEmpty else { return false }
        return t[0] < 24 && (t.count < 2 || t[1] < 60) && (t.count < 3 || t[2] < 60)
    }

    /// Final checks (xtables_options_fcheck and the extensions' own), in iptables' words.
    static func final(_ e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) {
        // The few options given, searched in place when asked: a Set built for every
        // extension of every rule (most reach `default`) cost more than all these checks.
        let given = GivenNames(given: e.given)
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, e.word) }
        switch e.spec.name {
        case "quota", "nfacct", "tcpmss":
            let m = ["quota": "quota", "nfacct": "nfacct-name", "tcpmss": "mss"][e.spec.name] ?? ""
            if !given.contains(m) { throw xt("\(e.spec.name): option \"--\(m)\" must be specified\n") }
            // The kernel's tcpmss needs a TCP rule.
            if e.spec.name == "tcpmss", parser.proto?.value != 6 || parser.proto?.negated == true {
                throw ExtensionForms.kernelRefuses(parser, "match tcpmss needs '-p tcp'", e.word)
            }
        case "recent":
            // libxt_recent's own check runs first, then the options' "also requires".
            if !["set", "rcheck", "update", "remove"].contains(where: given.contains) {
                throw xt("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'")
            }
            if given.contains("reap") && !given.contains("seconds") {
                throw xt("recent: option \"--reap\" also requires \"--seconds\".\n")
            }
        case "statistic":
            // libxt_statistic's check (mode random by default), then "also requires".
            let nth = e.given.last { $0.option.name == "mode" }?.args.first?.text == "nth"
            if !nth && !given.contains("probability") { throw xt("--probability must be specified when using random mode") }
            if nth && !given.contains("every") && !given.contains("packet") {
                throw xt("--every and --packet must be specified when using nth mode")
            }
            if given.contains("every") && !given.contains("packet") { throw xt("statistic: option \"--every\" also requires \"--packet\".\n") }
        case "string":
            if !given.contains("string") && !given.contains("hex-string") {
                throw xt("STRING match: You must specify `--string' or `--hex-string'")
            }
            // An empty pattern is the kernel's to refuse, once the rule is committed.
            if e.given.contains(where: { ($0.option.name == "string" || $0.option.name == "hex-string") && $0.args.first?.text.isEmpty == true }) {
                throw ExtensionForms.kernelRefuses(parser, "string: empty pattern", e.word)
            }
        case "u32":
            if !given.contains("u32") { throw xt("u32: option \"--u32\" must be specified\n") }
        case "TCPMSS", "TCPOPTSTRIP":
            // Both need a TCP rule; TCPOPTSTRIP is for the mangle table only (the kernel refuses otherwise).
            if parser.proto?.value != 6 || parser.proto?.negated == true || (e.spec.name == "TCPOPTSTRIP" && parser.table != "mangle") {
                throw ExtensionForms.kernelRefuses(parser, "\(e.spec.name) needs '-p tcp'", e.word)
            }
        case "ttl":
            if !["ttl-eq", "ttl-lt", "ttl-gt"].contains(where: given.contains) {
                throw xt("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt")
            }
        case "multiport":
            if !["source-ports", "destination-ports", "ports"].contains(where: given.contains) {
                throw xt("multiport expection an option")
            }
        case "SET":
            // A set that does not exist is refused first, by the canonicalizer (libxt_SET looks it up as it parses).
            let sets = e.given.filter { $0.option.name.hasSuffix("-set") }.compactMap { $0.args.first?.text }
            if let exists = parser.setExists, !sets.allSatisfy(exists) { return }
            if given.contains("map-set") && !["map-mark", "map-prio", "map-queue"].contains(where: given.contains) {
                throw xt("You must specify flags `--map-mark' or '--map-prio` or `--map-queue'")
            }
        case "set":
            if !given.contains("match-set") && !given.contains("set") {
                throw xt("You must specify `--match-set' with proper arguments")
            }
        default:
            break
        }
    }
}

extension OptionChecksMZ1 {
    /// The names of the options given to one extension, each by its first spelling.
    struct GivenNames {
        let given: [LoadedExtension.Given]
        func contains(_ name: String) -> Bool {
            given.contains { (OptionChecksMZ1.primary[$0.option.name] ?? $0.option.name) == name }
        }
    }
}
