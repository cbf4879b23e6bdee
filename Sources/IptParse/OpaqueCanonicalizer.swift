import Foundation

/// Extensions we keep by name still print the way `iptables-save` prints them:
/// options in the kernel's order, defaults filled in, values normalised where
/// the kernel stores a different form than was written (MARK's `--set-mark`
/// becomes `--set-xmark value/mask`, statistic's probability is a 31-bit fraction).
enum OpaqueCanonicalizer {
    static func match(_ e: LoadedExtension, family: Family, parser: CommandLineParser) throws(Diagnostic) -> ExtensionCall {
        var opts = ordered(e)
        opts = try OptionValues.integers(e.spec.name, opts, parser: parser, word: e.word)
        switch e.spec.name {
        case "recent":
            let actions = ["set", "rcheck", "update", "remove"]
            let chosen = opts.filter { actions.contains($0.name) }
            guard chosen.count <= 1 else {
                throw parser.fail("conflicting-options", "recent takes one of --set, --rcheck, --update, --remove", e.word)
            }
            opts = opts.map { o in
                switch o.name {
                case "name": return ExtensionOption(o.name, negated: o.negated, args: [RecentMatchForms.name(o.args[0])])
                case "seconds": return ExtensionOption(o.name, negated: o.negated, args: [RecentMatchForms.seconds(o.args[0])])
                case "mask": return ExtensionOption(o.name, negated: o.negated, args: [RecentMatchForms.mask(o.args[0], family: family)])
                default: return o
                }
            }
            if !opts.contains(where: { $0.name == "name" }) { insert(&opts, ExtensionOption("name", args: ["DEFAULT"]), spec: e.spec) }
            if !opts.contains(where: { $0.name == "mask" }) {
                let all = family == .ipv4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                insert(&opts, ExtensionOption("mask", args: [all]), spec: e.spec)
            }
            if !opts.contains(where: { $0.name == "rdest" || $0.name == "rsource" }) {
                insert(&opts, ExtensionOption("rsource"), spec: e.spec)
            }
        case "hashlimit":
            opts = opts.map { $0.name == "hashlimit" ? ExtensionOption("hashlimit-upto", negated: $0.negated, args: $0.args) : $0 }
            // libxt_hashlimit: `! --hashlimit-upto` is --hashlimit-above and the other way round.
            opts = opts.map { o in
                guard o.negated else { return o }
                return ExtensionOption(o.name == "hashlimit-upto" ? "hashlimit-above" : "hashlimit-upto", args: o.args)
            }
            opts = opts.filter { !($0.name == "hashlimit-mode" && $0.args.first?.isEmpty == true) }
            // The mode in libxt_hashlimit's bit order; defaults (a /32 mask, 0 for the table sizes and times) are not saved.
            for (i, o) in opts.enumerated() where o.name == "hashlimit-mode" {
                let given = Set(o.args[0].split(separator: ",").map(String.init))
                opts[i].args = [["srcip", "srcport", "dstip", "dstport"].filter(given.contains).joined(separator: ",")]
            }
            let full = family == .ipv4 ? "32" : "128"
            opts = opts.filter { o in
                if (o.name == "hashlimit-srcmask" || o.name == "hashlimit-dstmask") && o.args.first == full { return false }
                if ["hashlimit-htable-size", "hashlimit-htable-max", "hashlimit-htable-expire", "hashlimit-htable-gcinterval"].contains(o.name),
                   let a = o.args.first, ExtensionForms.parseNumber(Substring(a)) == 0 { return false }
                // libxt_hashlimit leaves out the default gc interval, and the rate interval
                // unless --hashlimit-rate-match uses it (xt_hashlimit reads it only then).
                if o.name == "hashlimit-htable-gcinterval", o.args.first == "1000" { return false }
                if o.name == "hashlimit-rate-interval", !opts.contains(where: { $0.name == "hashlimit-rate-match" }) { return false }
                return true
            }
            // The name fills a 255-byte field with its NUL: iptables keeps its first 254 characters.
            for (i, o) in opts.enumerated() where o.name == "hashlimit-name" {
                if let a = o.args.first, a.utf8.count > 254 { opts[i].args = [String(decoding: a.utf8.prefix(254), as: UTF8.self)] }
            }
            // xt_hashlimit caps the table size and entry count at HASHLIMIT_MAX_SIZE (1048576)
            // and iptables reads the capped value back.
            for (i, o) in opts.enumerated() where o.name == "hashlimit-htable-size" || o.name == "hashlimit-htable-max" {
                if let a = o.args.first, let n = ExtensionForms.parseNumber(Substring(a)), n > 1_048_576 { opts[i].args = ["1048576"] }
            }
            // A byte burst (`10kb`) is kept as written with a byte rate and counted in bytes with a packet rate.
            let byteRate = opts.contains { ($0.name == "hashlimit-upto" || $0.name == "hashlimit-above") && hashlimitRate($0.args[0]) == nil }
            for (i, o) in opts.enumerated() where o.name == "hashlimit-burst" && !byteRate {
                opts[i].args = [ExtensionForms.hashlimitBurst(o.args[0]).map(String.init) ?? o.args[0]]
            }
            for o in opts where (o.name == "hashlimit-srcmask" || o.name == "hashlimit-dstmask") && (Int(o.args[0]) ?? 0) > 32 {
                throw ExtensionForms.kernelRefuses(parser, "hashlimit: --\(o.name) longer than 32", e.word)
            }
            opts = ExtensionForms.ordered(opts, spec: e.spec)
            var packetRate = false
            for (i, o) in opts.enumerated() where o.name == "hashlimit-upto" || o.name == "hashlimit-above" {
                // A byte unit with other than /s is read as a packet rate (`100kb/m` is 100/min).
                var text = o.args[0]
                if ExtensionForms.hashlimitByteRate(text), !text.hasSuffix("/s"), !text.hasSuffix("/sec"), !text.hasSuffix("/second") {
                    text = String(text.prefix { $0.isNumber }) + "/" + (text.split(separator: "/").last.map(String.init) ?? "")
                }
                guard let r = hashlimitRate(text) else { continue }
                opts[i].args = [r]
                packetRate = true
            }
            // The default burst is printed for a packet rate only (bytes mode has its own).
            if packetRate && !opts.contains(where: { $0.name == "hashlimit-burst" }) {
                insert(&opts, ExtensionOption("hashlimit-burst", args: ["5"]), spec: e.spec)
            }
            guard opts.contains(where: { $0.name == "hashlimit-name" }) else {
                throw parser.fail("missing-option", "hashlimit needs --hashlimit-name", e.word)
            }
        case "statistic":
            for (i, o) in opts.enumerated() where o.name == "probability" {
                guard let p = Double(o.args[0]), p >= 0, p <= 1 else {
                    throw parser.fail("bad-number", "expected a probability from 0 to 1, got '\(o.args[0])'", e.word)
                }
                let stored = UInt32(clamping: Int64((Double(0x8000_0000) * p).rounded()))
                opts[i].args = [String(format: "%.11f", Double(stored) / Double(0x8000_0000))]
            }
            if let every = opts.first(where: { $0.name == "every" }).flatMap({ UInt64($0.args[0]) }),
               let packet = opts.first(where: { $0.name == "packet" }).flatMap({ UInt64($0.args[0]) }), packet >= every {
                throw parser.fail("xt-message", "the --packet p must be 0 <= p <= n-1", e.word)
            }
            if opts.contains(where: { $0.name == "every" }) != opts.contains(where: { $0.name == "packet" }) {
                throw parser.fail("missing-option", "statistic: --every and --packet go together", e.word)
            }
        case "connlimit":
            // libxt_connlimit: `! --connlimit-upto` is --connlimit-above and the other way round; a mask is cut to 32.
            opts = opts.map { o in
                if o.name == "connlimit-mask", let n = Int(o.args[0]), n > (family == .ipv4 ? 32 : 128) {
                    return ExtensionOption(o.name, args: [family == .ipv4 ? "32" : "128"])
                }
                guard o.negated else { return o }
                return ExtensionOption(o.name == "connlimit-upto" ? "connlimit-above" : "connlimit-upto", args: o.args)
            }
            opts = ExtensionForms.ordered(opts, spec: e.spec)
            if !opts.contains(where: { $0.name == "connlimit-mask" }) {
                insert(&opts, ExtensionOption("connlimit-mask", args: [family == .ipv4 ? "32" : "128"]), spec: e.spec)
            }
            if !opts.contains(where: { $0.name == "connlimit-daddr" || $0.name == "connlimit-saddr" }) {
                insert(&opts, ExtensionOption("connlimit-saddr"), spec: e.spec)
            }
        case "time":
            opts = try TimeMatchCanonicalizer.canonical(opts, e: e, parser: parser)
        case "u32":
            for (i, o) in opts.enumerated() {
                guard let c = U32MatchCanonicalizer.canonical(o.args[0]) else {
                    throw parser.fail("bad-u32", "u32: cannot read '\(o.args[0])'", e.word)
                }
                opts[i].args = [c]
            }
        case "dscp":
            // --dscp-class stores its value (libxt_dscp): printed as --dscp 0xNN.
            for (i, o) in opts.enumerated() where o.name == "dscp" || o.name == "dscp-class" {
                guard let v = dscpValue(o, parser: parser, word: e.word) else {
                    throw parser.fail("bad-dscp", "expected a DSCP value from 0 to 63 or a class (CS0-CS7, BE, AF11-AF43, EF), got '\(o.args[0])'", e.word)
                }
                opts[i] = ExtensionOption("dscp", negated: o.negated, args: [String(format: "0x%02x", v)])
            }
        case "policy":
            // libxt_policy's checks ran in PolicyMatchChecks.final.
            opts = policy(e)
        case "tcpmss":
            for (i, o) in opts.enumerated() where o.name == "mss" {
                opts[i].args = [try OptionValues.mssRange(o.args[0], parser: parser, word: e.word)]
            }
        case "rateest":
            opts = try RateEstimator.match(opts, parser: parser, word: e.word)
        case "bpf":
            opts = BPFMatchForms.canonical(opts)
        case "realm":
            // libxt_realm prints 0xV, or 0xV/0xM when the mask is not all ones.
            for (i, o) in opts.enumerated() where o.name == "realm" {
                opts[i].args = [RealmNames.saved(o.args[0], parser: parser, word: e.word)]
            }
        case "physdev":
            guard !opts.isEmpty else { throw parser.fail("xt-message", "PHYSDEV: no physdev option specified", e.word) }
        case "tos":
            for (i, o) in opts.enumerated() where o.name == "tos" {
                opts[i].args = [try tosValue(o.args[0], parser: parser, word: e.word)]
            }
            guard !opts.isEmpty else { throw parser.fail("missing-option", "tos: option \"--tos\" must be specified", e.word) }
        case "owner":
            // libxt_owner: --suppl-groups refines a --gid-owner given before it.
            let names = e.given.map(\.option.name)
            if let s = names.firstIndex(of: "suppl-groups"), !names[..<s].contains("gid-owner") {
                throw parser.fail("xt-message", "owner: Bad value for \"--suppl-groups\" option: \"you need to use --gid-owner first\"", e.word)
            }
            opts = try owner(opts, parser: parser, word: e.word)
        case "connmark":
            for (i, o) in opts.enumerated() where o.name == "mark" {
                let (v, m) = try parser.valueMask(Word(o.args[0], column: e.word.column))
                opts[i].args = [hexMask(v, m)]
            }
        default:
            if let forms = try ExtensionForms.match(e, opts, family: family, parser: parser) { opts = forms }
        }
        return ExtensionCall(name: e.spec.name, options: opts)
    }

    static func target(_ e: LoadedExtension, family: Family, parser: CommandLineParser) throws(Diagnostic) -> ExtensionCall {
        var opts = ordered(e)
        opts = try OptionValues.integers(e.spec.name, opts, parser: parser, word: e.word)
        func num(_ s: String) throws(Diagnostic) -> UInt32 {
            guard let v = parser.parseUInt32(Substring(s)) else {
                throw parser.fail("bad-number", "expected a number, got '\(s)'", e.word)
            }
            return v
        }
        switch e.spec.name {
        case "RATEEST":
            opts = RateEstimator.target(opts)
        case "TEE":
            opts = try hostOptions(opts, target: e.spec.name, family: family, parser: parser, word: e.word)
        case "MARK":
            guard opts.count == 1, let o = opts.first else {
                throw parser.fail("missing-option", "MARK needs exactly one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark", e.word)
            }
            // libxt_MARK reads value and mask with strtoul base 0: `010` is 8.
            let raw = o.args[0].split(separator: "/", omittingEmptySubsequences: false).map { p in
                ExtensionForms.parseNumber(p).map { String($0) } ?? String(p)
            }.joined(separator: "/")
            let (v, m) = try parser.valueMask(Word(raw, column: e.word.column))
            let xm = try xmark(o.name, v, m, raw: raw, num: num)
            opts = [ExtensionOption("set-xmark", args: [String(format: "0x%x/0x%x", xm.0, xm.1)])]
        case "CONNMARK":
            // strtoul base 0: `010` is 8.
            opts = opts.map { o in
                ExtensionOption(o.name, negated: o.negated, args: o.args.map { a in
                    a.split(separator: "/", omittingEmptySubsequences: false).map { p in
                        ExtensionForms.parseNumber(p).map { String($0) } ?? String(p)
                    }.joined(separator: "/")
                })
            }
            let modes = opts.filter { ["set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark", "save-mark", "restore-mark"].contains($0.name) }
            guard modes.count == 1, let o = modes.first else {
                throw parser.fail("missing-option", "CONNMARK needs one of --set-xmark, --set-mark, --save-mark, --restore-mark, ...", e.word)
            }
            if o.name == "save-mark" || o.name == "restore-mark" {
                var nf: UInt32 = 0xffff_ffff, ct: UInt32 = 0xffff_ffff
                // libxt_CONNMARK reads each mask as a 32-bit number and words its refusal so.
                func mask(_ x: ExtensionOption) throws(Diagnostic) -> UInt32 {
                    guard let v = ExtensionForms.parseNumber(Substring(x.args[0])), v <= 0xffff_ffff else {
                        throw parser.fail("xt-message-nl", "CONNMARK: bad value for option \"--\(x.name)\", or out of range (0-4294967295).", e.word)
                    }
                    return UInt32(v)
                }
                for x in opts {
                    if x.name == "mask" { nf = try mask(x); ct = nf }
                    if x.name == "nfmask" { nf = try mask(x) }
                    if x.name == "ctmask" { ct = try mask(x) }
                }
                opts = [ExtensionOption(o.name), ExtensionOption("nfmask", args: [String(format: "0x%x", nf)]),
                        ExtensionOption("ctmask", args: [String(format: "0x%x", ct)])]
            } else {
                let (v, m) = try parser.valueMask(Word(o.args[0], column: e.word.column))
                let xm = try xmark(o.name, v, m, raw: o.args[0], num: num)
                opts = [ExtensionOption("set-xmark", args: [String(format: "0x%x/0x%x", xm.0, xm.1)])]
            }
        case "DSCP":
            for (i, o) in opts.enumerated() where o.name == "set-dscp" || o.name == "set-dscp-class" {
                guard let v = dscpValue(o, parser: parser, word: e.word) else {
                    throw parser.fail("bad-dscp", "expected a DSCP value from 0 to 63 or a class (CS0-CS7, BE, AF11-AF43, EF), got '\(o.args[0])'", e.word)
                }
                opts[i] = ExtensionOption("set-dscp", args: [String(format: "0x%02x", v)])
            }
        case "TOS":
            opts = [try tosTarget(opts, parser: parser, word: e.word)]
        case "SYNPROXY":
            opts = try OptionValues.synproxy(opts, parser: parser, word: e.word)
            // xt_SYNPROXY's checkentry: only for `-p tcp`, not inverted (RULE_APPEND EINVAL).
            guard let p = parser.proto, p.value == 6, !p.negated else {
                throw ExtensionForms.kernelRefuses(parser, "SYNPROXY needs '-p tcp'", e.word)
            }
        case "NFLOG":
            // libxt_NFLOG: --nflog-range is read and dropped (it never worked); a prefix has
            // at least one character.
            opts.removeAll { $0.name == "nflog-range" }
            // libxt_NFLOG saves --nflog-group only when it is not the default 0.
            opts.removeAll { $0.name == "nflog-group" && ExtensionForms.parseNumber(Substring($0.args[0])) == 0 }
            if opts.contains(where: { $0.name == "nflog-prefix" && $0.args[0].isEmpty }) {
                throw parser.fail("xt-message-nl", "Argument must have a minimum length of 1 characters", e.word)
            }
        case "TCPMSS":
            guard opts.count == 1 else {
                throw ExtensionForms.xt(parser, "TCPMSS target: At least one parameter is required", e.word)
            }
        case "DNAT", "SNAT":
            let need = e.spec.name == "DNAT" ? "to-destination" : "to-source"
            guard let to = opts.first(where: { $0.name == need }) else {
                throw parser.fail("missing-option", "\(e.spec.name) needs --\(need)", e.word)
            }
            let addr = to.args[0]
            let hasPort = family == .ipv4 ? addr.contains(":") : addr.contains("]:")
            if hasPort { try requirePortProtocol(parser, e, "a port in --\(need)") }
            for (i, o) in opts.enumerated() where o.name == need {
                opts[i].args = [try OptionValues.natTarget(o.args[0], family: family, parser: parser, word: e.word)]
            }
        case "MASQUERADE", "REDIRECT":
            if opts.contains(where: { $0.name == "to-ports" }) { try requirePortProtocol(parser, e, "--to-ports") }
            for (i, o) in opts.enumerated() where o.name == "to-ports" {
                switch OptionValues.natPorts(Substring(o.args[0]), shift: false) {
                case .success(let p): opts[i].args = [p]
                case .failure(let f): throw parser.fail("xt-message", f.message, e.word)
                }
            }
        case "NFQUEUE":
            opts = try OptionValues.nfqueue(opts, parser: parser, word: e.word)
        case "TTL", "HL":
            opts = try OptionValues.ttlTarget(e.spec.name, opts, parser: parser, word: e.word)
        case "TCPOPTSTRIP":
            for (i, o) in opts.enumerated() where o.name == "strip-options" {
                opts[i].args = [try OptionValues.stripOptions(o.args[0], parser: parser, word: e.word)]
            }
        case "TPROXY":
            // libxt_TPROXY reads the mark with strtoul base 0: `010` is 8.
            opts = opts.map { o in
                guard o.name == "tproxy-mark" else { return o }
                return ExtensionOption(o.name, args: [o.args[0].split(separator: "/", omittingEmptySubsequences: false).map { p in
                    ExtensionForms.parseNumber(p).map { String($0) } ?? String(p)
                }.joined(separator: "/")])
            }
            opts = try OptionValues.tproxy(opts, family: family, parser: parser, word: e.word)
            // xt_TPROXY's checkentry: only for `-p tcp` or `-p udp`, not inverted (RULE_APPEND EINVAL).
            guard let p = parser.proto, p.value == 6 || p.value == 17, !p.negated else {
                throw ExtensionForms.kernelRefuses(parser, "TPROXY needs '-p tcp' or '-p udp'", e.word)
            }
        case "NETMAP":
            guard let i = opts.firstIndex(where: { $0.name == "to" }) else {
                throw parser.fail("xt-message-nl", "NETMAP: option \"--to\" must be specified", e.word)
            }
            if family == .ipv4, IPv4Text.isPlain(AddressParser.split(opts[i].args[0]).0) {
                opts[i].args = [try OptionValues.netmap(opts[i].args[0], family: family, parser: parser, word: e.word)]
            } else {
                // A name, or a number inet_aton reads otherwise (`010.1.1.1`): getaddrinfo's.
                opts = try hostOptions(opts, target: e.spec.name, family: family, parser: parser, word: e.word)
            }
        case "SET":
            guard opts.contains(where: { ["add-set", "del-set", "map-set"].contains($0.name) }) else {
                throw ExtensionForms.xt(parser, "You must specify either `--add-set' or `--del-set' or `--map-set'", e.word)
            }
            // libxt_SET: `!` is dropped; --timeout and the flags may be repeated (the last
            // timeout counts, a flag is a flag).
            var seen = Set<String>()
            opts = opts.reversed().filter { seen.insert($0.name).inserted }.reversed().map { ExtensionOption($0.name, args: $0.args) }
            for o in opts where ["add-set", "del-set", "map-set"].contains(o.name) {
                if let check = parser.setExists, !check(o.args[0]) {
                    throw parser.fail("undefined-set", "set '\(o.args[0])' is not defined", e.word)
                }
            }
        default:
            if let forms = try ExtensionForms.target(e, opts, parser: parser) { opts = forms }
        }
        return ExtensionCall(name: e.spec.name, options: opts)
    }

    /// The DiffServ class names libxt_dscp knows (dscp_helper.c), matched without case.
    static let dscpClasses: [String: UInt32] = [
        "CS0": 0x00, "CS1": 0x08, "CS2": 0x10, "CS3": 0x18, "CS4": 0x20, "CS5": 0x28, "CS6": 0x30, "CS7": 0x38,
        "BE": 0x00, "AF11": 0x0a, "AF12": 0x0c, "AF13": 0x0e, "AF21": 0x12, "AF22": 0x14, "AF23": 0x16,
        "AF31": 0x1a, "AF32": 0x1c, "AF33": 0x1e, "AF41": 0x22, "AF42": 0x24, "AF43": 0x26, "EF": 0x2e,
    ]

    /// A `--dscp`/`--set-dscp` number (0...63, decimal or hex) or a `-class` name; nil if neither.
    static func dscpValue(_ o: ExtensionOption, parser: CommandLineParser, word: Word) -> UInt32? {
        guard let a = o.args.first else { return nil }
        if o.name.hasSuffix("class") { return dscpClasses[a.uppercased()] }
        guard let v = parser.parseUInt32(Substring(a)), v <= 63 else { return nil }
        return v
    }

    /// A hashlimit packet rate (`N[/second|minute|hour|day]`, any prefix of the unit) as
    /// iptables-save prints it: libxt_hashlimit parses it to a period of
    /// XT_HASHLIMIT_SCALE_v2 (10^6) units and prints it in the largest unit that keeps it
    /// exact, as libxt_limit does. nil for a byte rate (`4kb/s`) or anything else, kept as
    /// written.
    static func hashlimitRate(_ text: String) -> String? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber), let n = UInt64(parts[0]), n > 0 else { return nil }
        var unit: UInt64 = 1
        if parts.count == 2 {
            let u = parts[1].lowercased()
            guard !u.isEmpty else { return nil }
            if "second".hasPrefix(u) { unit = 1 } else if "minute".hasPrefix(u) { unit = 60 }
            else if "hour".hasPrefix(u) { unit = 3600 } else if "day".hasPrefix(u) { unit = 86400 }
            else { return nil }
        }
        let scale: UInt64 = 1_000_000
        let period = scale * unit / n
        guard period > 0 else { return nil }
        return RulePrinter.rate(period, scale: scale)
    }

    /// NAT to a port rewrites a transport header, so the kernel wants to know which one.
    static func requirePortProtocol(_ parser: CommandLineParser, _ e: LoadedExtension, _ what: String) throws(Diagnostic) {
        guard let p = parser.proto, !p.negated, [6, 17, 132, 33].contains(p.value) else {
            // libxt_MASQUERADE / libxt_REDIRECT check it as they read --to-ports, in these words.
            if e.spec.name == "MASQUERADE" || e.spec.name == "REDIRECT" {
                throw ExtensionForms.xt(parser, "Need TCP, UDP, SCTP or DCCP with port specification", e.word)
            }
            throw parser.fail("target-needs-protocol", "\(e.spec.name) with \(what) needs -p tcp, udp, sctp or dccp", e.word)
        }
    }

    /// `--set-mark v/m` and friends, in the kernel's xor-mark form.
    static func xmark(_ name: String, _ v: UInt32, _ m: UInt32, raw: String, num: (String) throws(Diagnostic) -> UInt32) throws(Diagnostic) -> (UInt32, UInt32) {
        let hasMask = raw.contains("/")
        switch name {
        case "set-xmark": return (v, hasMask ? m : 0xffff_ffff)
        case "set-mark": return (v, hasMask ? (v | m) : 0xffff_ffff)
        case "and-mark": return (0, ~v)
        case "or-mark": return (v, v)
        default: return (v, 0)
        }
    }

    static func hexMask(_ v: UInt32, _ m: UInt32) -> String {
        m == 0xffff_ffff ? String(format: "0x%x", v) : String(format: "0x%x/0x%x", v, m)
    }

    /// Options in the order the spec lists them (the kernel's print order);
    /// lenient extensions keep the order they were written in.
    static func ordered(_ e: LoadedExtension) -> [ExtensionOption] {
        let given = e.given.map { ExtensionOption($0.option.name, negated: $0.negated, args: $0.args.map(\.text)) }
        if e.spec.lenient { return given }
        var out: [ExtensionOption] = []
        for o in e.spec.options {
            out.append(contentsOf: given.filter { $0.name == o.name })
        }
        return out
    }

    static func insert(_ opts: inout [ExtensionOption], _ o: ExtensionOption, spec: ExtensionSpec) {
        let rank = { (n: String) in spec.options.firstIndex { $0.name == n } ?? Int.max }
        let at = opts.firstIndex { rank($0.name) > rank(o.name) } ?? opts.count
        opts.insert(o, at: at)
    }
}
