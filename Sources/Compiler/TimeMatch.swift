import IptParse

/// One `-m time` match as xt_time keeps it (`struct xt_time_info`, written by libxt_time),
/// with xt_time's `time_mt()` as a model (`kernelMatches`) and the XDP program's answer
/// (`xdpAnswer`, the Swift mirror of bpf/ext_time.h) — two separate computations, so the
/// property tests compare the program's arithmetic against the kernel's.
public struct TimeMatch: Equatable, Hashable, Sendable {
    public static let allMonthdays: UInt32 = 0xffff_fffe
    public static let allWeekdays: UInt8 = 0xfe
    public static let maxDaytime: UInt32 = 24 * 60 * 60 - 1
    static let secondsPerDay: Int64 = 86400

    public var dateStart: UInt32 = 0
    /// libxt_time's default is INT_MAX.
    public var dateStop: UInt32 = UInt32(Int32.max)
    public var daytimeStart: UInt32 = 0
    public var daytimeStop: UInt32 = TimeMatch.maxDaytime
    /// Bit d (1..31): day d of the month.
    public var monthdays: UInt32 = TimeMatch.allMonthdays
    /// Bit d (1..7): Monday..Sunday.
    public var weekdays: UInt8 = TimeMatch.allWeekdays
    /// XT_TIME_LOCAL_TZ (--kerneltz, or the deprecated --localtz).
    public var kernelTimezone = false
    /// XT_TIME_CONTIGUOUS.
    public var contiguous = false

    public init() {}

    /// Reads libxt_time's options (the spellings iptables-save prints and the ones it
    /// accepts); nil when one is malformed or refused by libxt_time or time_mt_check (such
    /// a rule never reaches the kernel, and here it stays the kernel's).
    public static func parse(_ e: ExtensionCall) -> TimeMatch? {
        guard e.name == "time" else { return nil }
        var t = TimeMatch()
        var seen = Set<String>()
        for o in e.options {
            guard seen.insert(o.name).inserted else { return nil }
            let arg = o.args.first
            switch o.name {
            case "datestart", "datestop":
                guard !o.negated, let a = arg, let v = date(a) else { return nil }
                if o.name == "datestart" { t.dateStart = v } else { t.dateStop = v }
            case "timestart", "timestop":
                guard !o.negated, let a = arg, let v = daytime(a) else { return nil }
                if o.name == "timestart" { t.daytimeStart = v } else { t.daytimeStop = v }
            case "monthdays":
                guard let a = arg, let m = monthdays(a) else { return nil }
                t.monthdays = o.negated ? m ^ allMonthdays : m
            case "weekdays":
                guard let a = arg, let m = weekdays(a) else { return nil }
                t.weekdays = o.negated ? m ^ allWeekdays : m
            case "contiguous":
                guard !o.negated else { return nil }
                t.contiguous = true
            case "kerneltz", "localtz":
                guard !o.negated, !seen.contains("utc") else { return nil }
                t.kernelTimezone = true
            case "utc":
                guard !o.negated, !seen.contains("kerneltz"), !seen.contains("localtz") else { return nil }
                t.kernelTimezone = false
            default:
                return nil
            }
        }
        // libxt_time's final check and time_mt_check.
        if t.contiguous && t.daytimeStart < t.daytimeStop { return nil }
        if t.daytimeStart > maxDaytime || t.daytimeStop > maxDaytime { return nil }
        return t
    }

    // MARK: - xt_time's time_mt(), the model

    /// What time_mt() answers at realtime second `stamp`, with sys_tz.tz_minuteswest
    /// `minutesWest` (used only with --kerneltz).
    public func kernelMatches(stamp realtime: Int64, minutesWest: Int32 = 0) -> Bool {
        var stamp = realtime
        if kernelTimezone { stamp -= 60 * Int64(minutesWest) }
        if stamp < Int64(dateStart) || stamp > Int64(dateStop) { return false }
        // localtime_1: div_u64_rem on the stamp as an unsigned number.
        let packetTime = UInt32(UInt64(bitPattern: stamp) % UInt64(Self.secondsPerDay))
        if daytimeStart < daytimeStop {
            if packetTime < daytimeStart || packetTime > daytimeStop { return false }
        } else {
            if packetTime < daytimeStart && packetTime > daytimeStop { return false }
            if contiguous && packetTime <= daytimeStop { stamp -= Self.secondsPerDay }
        }
        // localtime_2: days since the epoch into an unsigned int.
        let dse = UInt32(truncatingIfNeeded: UInt64(bitPattern: stamp) / UInt64(Self.secondsPerDay))
        let weekday = (4 &+ dse &- 1) % 7 + 1
        if weekdays & UInt8(1 << weekday) == 0 { return false }
        if monthdays != Self.allMonthdays {
            guard let md = Self.kernelMonthday(dse) else { return false }
            if md > 31 || monthdays & (1 << md) == 0 { return false }
        }
        return true
    }

    /// localtime_3: the year from the table of each year's first day since the epoch
    /// (1970..2039, searched from the end), then the month from the days before each month.
    /// nil where the kernel's table ends (its loop would read past it).
    static func kernelMonthday(_ dse: UInt32) -> UInt32? {
        var year: UInt32 = 2039
        while year >= 1970 && yearStart(year) > dse { year -= 1 }
        guard year >= 1970 else { return nil }
        let w = dse - yearStart(year)
        let normal: [UInt32] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
        let table = isLeap(year) ? normal.enumerated().map { $0.offset >= 2 ? $0.element + 1 : $0.element } : normal
        var i = 11
        while i > 0 && table[i] > w { i -= 1 }
        return w - table[i] + 1
    }

    /// Days from 1970-01-01 to January 1st of `year` (the kernel's days_since_epoch[]).
    static func yearStart(_ year: UInt32) -> UInt32 {
        var d: UInt32 = 0
        var y: UInt32 = 1970
        while y < year {
            d += isLeap(y) ? 366 : 365
            y += 1
        }
        return d
    }

    static func isLeap(_ y: UInt32) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    // MARK: - the program (bpf/ext_time.h)

    /// What the program answers when its clock reads `realtimeNanoseconds` (CLOCK_TAI minus
    /// the TAI offset): nil (MAYBE) unless time_mt() agrees at the whole second before, at
    /// and after it — the seconds the kernel's own stamp may read when it runs the rule.
    public func xdpAnswer(realtimeNanoseconds ns: Int64) -> Bool? {
        guard !kernelTimezone, ns > 0 else { return nil }
        let s = UInt64(ns) / 1_000_000_000
        guard let now = programAt(s), programAt(s &- 1) == now, programAt(s + 1) == now else { return nil }
        return now
    }

    /// eipt_time_at(): time_mt() with the civil-date arithmetic the program uses.
    func programAt(_ stamp0: UInt64) -> Bool? {
        var stamp = stamp0
        if stamp < UInt64(dateStart) || stamp > UInt64(dateStop) { return false }
        if stamp < 86400 { return nil }
        let packetTime = UInt32(stamp % 86400)
        if daytimeStart < daytimeStop {
            if packetTime < daytimeStart || packetTime > daytimeStop { return false }
        } else {
            if packetTime < daytimeStart && packetTime > daytimeStop { return false }
            if contiguous && packetTime <= daytimeStop { stamp -= 86400 }
        }
        let dse = UInt32(truncatingIfNeeded: stamp / 86400)
        let weekday = (4 &+ dse &- 1) % 7 + 1
        if weekdays & UInt8(truncatingIfNeeded: 1 << weekday) == 0 { return false }
        if monthdays != Self.allMonthdays {
            if dse >= 25567 { return nil }
            if monthdays & (1 << (Self.civilMonthday(dse) & 31)) == 0 { return false }
        }
        return true
    }

    /// eipt_time_monthday(): the day of the month of day `dse` (Hinnant's civil_from_days).
    static func civilMonthday(_ dse: UInt32) -> UInt32 {
        let z = dse &+ 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        return doy - (153 * mp + 2) / 5 + 1
    }

    // MARK: - libxt_time's option parsing

    /// time_parse_minutes: hh:mm[:ss], hour <= 23, minute and second <= 59.
    static func daytime(_ s: String) -> UInt32? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        guard let h = number(parts[0]), h <= 23, let m = number(parts[1]), m <= 59 else { return nil }
        let sec = parts.count == 3 ? number(parts[2]) : 0
        guard let sec, sec <= 59 else { return nil }
        return h * 3600 + m * 60 + sec
    }

    /// time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]] as UTC (libxt_time sets TZ=UTC for
    /// mktime, which also carries a month 0 or a day 0 or 31 over into the neighbours);
    /// 1970 <= year <= 2038; a negative result is refused.
    static func date(_ s: String) -> UInt32? {
        let dt = s.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
        let ymd = dt[0].split(separator: "-", omittingEmptySubsequences: false)
        guard (1...3).contains(ymd.count), let year = number(ymd[0]), (1970...2038).contains(year) else { return nil }
        var month: UInt32 = 1, day: UInt32 = 1, hour: UInt32 = 0, minute: UInt32 = 0, second: UInt32 = 0
        if ymd.count > 1 { guard let m = number(ymd[1]), m <= 12 else { return nil }; month = m }
        if ymd.count > 2 { guard let d = number(ymd[2]), d <= 31 else { return nil }; day = d }
        if dt.count == 2 {
            // "Thh[:mm[:ss]]" only after a day.
            guard ymd.count == 3 else { return nil }
            let hms = dt[1].split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(hms.count), let h = number(hms[0]), h <= 23 else { return nil }
            hour = h
            if hms.count > 1 { guard let m = number(hms[1]), m <= 59 else { return nil }; minute = m }
            if hms.count > 2 { guard let x = number(hms[2]), x <= 59 else { return nil }; second = x }
        }
        // mktime's normalisation: month 0 is December of the year before; days count on from
        // the first of the month.
        var y = Int64(year), m0 = Int64(month) - 1
        if m0 < 0 { y -= 1; m0 += 12 }
        let days = daysFromCivil(year: y, month: m0 + 1, day: 1) + Int64(day) - 1
        let t = days * 86400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
        guard t >= 0, t <= Int64(UInt32.max) else { return nil }
        return UInt32(t)
    }

    /// Days from 1970-01-01 to year-month-day (proleptic Gregorian).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// time_parse_monthdays: decimal days 0..31 separated by commas.
    static func monthdays(_ s: String) -> UInt32? {
        var out: UInt32 = 0
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count <= 2, let d = number(part), d <= 31 else { return nil }
            out |= 1 << d
        }
        return out
    }

    /// time_parse_weekdays: 1..7, or a name whose first two letters are a day's (Mon ...
    /// Sun, as libxt_time compares them).
    static func weekdays(_ s: String) -> UInt8? {
        let names = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
        var out: UInt8 = 0
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            if let d = number(part) {
                guard (1...7).contains(d) else { return nil }
                out |= 1 << d
            } else if let i = names.firstIndex(of: String(part.prefix(2))), part.count <= 3 {
                out |= 1 << (i + 1)
            } else {
                return nil
            }
        }
        return out
    }

    private static func number(_ s: Substring) -> UInt32? {
        guard !s.isEmpty, s.count <= 4, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt32(s)
    }
}
