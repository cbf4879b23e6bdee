import Foundation

/// The rate estimator pair: the `rateest` match (libxt_rateest, an old-style parser with its
/// own words) and the `RATEEST` target (libxt_RATEEST, guided options), as iptables 1.8.9
/// reads, checks, saves and lists them. Learnt from libxt_rateest.c / libxt_RATEEST.c and the
/// option sweep (fixtures/option-sweep).
///
/// The kernel's xt_rateest refuses a rule whose estimator no RATEEST rule has created (exit 4
/// at commit); that depends on the whole ruleset and is the kernel layer's answer.
enum RateEstimator {
    /// libxt_rateest's option ids: the aliases `--rateest` (= rateest1), `--rateest-bps` /
    /// `--rateest-pps` (= the `2` spellings) share a flag with the option they stand for.
    static let matchIDs: [String: String] = [
        "rateest1": "rateest1", "rateest": "rateest1", "rateest2": "rateest2",
        "rateest-bps1": "rateest-bps1", "rateest-pps1": "rateest-pps1",
        "rateest-bps2": "rateest-bps2", "rateest-bps": "rateest-bps2",
        "rateest-pps2": "rateest-pps2", "rateest-pps": "rateest-pps2",
        "rateest-delta": "rateest-delta", "rateest-lt": "rateest-lt", "rateest-gt": "rateest-gt", "rateest-eq": "rateest-eq",
    ]

    /// The rate options take their value only when the next word does not start with `-` or
    /// `!` (libxt_rateest: "The rate is optional and only required in absolute mode").
    static func takesOptionalValue(_ spec: ExtensionSpec, _ opt: ExtensionSpec.Option) -> Bool {
        spec.name == "rateest" && ["bps", "pps"].contains(where: { opt.name.hasPrefix("rateest-" + $0) })
    }

    /// Whether `w` is taken as a rate option's value (the word's first character decides).
    static func isValueWord(_ w: Word) -> Bool {
        guard let c = w.text.first else { return true }
        return c != "-" && c != "!"
    }

    /// libxt_rateest's parse, as each option is read: `!` only on lt/gt/eq, each flag once,
    /// the rate (strtod and an iproute unit) or packet rate (strtoul base 0, 32 bits).
    static func check(_ e: LoadedExtension, _ opt: ExtensionSpec.Option, negated: Bool, args: [Word],
                      parser: CommandLineParser) throws(Diagnostic) -> Bool {
        guard e.spec.name == "rateest", let id = matchIDs[opt.name] else { return false }
        let w = args.first ?? e.word
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, "rateest: " + text, w) }
        let given = e.given.contains { matchIDs[$0.option.name] == id }
        switch id {
        case "rateest1", "rateest2":
            if negated { throw xt("rateest can't be inverted") }
            if given { throw xt("can't specify --\(id) twice") }
        case "rateest-delta":
            if negated { throw xt("rateest-delta can't be inverted") }
            if given { throw xt("can't specify --rateest-delta twice") }
        case "rateest-lt", "rateest-gt", "rateest-eq":
            if given { throw xt("can't specify lt/gt/eq twice") }
        default:
            let bps = id.hasPrefix("rateest-bps")
            if negated { throw xt(bps ? "rateest-bps can't be inverted" : "rateest-pps can't be inverted") }
            if given { throw xt("can't specify --\(id) twice") }
            guard let a = args.first?.text else { break }
            if bps {
                guard rate(a) != nil else { throw xt("could not parse rate `\(a)'") }
            } else {
                guard CNumbers.strtoui(Substring(a), max: UInt64(UInt32.max)) != nil else { throw xt("could not parse pps `\(a)'") }
            }
        }
        return true
    }

    /// rateest_get_rate: strtod, then no unit (bytes/s, stored /8) or one of iproute's units
    /// (case-insensitive); the kernel keeps bytes per second in 32 bits.
    static func rate(_ s: String) -> UInt32? {
        let units: [(String, Double)] = [
            ("bit", 1), ("Kibit", 1024), ("kbit", 1000), ("Mibit", 1024 * 1024), ("mbit", 1_000_000),
            ("Gibit", 1024 * 1024 * 1024), ("gbit", 1_000_000_000), ("Tibit", 1024.0 * 1024 * 1024 * 1024), ("tbit", 1e12),
            ("Bps", 8), ("KiBps", 8 * 1024), ("KBps", 8000), ("MiBps", 8.0 * 1024 * 1024), ("MBps", 8_000_000),
            ("GiBps", 8.0 * 1024 * 1024 * 1024), ("GBps", 8e9), ("TiBps", 8.0 * 1024 * 1024 * 1024 * 1024), ("TBps", 8e12),
        ]
        return s.withCString { p -> UInt32? in
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(p, &end)
            guard let end, end != UnsafeMutablePointer(mutating: p) else { return nil }
            let rest = String(cString: end)
            if rest.isEmpty { return cUInt32(v / 8) }
            guard let u = units.first(where: { $0.0.lowercased() == rest.lowercased() }) else { return nil }
            return cUInt32(v * u.1 / 8)
        }
    }

    /// C's double-to-uint32_t conversion as x86-64 compilers emit it (through a 64-bit integer).
    static func cUInt32(_ d: Double) -> UInt32 {
        guard d.isFinite, d > -9.2e18, d < 9.2e18 else { return 0 }
        return UInt32(truncatingIfNeeded: Int64(d))
    }

    /// The match as rateest_save writes it (and, with `list`, as rateest_print does).
    struct MatchInfo {
        var name1 = "", name2 = ""
        var delta = false, rel = false, bps = false, pps = false, invert = false
        var mode = ""
        var bps1: UInt32 = 0, bps2: UInt32 = 0, pps1: UInt32 = 0, pps2: UInt32 = 0

        init(_ opts: [ExtensionOption]) {
            for o in opts {
                let a = o.args.first
                switch RateEstimator.matchIDs[o.name] ?? "" {
                case "rateest1": name1 = String(decoding: (a ?? "").utf8.prefix(15), as: UTF8.self)
                case "rateest2": name2 = String(decoding: (a ?? "").utf8.prefix(15), as: UTF8.self); rel = true
                case "rateest-delta": delta = true
                case "rateest-lt", "rateest-gt", "rateest-eq":
                    mode = String(o.name.suffix(2))
                    if o.negated { invert = true }
                case "rateest-bps1": bps = true; if let a { bps1 = RateEstimator.rate(a) ?? 0 }
                case "rateest-bps2": bps = true; if let a { bps2 = RateEstimator.rate(a) ?? 0 }
                case "rateest-pps1": pps = true; if let a { pps1 = UInt32(CNumbers.strtoui(Substring(a), max: UInt64(UInt32.max)) ?? 0) }
                case "rateest-pps2": pps = true; if let a { pps2 = UInt32(CNumbers.strtoui(Substring(a), max: UInt64(UInt32.max)) ?? 0) }
                default: break
                }
            }
        }

        var abs: Bool { !rel }

        func modeText(_ prefix: String) -> String { (invert ? " !" : "") + " " + prefix + mode }

        static func rateText(_ r: UInt32, numeric: Bool) -> String {
            if numeric { return " \(r)" }
            let t = Double(r) * 8
            if t >= 1e9 { return String(format: " %.0fMbit", t / 1e6) }
            if t >= 1e6 { return String(format: " %.0fKbit", t / 1e3) }
            return String(format: " %.0fbit", t)
        }

        /// rateest_save's words after `-m rateest`.
        var saved: [ExtensionOption] {
            var out: [ExtensionOption] = []
            if delta { out.append(ExtensionOption("rateest-delta")) }
            out.append(ExtensionOption(rel ? "rateest1" : "rateest", args: [name1]))
            func rates(_ name: String, _ r1: UInt32, _ r2: UInt32, numeric: Bool) {
                func num(_ r: UInt32) -> String { String(Self.rateText(r, numeric: numeric).dropFirst()) }
                let m = ExtensionOption("rateest-" + mode, negated: invert)
                if delta {
                    out.append(ExtensionOption("rateest-\(name)1", args: [num(r1)]))
                    out.append(m)
                    out.append(ExtensionOption("rateest-\(name)2", args: [num(r2)]))
                } else {
                    out.append(m)
                    out.append(ExtensionOption("rateest-\(name)", args: abs ? [num(r2)] : []))
                }
            }
            if bps { rates("bps", bps1, bps2, numeric: false) }
            if pps { rates("pps", pps1, pps2, numeric: true) }
            if rel { out.append(ExtensionOption("rateest2", args: [name2])) }
            return out
        }

        /// rateest_print.
        func list(numeric: Bool) -> String {
            var s = " rateest match " + name1
            if delta { s += " delta" }
            if bps {
                s += " bps"
                if delta { s += Self.rateText(bps1, numeric: numeric) }
                if abs { s += Self.rateText(bps2, numeric: numeric) + modeText("") }
            }
            if pps {
                s += " pps"
                if delta { s += " \(pps1)" }
                if abs { s += modeText("") + " \(pps2)" }
            }
            if rel {
                s += modeText("") + " " + name2
                if bps { s += " bps" + (delta ? Self.rateText(bps2, numeric: numeric) : "") }
                if pps { s += " pps" + (delta ? " \(pps2)" : "") }
            }
            return s
        }
    }

    /// The match in iptables-save's form. Without lt/gt/eq or without bps/pps the kernel's
    /// xt_rateest checkentry refuses the rule at commit (exit 4).
    static func match(_ opts: [ExtensionOption], parser: CommandLineParser, word: Word) throws(Diagnostic) -> [ExtensionOption] {
        let info = MatchInfo(opts)
        if info.mode.isEmpty || !(info.bps || info.pps) {
            throw ExtensionForms.kernelRefuses(parser, "rateest needs one of --rateest-lt/gt/eq and a bps or pps rate", word)
        }
        return info.saved
    }

    // MARK: - the RATEEST target

    static let unitsPerSecond: Double = 1_000_000

    /// RATEEST_get_time: strtod, then nothing or s/sec/secs, ms/msec/msecs, us/usec/usecs.
    static func time(_ s: String) -> UInt32? {
        s.withCString { p -> UInt32? in
            var end: UnsafeMutablePointer<CChar>?
            var t = strtod(p, &end)
            guard let end, end != UnsafeMutablePointer(mutating: p) else { return nil }
            let rest = String(cString: end).lowercased()
            if !rest.isEmpty {
                if ["s", "sec", "secs"].contains(rest) { t *= unitsPerSecond }
                else if ["ms", "msec", "msecs"].contains(rest) { t *= unitsPerSecond / 1000 }
                else if ["us", "usec", "usecs"].contains(rest) { t *= 1 }
                else { return nil }
            }
            return cUInt32(t)
        }
    }

    /// The value check libxt_RATEEST makes as it reads --rateest-interval / --rateest-ewmalog.
    static func checkTarget(_ opt: ExtensionSpec.Option, args: [Word], parser: CommandLineParser) throws(Diagnostic) {
        guard let w = args.first, opt.name == "rateest-interval" || opt.name == "rateest-ewmalog" else { return }
        if time(w.text) == nil {
            let what = opt.name == "rateest-interval" ? "interval" : "ewmalog"
            throw ExtensionForms.xt(parser, "RATEEST: bad \(what) value \"\(w.text)\"", w)
        }
    }

    /// RATEEST_final_check (before libxtables' mandatory-option check, as libxtables runs
    /// them): the interval as a power of two of 250ms (at most 8s), the averaging constant
    /// as a power of two of it.
    static func targetFinal(_ e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) {
        func value(_ n: String) -> UInt32 { e.given.last { $0.option.name == n }?.args.first.flatMap { time($0.text) } ?? 0 }
        func xt(_ text: String) -> Diagnostic { ExtensionForms.xt(parser, text, e.word) }
        let interval = value("rateest-interval"), ewma = value("rateest-ewmalog")
        guard encode(interval: interval) != nil else { throw xt("RATEEST: interval value is too large") }
        guard encode(ewma: ewma, interval: interval) != nil else { throw xt("RATEEST: ewmalog value is out of range") }
        for n in ["rateest-name", "rateest-interval", "rateest-ewmalog"] where !e.given.contains(where: { $0.option.name == n }) {
            throw xt("RATEEST: option \"--\(n)\" must be specified\n")
        }
    }

    /// info->interval (the kernel's value, -2...3); nil when too large.
    static func encode(interval: UInt32) -> Int? {
        var i = 0
        while i <= 5 {
            if Double(interval) <= Double(1 << i) * (unitsPerSecond / 4) { break }
            i += 1
        }
        return i > 5 ? nil : i - 2
    }

    /// info->ewma_log; nil when out of range.
    static func encode(ewma: UInt32, interval: UInt32) -> Int? {
        var k = 1
        while k < 32 {
            let w = 1.0 - 1.0 / Double(UInt64(1) << UInt64(k))
            if Double(interval) / (-Foundation.log(w)) > Double(ewma) { break }
            k += 1
        }
        k -= 1
        return k == 0 || k >= 31 ? nil : k
    }

    /// RATEEST_print_time.
    static func timeText(_ t: UInt32) -> String {
        let d = Double(t)
        if d >= unitsPerSecond { return String(format: "%.1fs", d / unitsPerSecond) }
        if d >= unitsPerSecond / 1000 { return String(format: "%.1fms", d / 1000) }
        return "\(t)us"
    }

    /// The target in iptables-save's form: name, then interval and averaging constant as the
    /// kernel keeps them (powers of two), printed back as times.
    static func target(_ opts: [ExtensionOption]) -> [ExtensionOption] {
        func value(_ n: String) -> String? { opts.last { $0.name == n }?.args.first }
        let interval = value("rateest-interval").flatMap(time) ?? 0
        let ewma = value("rateest-ewmalog").flatMap(time) ?? 0
        guard let i = encode(interval: interval), let k = encode(ewma: ewma, interval: interval) else { return opts }
        let local = UInt32((1_000_000 << (i + 2)) / 4)
        let localEwma = local &* (UInt32(1) << UInt32(k))
        // The kernel keeps IFNAMSIZ bytes of the name (15 and the terminator).
        let name = String(decoding: (value("rateest-name") ?? "").utf8.prefix(15), as: UTF8.self)
        return [ExtensionOption("rateest-name", args: [name]), ExtensionOption("rateest-interval", args: [timeText(local)]),
                ExtensionOption("rateest-ewmalog", args: [timeText(localEwma)])]
    }

    /// __RATEEST_print without the prefix.
    static func listTarget(_ e: ExtensionCall) -> String? {
        func arg(_ n: String) -> String? { e.options.first { $0.name == n }?.args.first }
        guard let n = arg("rateest-name"), let i = arg("rateest-interval"), let w = arg("rateest-ewmalog") else { return nil }
        return " name \(n) interval \(i) ewmalog \(w)"
    }
}
