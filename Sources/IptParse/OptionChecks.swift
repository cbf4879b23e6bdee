/// The checks libxtables' xtables_option_parse makes as each option of an extension is read
/// (before the next word is looked at), in its order: given twice ("can only be used once"),
/// `!` where the option takes none ("cannot be inverted"), then the value. Messages are
/// iptables 1.8.9's, learnt through the option sweep (fixtures/option-sweep). Because
/// iptables checks a value as soon as it reads it, `--dport -j ACCEPT` is refused for the
/// value `-j`, not for the stray `ACCEPT`: these checks run when the option's arguments are
/// taken, not when the rule is assembled.
///
/// Extensions a–l (the matches addrtype…length and the targets AUDIT…LOG); others keep
/// their builders' checks.
enum OptionChecks {
    /// The options that take `!` (iptables-extensions(8)'s `[!]`), per extension covered here.
    static let invertible: [String: Set<String>] = [
        "addrtype": ["src-type", "dst-type"], "ah": ["ahspi"], "cgroup": ["path", "cgroup"], "comment": [],
        "connbytes": ["connbytes"], "connlabel": ["label"], "connlimit": ["connlimit-upto", "connlimit-above"], "connmark": ["mark"],
        "conntrack": ["ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst", "ctorigsrcport",
                      "ctorigdstport", "ctreplsrcport", "ctrepldstport", "ctstatus", "ctexpire"],
        "cpu": ["cpu"], "dccp": ["source-port", "sport", "destination-port", "dport", "dccp-types", "dccp-option"],
        "devgroup": ["src-group", "dst-group"], "dscp": ["dscp", "dscp-class"],
        "ecn": ["ecn-tcp-cwr", "ecn-tcp-ece", "ecn-ip-ect"], "esp": ["espspi"],
        "hashlimit": ["hashlimit-upto", "hashlimit-above", "hashlimit"], "helper": ["helper"],
        "icmp": ["icmp-type"], "iprange": ["src-range", "dst-range"], "length": ["length"], "limit": [],
        "cluster": ["cluster-local-node", "cluster-local-nodemask"], "HMARK": [], "IDLETIMER": [],
        "DNAT": [], "ECN": [], "bpf": [],
        "AUDIT": [], "CHECKSUM": [], "CLASSIFY": [], "CONNMARK": [], "CONNSECMARK": [], "CT": [], "DSCP": [], "LOG": [],
        // m–z (mz2): the guided-option extensions of that half, `[!]` per iptables-extensions(8).
        "mac": ["mac-source"], "mark": ["mark"], "owner": ["uid-owner", "gid-owner", "socket-exists"],
        "physdev": ["physdev-in", "physdev-out", "physdev-is-in", "physdev-is-out", "physdev-is-bridged"],
        "pkttype": ["pkt-type"], "policy": ["reqid", "spi", "proto", "mode", "tunnel-src", "tunnel-dst"],
        "realm": ["realm"], "state": ["state"], "tos": ["tos"], "osf": ["genre"],
        "MARK": [], "MASQUERADE": [], "NETMAP": [], "NFLOG": [], "NFQUEUE": [], "RATEEST": [], "REDIRECT": [], "REJECT": [],
        "SECMARK": [], "SNAT": [], "SYNPROXY": [], "TEE": [], "TOS": [], "TPROXY": [],
    ]

    /// Every extension a case of check's value switch names (first element of its patterns);
    /// the others skip the switch. OptionChecksSourceTests keeps this list and the switch in step.
    static let valueCheckedExtensions: Set<String> = [
        "dccp", "ah", "esp", "conntrack", "cpu", "connlimit", "hashlimit", "dscp", "DSCP", "addrtype", "cgroup", "connbytes",
        "devgroup", "icmp", "iprange", "AUDIT", "LOG", "CT", "ecn", "length", "limit", "connmark", "CONNMARK", "mark", "MARK",
        "TPROXY", "NFLOG", "policy", "NFQUEUE", "TOS", "tos", "osf", "owner", "physdev", "state", "mac", "cluster", "IDLETIMER",
        "HMARK", "pkttype",
    ]

    /// libxt_policy: the options of one policy element (each `--next` starts another); the
    /// extension's own parse refuses one twice within an element ("double --reqid option").
    static let policyElement: Set<String> = ["reqid", "spi", "proto", "mode", "tunnel-src", "tunnel-dst"]

    /// libxtables names an option by its first spelling in the extension's table.
    static let primary: [String: String] = ["sport": "source-port", "dport": "destination-port"]

    static func check(_ e: LoadedExtension, _ opt: ExtensionSpec.Option, negated: Bool, args: [Word],
                      parser: CommandLineParser) throws(Diagnostic) {
        let ext = e.spec.name
        if try OptionChecksMZ1.oldStyle(e, opt, negated: negated, args: args, parser: parser) { return }
        if try RateEstimator.check(e, opt, negated: negated, args: args, parser: parser) { return }
        guard let inv = invertible[ext] ?? OptionChecksMZ1.invertible[ext] else { return }
        let name = primary[opt.name] ?? opt.name
        let w = args.first ?? e.word
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, w) }
        if ext == "policy" && (policyElement.contains(name) || name == "next") {
            let since = e.given.lastIndex { $0.option.name == "next" }.map { $0 + 1 } ?? 0
            if name != "next", e.given[since...].contains(where: { $0.option.name == name }) {
                throw xt("policy match: double --\(name) option")
            }
        } else if e.given.contains(where: { (primary[$0.option.name] ?? $0.option.name) == name }) {
            throw xt("\(ext): option \"--\(name)\" can only be used once.\n")
        }
        if negated && !inv.contains(opt.name) {
            throw xt("\(ext): option \"--\(name)\" cannot be inverted.\n")
        }
        // libxt_owner reads --suppl-groups as a refinement of a --gid-owner given before it.
        if ext == "owner", opt.name == "suppl-groups", !e.given.contains(where: { $0.option.name == "gid-owner" }) {
            throw xt("owner: Bad value for \"--suppl-groups\" option: \"you need to use --gid-owner first\"")
        }
        if ext == "RATEEST" { try RateEstimator.checkTarget(opt, args: args, parser: parser); return }
        if ext == "bpf" { try BPFMatchForms.check(opt, args: args, parser: parser); return }
        if ext == "realm", let a = args.first { try RealmNames.check(a.text, parser: parser, word: a) }
        guard let a = args.first?.text else { return }
        func uint(_ lo: UInt64, _ hi: UInt64, prefix: Bool = true, blank: Bool = true) throws(Diagnostic) {
            guard let v = ExtensionForms.parseNumber(Substring(a)), v >= lo, v <= hi else {
                throw xt((prefix ? "\(ext): " : "") + "bad value for option \"--\(name)\", or out of range (\(lo)-\(hi))." + (blank ? "\n" : ""))
            }
        }
        // A prefix length is read as any non-negative number (a longer one is cut to the
        // family's length by connlimit, refused by the kernel for hashlimit).
        func plen(_ max: Int) throws(Diagnostic) {
            guard let v = Int(a), v >= 0 else {
                throw xt("\(ext): bad value for option \"--\(name)\", neither a valid network mask nor valid CIDR (0-\(max)).\n")
            }
        }
        func badValue() -> Diagnostic { xt("\(ext): Bad value for \"--\(name)\" option: \"\(a)\"") }
        // An extension no case below names goes to the default at once: the switch compares
        // its name with each case in turn, about a hundred per option read (udp, comment).
        guard valueCheckedExtensions.contains(ext) else {
            try OptionChecksMZ1.value(e, opt, args: args, parser: parser)
            return
        }
        switch (ext, opt.name) {
        case ("dccp", "dccp-option"):
            try uint(1, 255)
        case ("dccp", _) where opt.name.hasSuffix("port"):
            _ = try ExtensionForms.portRange(a, proto: "dccp", parser: parser, word: w)
        case ("dccp", "dccp-types"):
            for t in a.split(separator: ",", omittingEmptySubsequences: false) where !ExtensionForms.dccpTypes.contains(t.uppercased()) {
                throw xt("Unknown DCCP type `\(t)'")
            }
        case ("ah", _), ("esp", _):
            _ = try ExtensionForms.range32(a, ext: ext, option: name, parser: parser, word: w)
        case ("conntrack", "ctexpire"):
            _ = try ExtensionForms.range32(a, ext: ext, option: name, parser: parser, word: w)
        case ("conntrack", _) where opt.name.hasSuffix("port"):
            _ = try ExtensionForms.portRange(a, proto: "tcp", parser: parser, word: w)
        case ("conntrack", "ctorigsrc"), ("conntrack", "ctorigdst"), ("conntrack", "ctreplsrc"), ("conntrack", "ctrepldst"):
            // IPv4 only: ip6tables' addresses are read by the conntrack builder.
            // A dotted quad is checked in libxt_conntrack's forms; a name only for whether
            // getaddrinfo knows it (its message is the one conntrackAddress gives).
            if parser.family == .ipv4,
               ExtensionForms.isDottedAddress(a) || HostNames.addresses(String(AddressParser.split(a).0), family: .ipv4).isEmpty {
                _ = try ExtensionForms.conntrackAddress(a, parser: parser, word: w)
            }
        case ("conntrack", "ctstatus"):
            for s in a.split(separator: ",", omittingEmptySubsequences: false)
            where !["NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"].contains(s.uppercased()) {
                throw xt("Bad ctstatus \"\(s)\"")
            }
        case ("conntrack", "ctdir"):
            guard ["ORIGINAL", "REPLY"].contains(a.uppercased()) else { throw badValue() }
        case ("conntrack", "ctproto"):
            guard ProtocolNames.parse(a.lowercased()) != nil else { throw xt("unknown protocol \"\(a)\" specified") }
        case ("cpu", "cpu"), ("connlimit", "connlimit-upto"), ("connlimit", "connlimit-above"):
            try uint(0, 0xffff_ffff)
        case ("connlimit", "connlimit-mask"), ("hashlimit", "hashlimit-srcmask"), ("hashlimit", "hashlimit-dstmask"):
            try plen(32)
        case ("hashlimit", "hashlimit-burst"):
            guard let b = ExtensionForms.hashlimitBurst(a), b >= 1, b <= 1_000_000 else {
                throw xt("bad value for option \"--\(name)\", or out of range (1-1000000).")
            }
        case ("hashlimit", "hashlimit-htable-size"), ("hashlimit", "hashlimit-htable-max"),
             ("hashlimit", "hashlimit-htable-expire"), ("hashlimit", "hashlimit-htable-gcinterval"):
            try uint(0, 0xffff_ffff)
        case ("hashlimit", "hashlimit-upto"), ("hashlimit", "hashlimit-above"), ("hashlimit", "hashlimit"):
            guard OpaqueCanonicalizer.hashlimitRate(a) != nil || ExtensionForms.hashlimitByteRate(a) else { throw badValue() }
        case ("hashlimit", "hashlimit-mode"):
            for m in a.split(separator: ",", omittingEmptySubsequences: true)
            where !["srcip", "srcport", "dstip", "dstport"].contains(String(m)) {
                throw badValue()
            }
        case ("dscp", "dscp"), ("DSCP", "set-dscp"):
            try uint(0, 63)
        case ("dscp", "dscp-class"), ("DSCP", "set-dscp-class"):
            guard OpaqueCanonicalizer.dscpClasses[a.uppercased()] != nil else { throw xt("Invalid DSCP value `\(a)'") }
        case ("addrtype", "src-type"), ("addrtype", "dst-type"):
            for t in a.split(separator: ",", omittingEmptySubsequences: false) where !AddrTypeMatch.order.contains(t.uppercased()) {
                throw xt("addrtype: bad type \"\(t)\"")
            }
        case ("cgroup", "cgroup"):
            try uint(0, 0xffff_ffff)
        case ("connbytes", "connbytes-dir"):
            guard ["original", "reply", "both"].contains(a) else { throw xt("Unknown --connbytes-dir `\(a)'") }
        case ("connbytes", "connbytes-mode"):
            guard ["packets", "bytes", "avgpkt"].contains(a) else { throw xt("Unknown --connbytes-mode `\(a)'") }
        case ("conntrack", "ctstate"):
            for s in a.split(separator: ",", omittingEmptySubsequences: false)
            where !ConntrackStates.names.contains(where: { $0.0 == s.uppercased() }) {
                throw xt("Bad ctstate \"\(s)\"")
            }
        case ("devgroup", "src-group"), ("devgroup", "dst-group"):
            let v = a.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard v == "default" || ExtensionForms.parseNumber(v).map({ $0 <= 0xffff_ffff }) == true else {
                throw xt("devgroup: could not map name \(v) to an integer value for option \"--\(name)\".\n")
            }
        case ("hashlimit", "hashlimit-rate-interval"):
            guard let v = UInt32(a), v >= 1, v < 0xffff_ffff else { throw badValue() }
        case ("icmp", "icmp-type"):
            guard ICMPNames.parse(a, v6: false) != nil else { throw xt("Unknown ICMP type `\(a)'") }
        case ("iprange", "src-range"), ("iprange", "dst-range"):
            // Each end must be an address; iptables names the part it could not read (IPv4; ip6tables' own check stays).
            let ends = a.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            for end in ends where parser.family == .ipv4 && ExtensionForms.dotted(end) == nil {
                throw xt("iprange: Bad value for \"--\(name)\" option: \"\(end)\"")
            }
        case ("AUDIT", "type"):
            guard ["accept", "drop", "reject"].contains(a.lowercased()) else { throw xt("Bad action type value \"\(a)\"") }
        case ("LOG", "log-level"):
            // libxt_LOG's names (not `err` or `warn`) or a number 0-7.
            let names = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug", "panic"]
            guard names.contains(a) || (UInt8(a).map { $0 <= 7 } ?? false) else { throw xt("log level \"\(a)\" unknown\n") }
        case ("LOG", "log-prefix"):
            if a.isEmpty { throw xt("Argument must have a minimum length of 1 characters\n") }
        case ("CT", "zone"), ("CT", "zone-orig"), ("CT", "zone-reply"):
            guard a == "mark" || (UInt32(a).map { $0 <= 65535 } ?? false) else { throw xt("Cannot parse \(a) as a zone ID") }
        case ("connbytes", "connbytes"):
            for part in a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false) where !part.isEmpty {
                guard ExtensionForms.parseNumber(part) != nil else {
                    throw xt("connbytes: bad value for option \"--connbytes\" near \"\(part)\", or out of range (0-18446744073709551615).\n")
                }
            }
        case ("ecn", "ecn-ip-ect"):
            try uint(0, 3)
        case ("length", "length"):
            for part in a.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false) where !part.isEmpty || !a.contains(":") {
                guard let v = ExtensionForms.parseNumber(part), v <= 65535 else {
                    throw xt("length: bad value for option \"--length\" near \"\(part)\", or out of range (0-65535).\n")
                }
            }
        case ("limit", "limit-burst"):
            try uint(0, 10000)
        // libxt_limit and libxt_pkttype read the value as they parse: a word taken as the
        // argument (`--limit -j`) is refused there, before the rest of the line.
        case ("limit", "limit"):
            _ = try parser.rate(w)
        case ("pkttype", "pkt-type"):
            guard PacketType(rawValue: a.lowercased()) != nil else {
                throw parser.fail("bad-value", "expected unicast, broadcast or multicast, got '\(a)'", w)
            }
        case ("connmark", "mark"), ("CONNMARK", "set-xmark"), ("CONNMARK", "set-mark"):
            guard ExtensionForms.markValue(a) else { throw xt("\(ext): bad integer value for option \"--\(name)\", or out of range.\n") }
        case ("mark", "mark"), ("MARK", "set-xmark"), ("MARK", "set-mark"), ("TPROXY", "tproxy-mark"):
            guard ExtensionForms.markValue(a) else { throw xt("\(ext): bad integer value for option \"--\(name)\", or out of range.\n") }
        case ("MARK", "and-mark"), ("MARK", "or-mark"), ("MARK", "xor-mark"), ("NFLOG", "nflog-size"), ("NFLOG", "nflog-range"),
             ("policy", "reqid"), ("policy", "spi"):
            try uint(0, 0xffff_ffff)
        case ("NFLOG", "nflog-group"), ("NFLOG", "nflog-threshold"), ("NFQUEUE", "queue-num"):
            try uint(0, 65535)
        case ("NFLOG", "nflog-prefix"):
            if a.isEmpty { throw xt("Argument must have a minimum length of 1 characters\n") }
        case ("TOS", "and-tos"), ("TOS", "or-tos"), ("TOS", "xor-tos"):
            try uint(0, 255)
        case ("tos", "tos"), ("TOS", "set-tos"):
            _ = try OpaqueCanonicalizer.tosValue(a, parser: parser, word: w)
        case ("osf", "ttl"), ("osf", "log"):
            try uint(0, 2)
        case ("owner", "uid-owner"), ("owner", "gid-owner"):
            guard NamedValues.ownerRange(a, group: opt.name == "gid-owner") != nil else { throw badValue() }
        case ("physdev", "physdev-in"), ("physdev", "physdev-out"):
            // xtables_parse_interface: at most IFNAMSIZ-1 bytes.
            if a.utf8.count >= 16 { throw xt("interface name `\(a)' must be shorter than IFNAMSIZ (15)") }
        case ("policy", "dir"):
            guard a == "in" || a == "out" else { throw xt("policy_match: invalid dir \"\(a)\"") }
        case ("policy", "mode"):
            guard a == "tunnel" || a == "transport" else { throw xt("policy match: invalid mode \"\(a)\"") }
        case ("policy", "proto"):
            guard let p = ProtocolNames.parse(a.lowercased()) else { throw xt("unknown protocol \"\(a)\" specified") }
            guard [50, 51, 108].contains(p) else { throw xt("policy match: protocol must be ah/esp/ipcomp") }
        case ("state", "state"):
            // libxt_state: a comma list of these names (any case).
            for st in a.split(separator: ",", omittingEmptySubsequences: false)
            where !["INVALID", "ESTABLISHED", "NEW", "RELATED", "UNTRACKED"].contains(st.uppercased()) {
                throw xt("Bad state \"\(st)\"")
            }
        case ("mac", "mac-source"):
            // Six byte fields of at most two characters separated by colons (iptables takes
            // `0:1:2:3:4:5`, even `:::::`); the bytes themselves are left to the mac builder.
            let bytes = a.split(separator: ":", omittingEmptySubsequences: false)
            guard bytes.count == 6, bytes.allSatisfy({ $0.count <= 2 }) else {
                throw xt("Invalid MAC address specified.")
            }
        case ("policy", "pol"):
            guard a == "none" || a == "ipsec" else { throw xt("policy match: invalid policy \"\(a)\"") }
        case ("CONNMARK", "and-mark"), ("CONNMARK", "or-mark"), ("CONNMARK", "xor-mark"):
            try uint(0, 0xffff_ffff)
        case ("cluster", "cluster-total-nodes"), ("cluster", "cluster-local-node"), ("cluster", "cluster-local-nodemask"):
            try uint(1, 32)
        case ("cluster", "cluster-hash-seed"), ("IDLETIMER", "timeout"), ("HMARK", "hmark-offset"), ("HMARK", "hmark-rnd"),
             ("HMARK", "hmark-spi-mask"):
            try uint(0, 0xffff_ffff)
        case ("HMARK", "hmark-mod"):
            try uint(1, 0xffff_ffff)
        case ("HMARK", "hmark-sport-mask"), ("HMARK", "hmark-dport-mask"), ("HMARK", "hmark-proto-mask"):
            try uint(0, 65535)
        case ("HMARK", "hmark-src-prefix"), ("HMARK", "hmark-dst-prefix"):
            // XTTYPE_PLENMASK reads any 32-bit number (strtoul base 0) or a dotted mask here;
            // the prefix length is checked after the mandatory options.
            guard CNumbers.strtoui(Substring(a), max: UInt64(UInt32.max)) != nil || ExtensionForms.dotted(Substring(a)) != nil else {
                throw xt("HMARK: bad value for option \"--\(name)\", neither a valid network mask nor valid CIDR (0-32).\n")
            }
        case ("HMARK", "hmark-tuple"):
            for t in a.split(separator: ",", omittingEmptySubsequences: false)
            where !["src", "dst", "sport", "dport", "spi", "ct"].contains(String(t)) {
                throw xt("Bad type \"\(t)\"")
            }
        default:
            try OptionChecksMZ1.value(e, opt, args: args, parser: parser)
        }
    }

    /// libxtables' final check of mandatory options (xtables_options_fcheck), in the
    /// extension's option order, and the extensions' own final checks.
    static func final(_ e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) {
        // The few options given, searched in place: a Set per extension per rule cost more.
        let given = FinalGiven(e.given)
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, e.word) }
        if let m = finalMandatory[e.spec.name], !given.contains(m) {
            throw xt("\(e.spec.name): option \"--\(m)\" must be specified\n")
        }
        if let (names, text) = finalAnyOf[e.spec.name], !names.contains(where: given.contains) {
            throw xt(text)
        }
        try finalSpecific(e, given: given, parser: parser)
    }

    /// The options given to one extension, by name.
    struct FinalGiven {
        let given: [LoadedExtension.Given]
        init(_ given: [LoadedExtension.Given]) { self.given = given }
        func contains(_ name: String) -> Bool { given.contains { $0.option.name == name } }
    }

    // Options libxtables marks mandatory (XTF_MAND): "EXT: option "--X" must be specified".
    // (Built once: as a literal inside final() it was rebuilt for every extension of every rule.)
    static let finalMandatory: [String: String] = [
            "connbytes": "connbytes", "connlabel": "label", "cpu": "cpu", "helper": "helper", "connmark": "mark",
            "length": "length", "icmp": "icmp-type", "comment": "comment", "AUDIT": "type", "CHECKSUM": "checksum-fill",
            "CLASSIFY": "set-class", "DNAT": "to-destination",
            "mark": "mark", "osf": "genre", "realm": "realm", "tos": "tos", "SECMARK": "selctx", "TEE": "gateway",
            "TPROXY": "on-port", "mac": "mac-source", "pkttype": "pkt-type", "state": "state", "SNAT": "to-source",
        ]
    // The extensions' own final checks, in their words.
    static let finalAnyOf: [String: ([String], String)] = [
            "addrtype": (["src-type", "dst-type"], "addrtype: you must specify --src-type or --dst-type"),
            "connlimit": (["connlimit-upto", "connlimit-above"], "You must specify \"--connlimit-above\" or \"--connlimit-upto\"."),
            "devgroup": (["src-group", "dst-group"], "devgroup match: You must specify either '--src-group' or '--dst-group'"),
            "dscp": (["dscp", "dscp-class"], "DSCP match: Parameter --dscp is required"),
            "ecn": (["ecn-tcp-cwr", "ecn-tcp-ece", "ecn-ip-ect"], "ECN match: some option required"),
            "iprange": (["src-range", "dst-range"], "iprange match: You must specify `--src-range' or `--dst-range'"),
            "hashlimit": (["hashlimit-upto", "hashlimit-above", "hashlimit"], "You have to specify --hashlimit"),
            "DSCP": (["set-dscp", "set-dscp-class"], "DSCP target: Parameter --set-dscp is required"),
            "ECN": (["ecn-tcp-remove", "ecn-ece", "ecn-cwr", "ecn-ip-ect"], "ECN target: An operation is required"),
            "CONNSECMARK": (["save", "restore"], "CONNSECMARK target: parameter required"),
            "CONNMARK": (["set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark", "save-mark", "restore-mark"],
                         "CONNMARK target: No operation specified"),
            "conntrack": (ExtensionCatalog.matches["conntrack"]?.options.map(\.name) ?? [], "conntrack: At least one option is required"),
            "MARK": (["set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark"],
                     "MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required"),
            "TOS": (["set-tos", "and-tos", "or-tos", "xor-tos"], "TOS: An action is required"),
        ]

    static func finalSpecific(_ e: LoadedExtension, given: FinalGiven, parser: CommandLineParser) throws(Diagnostic) {
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, e.word) }
        switch e.spec.name {
        case "IDLETIMER":
            for n in ["timeout", "label"] where !given.contains(n) {
                throw xt("IDLETIMER: option \"--\(n)\" must be specified\n")
            }
        case "HMARK":
            if !given.contains("hmark-mod") { throw xt("--hmark-mod is mandatory") }
            if !given.contains("hmark-rnd") { throw xt("--hmark-rnd is mandatory") }
        case "cluster":
            // libxt_cluster's own check runs before libxtables' mandatory-option check.
            if !given.contains("cluster-local-node") && !given.contains("cluster-local-nodemask") {
                throw xt("cluster match: `--cluster-local-node' or`--cluster-local-nodemask' is missing")
            }
            if !given.contains("cluster-total-nodes") { throw xt("cluster: option \"--cluster-total-nodes\" must be specified\n") }
        case "RATEEST":
            try RateEstimator.targetFinal(e, parser: parser)
        case "policy":
            try PolicyMatchChecks.final(e, parser: parser)
        case "bpf":
            try BPFMatchForms.final(e, parser: parser)
        default:
            try OptionChecksMZ1.final(e, parser: parser)
        }
    }
}
