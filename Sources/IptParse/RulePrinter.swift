import Foundation

/// Prints rules exactly as iptables-save (1.8.9, nf_tables) does.
public enum RulePrinter {
    /// `-A CHAIN ...` without a trailing newline.
    public static func save(_ rule: Rule, chain: String, family: Family) -> String {
        var out = ""
        appendSave(rule, chain: chain, family: family, to: &out)
        return out
    }

    /// The rule specification after the chain name, with a leading space (empty for a bare rule).
    public static func spec(_ rule: Rule, family: Family) -> String {
        var out = ""
        appendSpec(rule, family: family, to: &out)
        return out
    }

    /// `save` appended to a buffer (SavePrinter writes a whole ruleset into one).
    static func appendSave(_ rule: Rule, chain: String, family: Family, to out: inout String) {
        out += "-A "
        out += chain
        appendSpec(rule, family: family, to: &out)
    }

    static func appendSpec(_ rule: Rule, family: Family, to out: inout String) {
        func neg(_ n: Bool) { if n { out += " !" } }
        if let s = rule.source { neg(s.negated); out += " -s "; out += s.value.saveText }
        if let d = rule.destination { neg(d.negated); out += " -d "; out += d.value.saveText }
        if let i = rule.inInterface { neg(i.negated); out += " -i "; out += i.value }
        if let o = rule.outInterface { neg(o.negated); out += " -o "; out += o.value }
        if let p = rule.proto { neg(p.negated); out += " -p "; out += ProtocolNames.name(p.value) }
        if let f = rule.fragment { out += f ? " -f" : " ! -f" }
        for m in rule.matches { appendMatch(m, family: family, to: &out) }
        if let t = rule.target { appendTarget(t, to: &out) }
    }

    /// `match` written straight into the buffer for the matches most rules hold (no String
    /// per part to concatenate); the others go through `match`. ParserSpeedPathTests holds
    /// the two to the same text.
    static func appendMatch(_ m: Match, family: Family, to out: inout String) {
        func port(_ name: String, _ r: Negatable<ValueRange>?) {
            guard let r else { return }
            if r.negated { out += " !" }
            out += " --"
            out += name
            out += " "
            r.value.appendSaveText(to: &out)
        }
        switch m {
        case .udp(let u):
            out += " -m udp"
            port("sport", u.sourcePort)
            port("dport", u.destinationPort)
        case .tcp(let t):
            out += " -m tcp"
            port("sport", t.sourcePort)
            port("dport", t.destinationPort)
            if let f = t.flags {
                if f.negated { out += " !" }
                out += " --tcp-flags "
                appendFlagNames(f.value.mask, to: &out)
                out += " "
                appendFlagNames(f.value.compare, to: &out)
            }
            if let o = t.option {
                if o.negated { out += " !" }
                out += " --tcp-option "
                out += String(o.value)
            }
        case .multiport(let mp):
            out += " -m multiport"
            if mp.negated { out += " !" }
            out += " --"
            out += mp.direction.rawValue
            out += " "
            for (k, r) in mp.ports.enumerated() {
                if k > 0 { out += "," }
                r.appendSaveText(to: &out)
            }
        case .conntrack(let c) where c.other.isEmpty:
            out += " -m conntrack"
            if let st = c.states {
                if st.negated { out += " !" }
                out += " --ctstate "
                st.value.appendSaveText(to: &out)
            }
        case .comment(let c):
            out += " -m comment --comment"
            appendSaveString(c, to: &out)
        default:
            out += match(m, family: family)
        }
    }

    /// `target` written into the buffer; a standard target or a chain without a String for it.
    static func appendTarget(_ t: Target, to out: inout String) {
        switch t {
        case .accept, .drop, .return, .queue, .jump:
            out += " -j "
            out += t.name
        default:
            out += target(t)
        }
    }

    static func match(_ m: Match, family: Family) -> String {
        func neg(_ n: Bool) -> String { n ? " !" : "" }
        func port(_ name: String, _ r: Negatable<ValueRange>?) -> String {
            guard let r else { return "" }
            return "\(neg(r.negated)) --\(name) \(r.value.saveText)"
        }
        switch m {
        case .tcp(let t):
            var s = " -m tcp" + port("sport", t.sourcePort) + port("dport", t.destinationPort)
            if let f = t.flags { s += "\(neg(f.negated)) --tcp-flags \(flagNames(f.value.mask)) \(flagNames(f.value.compare))" }
            if let o = t.option { s += "\(neg(o.negated)) --tcp-option \(o.value)" }
            return s
        case .udp(let u):
            return " -m udp" + port("sport", u.sourcePort) + port("dport", u.destinationPort)
        case .sctp(let u):
            var s = " -m sctp" + port("sport", u.sourcePort) + port("dport", u.destinationPort)
            if let c = u.chunkTypes { s += "\(neg(c.negated)) --chunk-types \(c.value.joined(separator: " "))" }
            return s
        case .icmp(let i):
            let t = i.any ? "any" : (i.codes == 0...255 ? "\(i.type)" : "\(i.type)/\(i.codes.lowerBound)")
            return " -m icmp\(neg(i.negated)) --icmp-type \(t)"
        case .icmp6(let i):
            let t = i.codes == 0...255 ? "\(i.type)" : "\(i.type)/\(i.codes.lowerBound)"
            return " -m icmp6\(neg(i.negated)) --icmpv6-type \(t)"
        case .multiport(let mp):
            return " -m multiport\(neg(mp.negated)) --\(mp.direction.rawValue) " + mp.ports.map(\.saveText).joined(separator: ",")
        case .conntrack(let c):
            var s = " -m conntrack"
            if let st = c.states { s += "\(neg(st.negated)) --ctstate \(st.value.saveText)" }
            return s + options(c.other)
        case .state(let st):
            return " -m state\(neg(st.negated)) --state \(st.value.saveText)"
        case .set(let st):
            return " -m set\(neg(st.negated)) --match-set \(st.name) " + st.directions.map(\.rawValue).joined(separator: ",") + options(st.other)
        case .iprange(let r):
            var s = " -m iprange"
            func text(_ a: AddressRange) -> String {
                IPAddressText.format(a.lower, family: r.family) + "-" + IPAddressText.format(a.upper, family: r.family)
            }
            if let x = r.source { s += "\(neg(x.negated)) --src-range \(text(x.value))" }
            if let x = r.destination { s += "\(neg(x.negated)) --dst-range \(text(x.value))" }
            return s
        case .addrtype(let a):
            var s = " -m addrtype"
            if let x = a.sourceTypes { s += "\(neg(x.negated)) --src-type \(x.value.joined(separator: ","))" }
            if let x = a.destinationTypes { s += "\(neg(x.negated)) --dst-type \(x.value.joined(separator: ","))" }
            if a.limitIfaceIn { s += " --limit-iface-in" }
            if a.limitIfaceOut { s += " --limit-iface-out" }
            return s
        case .mac(let m):
            return " -m mac\(neg(m.negated)) --mac-source " + m.value.map { String(format: "%02x", $0) }.joined(separator: ":")
        case .limit(let l):
            var s = " -m limit --limit \(rate(l.average))"
            if l.burst != 5 { s += " --limit-burst \(l.burst)" }
            return s
        case .comment(let c):
            return " -m comment --comment" + saveString(c)
        case .length(let l):
            return " -m length\(neg(l.negated)) --length \(l.value.saveText)"
        case .ttl(let t), .hl(let t):
            let name = m.name
            if t.op == .ne { return " -m \(name) ! --\(name)-eq \(t.value)" }
            return " -m \(name) --\(name)-\(t.op.rawValue) \(t.value)"
        case .pkttype(let p):
            return " -m pkttype\(neg(p.negated)) --pkt-type \(p.value.rawValue)"
        case .string(let s):
            var out = " -m string\(neg(s.negated))"
            if s.pattern.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
                var q = ""
                for b in s.pattern {
                    if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { q += "\\" }
                    q += String(UnicodeScalar(b))
                }
                out += " --string \"\(q)\""
            } else {
                out += " --hex-string \"|" + s.pattern.map { String(format: "%02x", $0) }.joined() + "|\""
            }
            out += " --algo \(s.algorithm)"
            if s.from != 0 { out += " --from \(s.from)" }
            if s.to != 65535 { out += " --to \(s.to)" }
            if s.ignoreCase { out += " --icase" }
            return out
        case .mark(let mk):
            let v = mk.mask == 0xffff_ffff ? String(format: "0x%x", mk.value) : String(format: "0x%x/0x%x", mk.value, mk.mask)
            return " -m mark\(neg(mk.negated)) --mark \(v)"
        case .opaque(let e) where e.name == "connlabel":
            // libxt_connlabel saves the label in double quotes, always.
            return " -m connlabel" + e.options.map { o in
                (o.negated ? " ! --" : " --") + o.name + o.args.map { " \"\($0)\"" }.joined()
            }.joined()
        case .opaque(let e) where e.name == "ah" || e.name == "esp":
            // libxt_ah/esp save no spi test for the full range, negated or not (-L still shows `! 0:max`).
            return " -m \(e.name)" + options(e.options.filter { $0.args != ["0:4294967295"] })
        case .opaque(let e):
            return " -m \(e.name)" + options(e.options)
        }
    }

    static func target(_ t: Target) -> String {
        switch t {
        case .goto(let c): return " -g \(c)"
        case .reject(let r): return " -j REJECT --reject-with \(r.with)"
        case .log(let l):
            var s = " -j LOG"
            if let p = l.prefix { s += " --log-prefix" + saveString(p) }
            if l.level != 4 { s += " --log-level \(l.level)" }
            if l.tcpSequence { s += " --log-tcp-sequence" }
            if l.tcpOptions { s += " --log-tcp-options" }
            if l.ipOptions { s += " --log-ip-options" }
            if l.uid { s += " --log-uid" }
            if l.macDecode { s += " --log-macdecode" }
            return s
        case .opaque(let e): return " -j \(e.name)" + options(e.options)
        default: return " -j \(t.name)"
        }
    }

    /// Options whose values may hold spaces are written with iptables' quoting.
    static let quotedOptions: Set<String> = ["nflog-prefix", "comment", "u32", "helper", "path"]

    static func options(_ opts: [ExtensionOption]) -> String {
        var s = ""
        for o in opts {
            s += (o.negated ? " ! --" : " --") + o.name
            for a in o.args {
                let needsQuote = quotedOptions.contains(o.name) || a.contains(where: { $0 == " " || $0 == "\"" || $0 == "\t" })
                s += needsQuote ? saveString(a) : " " + a
            }
        }
        return s
    }

    static let flagBits: [(UInt8, String)] = [(1, "FIN"), (2, "SYN"), (4, "RST"), (8, "PSH"), (16, "ACK"), (32, "URG")]

    static func flagNames(_ v: UInt8) -> String {
        var out = ""
        appendFlagNames(v, to: &out)
        return out
    }

    static func appendFlagNames(_ v: UInt8, to out: inout String) {
        if v == 0 {
            out += "NONE"
            return
        }
        var first = true
        for (bit, name) in flagBits where v & bit != 0 {
            if !first { out += "," }
            out += name
            first = false
        }
    }

    /// The limit match's rate in the largest unit that keeps it exact (libxt_limit's print_rate).
    static func rate(_ period: UInt32) -> String {
        rate(UInt64(period), scale: UInt64(LimitMatch.scale))
    }

    /// A period of `scale` units per second in the largest unit that keeps it exact (the
    /// print_rate of libxt_limit and libxt_hashlimit, each with its own scale).
    static func rate(_ period: UInt64, scale: UInt64) -> String {
        let rates: [(String, UInt64)] = [("day", scale * 86400), ("hour", scale * 3600), ("min", scale * 60), ("sec", scale)]
        let p = UInt64(max(1, period))
        var i = 1
        while i < rates.count {
            if p > rates[i].1 || rates[i].1 / p < rates[i].1 % p { break }
            i += 1
        }
        return "\(rates[i - 1].1 / p)/\(rates[i - 1].0)"
    }

    /// xtables_save_string: bare when only `[A-Za-z0-9_-]`, otherwise in double
    /// quotes with `"`, `\` and `'` escaped. Returns the text with its leading space.
    public static func saveString(_ s: String) -> String {
        var out = ""
        appendSaveString(s, to: &out)
        return out
    }

    /// `saveString` appended to a buffer.
    static func appendSaveString(_ s: String, to out: inout String) {
        let plain = !s.isEmpty && s.utf8.allSatisfy { u in
            (u >= 48 && u <= 57) || (u >= 65 && u <= 90) || (u >= 97 && u <= 122) || u == 95 || u == 45
        }
        out += " "
        if plain {
            out += s
            return
        }
        out += "\""
        for c in s {
            if c == "\"" || c == "\\" || c == "'" { out.append("\\") }
            out.append(c)
        }
        out += "\""
    }
}
