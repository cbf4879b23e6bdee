/// The time match as libxt_time prints it back: full `HH:MM:SS` times, both
/// ends of the day range once either is given, weekday names, dates with a
/// time part, and the 2038 end date the kernel stores when none was given.
enum TimeMatchCanonicalizer {
    static let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    static func canonical(_ opts: [ExtensionOption], e: LoadedExtension, parser: CommandLineParser) throws(Diagnostic) -> [ExtensionOption] {
        func value(_ n: String) -> String? { opts.first { $0.name == n }?.args.first }
        func bad(_ what: String, _ v: String) -> Diagnostic {
            parser.fail("bad-time", "time: expected \(what), got '\(v)'", e.word)
        }
        func clock(_ s: String) throws(Diagnostic) -> String {
            let p = s.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            guard (2...3).contains(p.count), p.allSatisfy({ $0 != nil }), let h = p[0], let m = p[1],
                  h < 24, m < 60, (p.count == 2 || (p[2] ?? 60) < 60) else { throw bad("a time like 08:30 or 08:30:00", s) }
            let sec = p.count == 3 ? p[2] ?? 0 : 0
            return pad(h) + ":" + pad(m) + ":" + pad(sec)
        }
        // libxt_time's time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]], missing parts at their start.
        func date(_ s: String) throws(Diagnostic) -> String {
            let parts = s.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
            let d = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...3).contains(d.count), d.allSatisfy({ $0 != nil }), let y = d[0], (1970...2038).contains(y) else {
                throw bad("a date like 2026-01-31[T08:00:00]", s)
            }
            let mo = d.count > 1 ? d[1] ?? 0 : 1, da = d.count > 2 ? d[2] ?? 0 : 1
            guard (1...12).contains(mo), (1...31).contains(da), parts.count == 1 || d.count == 3 else {
                throw bad("a date like 2026-01-31[T08:00:00]", s)
            }
            var t = "00:00:00"
            if parts.count == 2 {
                let hms = parts[1].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
                guard (1...3).contains(hms.count), hms.allSatisfy({ $0 != nil }) else { throw bad("a time like 08:30 or 08:30:00", String(parts[1])) }
                let h = hms[0] ?? 0, m = hms.count > 1 ? hms[1] ?? 0 : 0, sec = hms.count > 2 ? hms[2] ?? 0 : 0
                guard h < 24, m < 60, sec < 60 else { throw bad("a time like 08:30 or 08:30:00", String(parts[1])) }
                t = pad(h) + ":" + pad(m) + ":" + pad(sec)
            }
            return "\(y)-" + pad(mo) + "-" + pad(da) + "T" + t
        }
        var out: [ExtensionOption] = []
        let start = value("timestart"), stop = value("timestop")
        // libxt_time saves the day range only when it is not the whole day.
        let from = try start.map(clock) ?? "00:00:00", to = try stop.map(clock) ?? "23:59:59"
        if from != "00:00:00" || to != "23:59:59" {
            out.append(ExtensionOption("timestart", args: [from]))
            out.append(ExtensionOption("timestop", args: [to]))
        }
        if let o = opts.first(where: { $0.name == "monthdays" }) {
            // libxt_time keeps a mask (bit d for day d; day 0 sets bit 0, which no day of a
            // month has) and inverts it as it parses (`! --monthdays 1` is saved as 2..31);
            // a mask of every day (1..31) is not saved, one without days is saved as an
            // empty list (`--monthdays 0`: a rule the kernel never matches).
            var mask: UInt32 = 0
            for d in o.args[0].split(separator: ",", omittingEmptySubsequences: false) {
                guard let n = Int(d), (0...31).contains(n) else { throw bad("month days 1-31", o.args[0]) }
                mask |= 1 << UInt32(n)
            }
            if o.negated { mask ^= TimeDays.allMonthdays }
            if mask != TimeDays.allMonthdays {
                out.append(ExtensionOption("monthdays", args: [(1...31).filter { mask & (1 << UInt32($0)) != 0 }.map(String.init).joined(separator: ",")]))
            }
        }
        if let o = opts.first(where: { $0.name == "weekdays" }) {
            // The same for the week (bit 1 Monday ... bit 7 Sunday) in an 8-bit mask: a day
            // number over 7 sets `1 << n` (as x86 shifts, modulo 32) cut to 8 bits.
            var mask: UInt8 = 0
            for d in o.args[0].split(separator: ",", omittingEmptySubsequences: false) {
                if let n = Int(d), n >= 1 { mask |= UInt8(truncatingIfNeeded: UInt32(1) << UInt32(n & 31)) }
                else if let i = days.firstIndex(where: { $0.lowercased() == d.lowercased().prefix(3) }) { mask |= 1 << UInt8(i + 1) }
                else { throw bad("week days Mon-Sun or 1-7", o.args[0]) }
            }
            if o.negated { mask ^= TimeDays.allWeekdays }
            if mask != TimeDays.allWeekdays {
                out.append(ExtensionOption("weekdays", args: [(1...7).filter { mask & (1 << UInt8($0)) != 0 }.map { days[$0 - 1] }.joined(separator: ",")]))
            }
        }
        // A start at the epoch is no start: not saved.
        if let s = value("datestart"), case let d = try date(s), d != "1970-01-01T00:00:00" {
            out.append(ExtensionOption("datestart", args: [d]))
        }
        out.append(ExtensionOption("datestop", args: [try value("datestop").map(date) ?? "2038-01-19T03:14:07"]))
        // --localtz sets XT_TIME_LOCAL_TZ as --kerneltz does (libxt_time), and iptables-save
        // prints that flag as --kerneltz.
        if opts.contains(where: { $0.name == "kerneltz" || $0.name == "localtz" }) { out.append(ExtensionOption("kerneltz")) }
        if opts.contains(where: { $0.name == "contiguous" }) { out.append(ExtensionOption("contiguous")) }
        return out
    }

    static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// xt_time's "every day" masks (XT_TIME_ALL_MONTHDAYS, XT_TIME_ALL_WEEKDAYS).
enum TimeDays {
    static let allMonthdays: UInt32 = 0xffff_fffe
    static let allWeekdays: UInt8 = 0xfe
}
