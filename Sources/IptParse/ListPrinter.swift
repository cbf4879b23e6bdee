/// `iptables -L` and `iptables -S` output, byte for byte as iptables 1.8.9 (nf_tables)
/// prints it: the column widths, the `anywhere`/`any` words, the K/M/G counter units and
/// the per-extension renderings of ListMatchPrinter. Name lookups (services, hosts) come
/// through a `ListNameResolver` so this module stays free of C and tests can pin them.
public enum ListPrinter {
    /// The listing flags of one command line.
    public struct Options: Equatable, Sendable {
        public var numeric: Bool
        public var verbose: Bool
        public var exact: Bool
        public var lineNumbers: Bool
        public init(numeric: Bool = false, verbose: Bool = false, exact: Bool = false, lineNumbers: Bool = false) {
            self.numeric = numeric
            self.verbose = verbose
            self.exact = exact
            self.lineNumbers = lineNumbers
        }
    }

    /// Counters of the rules and policies being printed (zeros when nothing runs).
    public struct CounterSource: Sendable {
        /// Chain name and 1-based rule number.
        public var rule: @Sendable (String, Int) -> Counters
        public var policy: @Sendable (String) -> Counters
        public init(rule: @escaping @Sendable (String, Int) -> Counters, policy: @escaping @Sendable (String) -> Counters) {
            self.rule = rule
            self.policy = policy
        }
        public static let zero = CounterSource(rule: { _, _ in Counters(packets: 0, bytes: 0) },
                                               policy: { _ in Counters(packets: 0, bytes: 0) })
    }

    /// A rule uses an extension whose `-L` rendering we do not know: refusing beats
    /// printing something iptables would not.
    public struct Unsupported: Error, Equatable, Sendable {
        public var what: String
        public init(_ what: String) { self.what = what }
    }

    /// `-L [chain [rulenum]]`. With a rule number only that rule's line is printed, as iptables does.
    public static func list(_ table: Table, chain: String?, ruleNumber: Int?, options o: Options,
                            counters: CounterSource = .zero, resolver: ListNameResolver) throws(Unsupported) -> String {
        let chains = SavePrinter.chainOrder(table).filter { chain == nil || $0.name == chain }
        var out = ""
        for (k, c) in chains.enumerated() {
            if let n = ruleNumber {
                if n >= 1 && n <= c.rules.count {
                    out += try ruleLine(c.rules[n - 1], chain: c.name, number: n, options: o, counters: counters, resolver: resolver)
                }
                continue
            }
            if k > 0 { out += "\n" }
            out += header(c, table: table, options: o, counters: counters)
            for (i, r) in c.rules.enumerated() {
                out += try ruleLine(r, chain: c.name, number: i + 1, options: o, counters: counters, resolver: resolver)
            }
        }
        return out
    }

    static func header(_ c: Chain, table: Table, options o: Options, counters: CounterSource) -> String {
        var s = "Chain \(c.name)"
        if let p = c.policy {
            s += " (policy \(p)"
            if o.verbose {
                let cnt = counters.policy(c.name)
                s += " " + number(cnt.packets, exact: o.exact, table: false) + "packets, "
                    + number(cnt.bytes, exact: o.exact, table: false) + "bytes"
            }
            s += ")\n"
        } else {
            s += " (\(table.references(to: c.name)) references)\n"
        }
        if o.lineNumbers { s += left("num", 4) + " " }
        if o.verbose {
            if o.exact {
                s += right("pkts", 8) + " " + right("bytes", 10) + " "
            } else {
                s += right("pkts", 5) + " " + right("bytes", 5) + " "
            }
        }
        s += left("target", 9) + " " + " prot " + "opt"
        if o.verbose { s += " " + left("in", 6) + " " + left("out", 6) + " " }
        s += " " + left("source", 19) + " " + " " + left("destination", 19) + " \n"
        return s
    }

    static func ruleLine(_ r: Rule, chain: String, number n: Int, options o: Options,
                         counters: CounterSource, resolver: ListNameResolver) throws(Unsupported) -> String {
        var s = ""
        if o.lineNumbers { s += left("\(n)", 4) + " " }
        if o.verbose {
            let cnt = counters.rule(chain, n)
            s += number(cnt.packets, exact: o.exact, table: true) + number(cnt.bytes, exact: o.exact, table: true)
        }
        s += left(targetColumn(r.target), 9) + " "
        s += r.proto?.negated == true ? "!" : " "
        let p = r.proto?.value ?? 0
        s += left(o.numeric ? "\(p)" : (p == 0 ? "all" : ProtocolNames.name(p)), 4) + " "
        switch r.fragment {
        case nil: s += "-- "
        case true?: s += "-f "
        case false?: s += "!f "
        }
        if o.verbose {
            s += " " + left(interface(r.inInterface, numeric: o.numeric), 6) + " "
            s += left(interface(r.outInterface, numeric: o.numeric), 6) + " "
        }
        s += (r.source?.negated == true ? "!" : " ") + left(address(r.source?.value, numeric: o.numeric, resolver: resolver), 19) + " "
        s += (r.destination?.negated == true ? "!" : " ") + left(address(r.destination?.value, numeric: o.numeric, resolver: resolver), 19) + " "
        if case .goto = r.target { s += "[goto] " }
        let m = ListMatchPrinter(rule: r, numeric: o.numeric, resolver: resolver)
        for x in r.matches { s += try m.match(x) }
        if let t = r.target { s += try m.target(t) }
        return s + "\n"
    }

    /// The line `iptables -v -A/-I/-D/-R/-C` prints for each rule it touched: libxtables'
    /// FMT_PRINT_RULE form (no table, numeric addresses, protocol names from its short list).
    public static func echo(_ r: Rule, resolver: ListNameResolver) throws(Unsupported) -> String {
        var s = targetColumn(r.target) + " "
        s += r.proto?.negated == true ? "!" : " "
        let p = r.proto?.value ?? 0
        s += (chainProtos[p] ?? "\(p)") + " "
        switch r.fragment {
        case nil: s += "opt -- "
        case true?: s += "opt -f "
        case false?: s += "opt !f "
        }
        s += "in " + interface(r.inInterface, numeric: true) + " out " + interface(r.outInterface, numeric: true) + " "
        s += (r.source?.negated == true ? "!" : " ") + address(r.source?.value, numeric: true, resolver: resolver) + " "
        s += (r.destination?.negated == true ? "!" : " ") + "-> " + address(r.destination?.value, numeric: true, resolver: resolver)
        s += "  "
        if case .goto = r.target { s += "[goto] " }
        let m = ListMatchPrinter(rule: r, numeric: true, resolver: resolver)
        for x in r.matches { s += try m.match(x) }
        if let t = r.target { s += try m.target(t) }
        return s + "\n"
    }

    /// libxtables' xtables_chain_protos: the only names the rule echo uses.
    static let chainProtos: [UInt8: String] = [
        6: "tcp", 132: "sctp", 17: "udp", 136: "udplite", 1: "icmp", 58: "icmpv6", 50: "esp", 51: "ah", 135: "mh", 0: "all",
    ]

    static func targetColumn(_ t: Target?) -> String {
        guard let t else { return "" }
        // iptables-nft lists NOTRACK under the CT target it is made of (xt_CT's NOTRACK revision).
        if case .opaque(let e) = t, e.name == "NOTRACK" { return "CT" }
        return t.name
    }

    static func interface(_ i: Negatable<String>?, numeric: Bool) -> String {
        guard let i else { return numeric ? "*" : "any" }
        return (i.negated ? "!" : "") + i.value
    }

    /// `anywhere` for a zero mask unless -n; otherwise the address (or its host name) and
    /// the mask: nothing for a host, `/len` for a prefix, the dotted mask when it has holes.
    static func address(_ a: IPPrefix?, numeric: Bool, resolver: ListNameResolver) -> String {
        guard let a else { return numeric ? "0.0.0.0/0" : "anywhere" }
        if a.maskBits == IPBits() && !numeric { return "anywhere" }
        let addr = numeric ? IPAddressText.format(a.address, family: a.family) : resolver.host(a.address)
        let mask: String
        switch a.prefixLength {
        case 32?: mask = ""
        case let n?: mask = "/\(n)"
        case nil: mask = "/" + IPAddressText.format(a.mask, family: a.family)
        }
        return addr + mask
    }

    /// xtables_print_num: exact with -x, else up to 99999 then K, M, G, T rounded.
    /// Chain headers print it without the column padding.
    public static func number(_ v: UInt64, exact: Bool, table: Bool) -> String {
        if exact { return (table ? right("\(v)", 8) : "\(v)") + " " }
        if v <= 99999 { return (table ? right("\(v)", 5) : "\(v)") + " " }
        var n = v
        for unit in ["K", "M", "G"] {
            n = (n + 500) / 1000
            if n <= 9999 { return (table ? right("\(n)", 4) : "\(n)") + unit + " " }
        }
        n = (n + 500) / 1000
        return (table ? right("\(n)", 4) : "\(n)") + "T "
    }

    static func left(_ s: String, _ w: Int) -> String {
        s.count >= w ? s : s + String(repeating: " ", count: w - s.count)
    }

    static func right(_ s: String, _ w: Int) -> String {
        s.count >= w ? s : String(repeating: " ", count: w - s.count) + s
    }
}
