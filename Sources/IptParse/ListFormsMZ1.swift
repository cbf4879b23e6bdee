/// The `-L` renderings (libxtables' print functions, not the save ones) of the m–z
/// extensions recent, string, set counters, sctp chunk types, statistic, time, u32, quota,
/// tcpmss, socket, rpfilter and the targets SET, TTL, TCPOPTSTRIP: learnt from iptables
/// 1.8.9 through the option sweep (fixtures/option-sweep) and libxt_NAME.c's print().
/// Each works from the canonical (iptables-save) options the parser keeps.
enum ListFormsMZ1 {
    /// A match kept by name; nil when we do not know its rendering.
    static func match(_ e: ExtensionCall, numeric: Bool) -> String? {
        func arg(_ n: String) -> ExtensionOption? { e.options.first { $0.name == n } }
        func has(_ n: String) -> Bool { e.options.contains { $0.name == n } }
        switch e.name {
        case "quota":
            // libxt_quota prints the quota only; the inversion is not shown.
            guard let q = arg("quota") else { return nil }
            return " quota: \(q.args[0]) bytes"
        case "tcpmss":
            guard let m = arg("mss") else { return nil }
            return " tcpmss match " + (m.negated ? "!" : "") + m.args[0]
        case "u32":
            guard let u = arg("u32") else { return nil }
            return " u32" + (u.negated ? " !" : "") + " \"\(u.args[0])\""
        case "socket":
            // libxt_socket (revision 3) prints each flag by its option name.
            var s = " socket"
            for o in e.options {
                guard ["transparent", "nowildcard", "restore-skmark"].contains(o.name) else { return nil }
                s += " --" + o.name
            }
            return s
        case "rpfilter":
            var s = " rpfilter"
            for n in ["loose", "validmark", "accept-local", "invert"] where has(n) { s += " " + n }
            return e.options.allSatisfy({ ["loose", "validmark", "accept-local", "invert"].contains($0.name) }) ? s : nil
        case "statistic":
            return statistic(e)
        case "recent":
            return recent(e)
        case "time":
            return time(e)
        default:
            return nil
        }
    }

    /// libxt_statistic: `mode random[ !] probability %.11f`, `mode nth[ !] every N[ packet P]`
    /// (the packet only when not 0).
    static func statistic(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> ExtensionOption? { e.options.first { $0.name == n } }
        let inv = e.options.contains { $0.negated } ? " !" : ""
        if let p = arg("probability") { return " statistic mode random\(inv) probability \(p.args[0])" }
        guard let every = arg("every") else { return nil }
        var s = " statistic mode nth\(inv) every \(every.args[0])"
        if let p = arg("packet"), p.args[0] != "0" { s += " packet \(p.args[0])" }
        return s
    }

    /// libxt_recent: `[! ]recent: CMD[ seconds: N][ reap][ hit_count: N][ TTL-Match] name: X side: source|dest mask: M`.
    static func recent(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        func has(_ n: String) -> Bool { e.options.contains { $0.name == n } }
        let commands = [("set", "SET"), ("rcheck", "CHECK"), ("update", "UPDATE"), ("remove", "REMOVE")]
        guard let cmd = commands.first(where: { has($0.0) }) else { return nil }
        let inv = e.options.first { $0.name == cmd.0 }?.negated == true
        var s = (inv ? " !" : "") + " recent: " + cmd.1
        if let sec = arg("seconds") { s += " seconds: \(sec)" }
        if has("reap") { s += " reap" }
        if let h = arg("hitcount") { s += " hit_count: \(h)" }
        if has("rttl") { s += " TTL-Match" }
        s += " name: " + (arg("name") ?? "DEFAULT")
        s += has("rdest") ? " side: dest" : " side: source"
        if let m = arg("mask") { s += " mask: \(m)" }
        return s
    }

    /// libxt_time: `TIME[ from A to B][ on WEEKDAYS][ on MONTHDAYS][ starting from D][ until date D][ UTC][ contiguous]`;
    /// month days with libxt_time's suffixes by last digit (11st, 12nd, 13rd, as it prints them).
    static func time(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        func has(_ n: String) -> Bool { e.options.contains { $0.name == n } }
        var s = " TIME"
        let start = arg("timestart"), stop = arg("timestop")
        if start != nil || stop != nil { s += " from \(start ?? "00:00:00") to \(stop ?? "23:59:59")" }
        if let w = arg("weekdays") { s += " on \(w)" }
        if let m = arg("monthdays") {
            let days = m.split(separator: ",").map { d -> String in
                let suffix = d.hasSuffix("1") ? "st" : d.hasSuffix("2") ? "nd" : d.hasSuffix("3") ? "rd" : "th"
                return d + suffix
            }
            s += " on " + days.joined(separator: ",")
        }
        if let d = arg("datestart") { s += " starting from " + d.replacingOccurrences(of: "T", with: " ") }
        // INT_MAX seconds is libxt_time's "no end": not printed.
        if let d = arg("datestop"), d != "2038-01-19T03:14:07" { s += " until date " + d.replacingOccurrences(of: "T", with: " ") }
        if !has("kerneltz") { s += " UTC" }
        if has("contiguous") { s += " contiguous" }
        return s
    }

    /// libxt_sctp's chunk list: `[! ]MODE LIST`, each chunk as 0x%04X under -n (its name
    /// otherwise) with its flag letters kept; ALL and NONE as they are saved.
    static func sctpChunks(_ c: Negatable<[String]>, numeric: Bool) -> String {
        var s = " " + (c.negated ? "! " : "") + (c.value.first ?? "")
        guard c.value.count > 1 else { return s }
        let list = c.value[1]
        if list == "ALL" || list == "NONE" { return s + " " + list }
        let items = list.split(separator: ",").map { item -> String in
            let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            var text = String(parts[0])
            if numeric, let n = sctpChunkNumbers[text.uppercased()] {
                let h = String(n, radix: 16, uppercase: true)
                text = "0x" + String(repeating: "0", count: 4 - h.count) + h
            }
            return parts.count == 2 ? text + ":" + parts[1] : text
        }
        s += " " + items.joined(separator: ",")
        return s
    }

    /// `MODE LIST` as libxt_sctp saves it: the chunks of its bitmap in number order (stable for
    /// names it does not know, which the option check has refused already).
    static func sctpChunkOrder(_ args: [String]) -> [String] {
        guard args.count == 2, args[1] != "ALL", args[1] != "NONE" else { return args }
        let items = args[1].split(separator: ",").map(String.init)
        let sorted = items.enumerated().sorted { a, b in
            let na = sctpChunkNumbers[String(a.element.prefix { $0 != ":" }).uppercased()] ?? 256
            let nb = sctpChunkNumbers[String(b.element.prefix { $0 != ":" }).uppercased()] ?? 256
            return na != nb ? na < nb : a.offset < b.offset
        }.map(\.element)
        return [args[0], sorted.joined(separator: ",")]
    }

    /// libxt_sctp's chunk table (sctp_chunk_names).
    static let sctpChunkNumbers: [String: Int] = [
        "DATA": 0, "INIT": 1, "INIT_ACK": 2, "SACK": 3, "HEARTBEAT": 4, "HEARTBEAT_ACK": 5, "ABORT": 6,
        "SHUTDOWN": 7, "SHUTDOWN_ACK": 8, "ERROR": 9, "COOKIE_ECHO": 10, "COOKIE_ACK": 11, "ECN_ECNE": 12,
        "ECN_CWR": 13, "SHUTDOWN_COMPLETE": 14, "I_DATA": 64, "RE_CONFIG": 130, "PAD": 132, "ASCONF": 193,
        "ASCONF_ACK": 128, "FORWARD_TSN": 192, "I_FORWARD_TSN": 194,
    ]

    /// libxt_string: ` STRING match [!] "TEXT"` (or `"|hex|"`), ` ALGO name A`, FROM/TO when set, ICASE.
    static func string(_ s: StringMatch) -> String {
        var out = " STRING match " + (s.negated ? "!" : "")
        if s.pattern.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            var q = ""
            for b in s.pattern {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { q += "\\" }
                q += String(UnicodeScalar(b))
            }
            out += " \"\(q)\""
        } else {
            let d = Array("0123456789abcdef")
            out += " \"|" + s.pattern.map { String(d[Int($0 >> 4)]) + String(d[Int($0 & 15)]) }.joined() + "|\""
        }
        out += " ALGO name \(s.algorithm)"
        if s.from != 0 { out += " FROM \(s.from)" }
        if s.to != 65535 { out += " TO \(s.to)" }
        if s.ignoreCase { out += " ICASE" }
        return out
    }

    /// A target kept by name; nil when we do not know its rendering.
    static func target(_ e: ExtensionCall, numeric: Bool) -> String? {
        func arg(_ n: String) -> ExtensionOption? { e.options.first { $0.name == n } }
        switch e.name {
        case "TTL":
            if let v = arg("ttl-set") { return " TTL set to \(v.args[0])" }
            if let v = arg("ttl-dec") { return " TTL decrement by \(v.args[0])" }
            if let v = arg("ttl-inc") { return " TTL increment by \(v.args[0])" }
            return nil
        case "TCPOPTSTRIP":
            // Without options libxt_TCPOPTSTRIP's print shows nothing.
            guard let o = arg("strip-options") else { return e.options.isEmpty ? "" : nil }
            // Numbers under -n; libxt_TCPOPTSTRIP's names otherwise.
            let names: [String: String] = ["2": "mss", "3": "wscale", "4": "sack-permitted", "5": "sack", "8": "timestamp", "19": "md5"]
            let list = o.args[0].split(separator: ",").map { n in numeric ? String(n) : names[String(n)] ?? String(n) }
            return " TCPOPTSTRIP options " + list.joined(separator: ",")
        case "SET":
            // libxt_SET (revision 3): add-set, exist, timeout, del-set, map-set and its flags.
            var s = ""
            for n in ["add-set", "exist", "timeout", "del-set", "map-set", "map-mark", "map-prio", "map-queue"] {
                guard let o = arg(n) else { continue }
                s += " " + n + o.args.map { " " + $0 }.joined()
            }
            let known: Set<String> = ["add-set", "exist", "timeout", "del-set", "map-set", "map-mark", "map-prio", "map-queue"]
            return e.options.allSatisfy({ known.contains($0.name) }) ? s : nil
        default:
            return nil
        }
    }
}
