@testable import Compiler
import IptParse
import XCTest

/// `-m time` (TimeMatch.swift, bpf/ext_time.h): libxt_time's options read as the kernel
/// stores them, and the program's answer (its own civil-date arithmetic, at the second before,
/// at and after its clock) against xt_time's time_mt() (the kernel's year and month tables)
/// over many rules and times. The real kernel as oracle: EndToEndTests/TimeOracleTests.
final class TimeMatchTests: XCTestCase {
    /// A reproducible generator (SplitMix64).
    struct Rand {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    }

    func call(_ opts: [(String, [String], Bool)]) -> ExtensionCall {
        ExtensionCall(name: "time", options: opts.map { ExtensionOption($0.0, negated: $0.2, args: $0.1) })
    }

    /// The options as iptables-save prints them, and the values libxt_time stores.
    func testParse() throws {
        let t = try XCTUnwrap(TimeMatch.parse(call([("timestart", ["08:00:00"], false), ("timestop", ["17:00:00"], false),
                                                    ("monthdays", ["1,15,31"], false), ("weekdays", ["Mon,Wed,Sun"], false),
                                                    ("datestart", ["2026-12-07T08:43:41"], false), ("datestop", ["2038-01-19T03:14:07"], false)])))
        XCTAssertEqual(t.daytimeStart, 8 * 3600)
        XCTAssertEqual(t.daytimeStop, 17 * 3600)
        XCTAssertEqual(t.monthdays, 1 << 1 | 1 << 15 | 1 << 31)
        XCTAssertEqual(t.weekdays, 1 << 1 | 1 << 3 | 1 << 7)
        XCTAssertEqual(t.dateStart, 1_796_633_021) // date -u -d 2026-12-07T08:43:41 +%s
        XCTAssertEqual(t.dateStop, UInt32(Int32.max))
        XCTAssertFalse(t.kernelTimezone)
        // `!` complements the masks (libxt_time's XOR with the "all" masks).
        let n = try XCTUnwrap(TimeMatch.parse(call([("weekdays", ["Sat,Sun"], true), ("monthdays", ["1"], true)])))
        XCTAssertEqual(n.weekdays, 0b0011_1110)
        XCTAssertEqual(n.monthdays, TimeMatch.allMonthdays & ~UInt32(2))
        // mktime carries over as libxt_time's call does: month 0, day 0, day 31 of a short month.
        XCTAssertEqual(TimeMatch.date("2026-00-15"), TimeMatch.date("2025-12-15"))
        XCTAssertEqual(TimeMatch.date("2026-03-00"), TimeMatch.date("2026-02-28"))
        XCTAssertEqual(TimeMatch.date("2026-02-31"), TimeMatch.date("2026-03-03"))
        XCTAssertEqual(TimeMatch.date("1970"), 0)
        XCTAssertNil(TimeMatch.date("1970-00-01"), "before the epoch: mktime < 0, refused")
        XCTAssertNil(TimeMatch.date("2039"))
        XCTAssertEqual(TimeMatch.daytime("23:59:59"), TimeMatch.maxDaytime)
        XCTAssertNil(TimeMatch.daytime("24:00"))
        XCTAssertEqual(TimeMatch.weekdays("1,Tu,Wed,7"), 1 << 1 | 1 << 2 | 1 << 3 | 1 << 7)
        XCTAssertNil(TimeMatch.weekdays("0"))
        // --contiguous only with a window over midnight; --kerneltz and --utc exclude each other.
        XCTAssertNil(TimeMatch.parse(call([("timestart", ["08:00:00"], false), ("timestop", ["17:00:00"], false), ("contiguous", [], false)])))
        XCTAssertNotNil(TimeMatch.parse(call([("timestart", ["22:00:00"], false), ("timestop", ["02:00:00"], false), ("contiguous", [], false)])))
        XCTAssertNil(TimeMatch.parse(call([("kerneltz", [], false), ("utc", [], false)])))
        XCTAssertEqual(TimeMatch.parse(call([("kerneltz", [], false)]))?.kernelTimezone, true)
    }

    /// The program's civil date equals the kernel's table walk for every day xt_time covers.
    func testMonthdayArithmeticEqualsTheKernelsTables() {
        for dse in UInt32(0)..<25567 {
            XCTAssertEqual(TimeMatch.civilMonthday(dse), TimeMatch.kernelMonthday(dse), "day \(dse)")
        }
    }

    /// Random rules and random times: where the program answers, time_mt() gives that answer
    /// at each second the kernel's stamp may read (its clock's second, one before, one after);
    /// where time_mt() agrees on all three, the program answers (it is never MAYBE for nothing).
    func testProgramAgreesWithTimeMtOnRandomRulesAndTimes() throws {
        var rng = Rand(state: 0x7157_2026)
        var answered = 0, maybe = 0
        let from: Int64 = 86400 * 2, to: Int64 = 2_145_916_800 // 1970-01-03 .. 2038-01-01
        for _ in 0..<4000 {
            var t = TimeMatch()
            if rng.below(2) == 0 {
                t.daytimeStart = UInt32(rng.below(86400))
                t.daytimeStop = UInt32(rng.below(86400))
                t.contiguous = t.daytimeStart > t.daytimeStop && rng.below(2) == 0
            }
            if rng.below(3) == 0 { t.weekdays = UInt8(rng.below(256)) & TimeMatch.allWeekdays }
            if rng.below(3) == 0 { t.monthdays = UInt32(truncatingIfNeeded: rng.next()) & TimeMatch.allMonthdays }
            if rng.below(3) == 0 {
                let a = UInt32(rng.below(UInt64(to))), b = UInt32(rng.below(UInt64(to)))
                t.dateStart = min(a, b)
                t.dateStop = max(a, b)
            }
            for _ in 0..<20 {
                // Times near the rule's boundaries half of the time, anywhere otherwise.
                var s: Int64
                if rng.below(2) == 0 {
                    let day = from / 86400 + Int64(rng.below(UInt64((to - from) / 86400)))
                    let edges = [Int64(t.daytimeStart), Int64(t.daytimeStop), 0, 86399]
                    s = day * 86400 + edges[Int(rng.below(4))] + Int64(rng.below(5)) - 2
                } else {
                    s = from + Int64(rng.below(UInt64(to - from)))
                }
                if rng.below(8) == 0 { s = max(from, Int64(t.dateStart) + Int64(rng.below(5)) - 2) }
                let ns = s * 1_000_000_000 + Int64(rng.below(1_000_000_000))
                let kernel = [s - 1, s, s + 1].map { t.kernelMatches(stamp: $0) }
                let agree = kernel.allSatisfy { $0 == kernel[1] }
                if let a = t.xdpAnswer(realtimeNanoseconds: ns) {
                    answered += 1
                    XCTAssertTrue(agree, "\(t) at \(s): the program answered \(a) where the kernel's second may change it")
                    XCTAssertEqual(a, kernel[1], "\(t) at \(s)")
                } else {
                    maybe += 1
                    XCTAssertFalse(agree, "\(t) at \(s): MAYBE where time_mt() answers \(kernel[1]) at every second near")
                }
            }
        }
        XCTAssertGreaterThan(answered, 40_000)
        print("time mirror: \(answered) answered, \(maybe) MAYBE (near a boundary) of \(answered + maybe)")
    }

    /// Hand-picked edges of kitchen-sink's rule (--timestart 08:00 --timestop 17:00, UTC):
    /// inclusive ends, MAYBE within a second of either, and the window over midnight with and
    /// without --contiguous (the early hours count for the day before).
    func testBoundaries() throws {
        let day: Int64 = 20429 * 86400 // 2025-12-07, a Sunday
        func at(_ t: TimeMatch, _ h: Int64, _ m: Int64, _ s: Int64, ms: Int64 = 500) -> Bool? {
            t.xdpAnswer(realtimeNanoseconds: (day + h * 3600 + m * 60 + s) * 1_000_000_000 + ms * 1_000_000)
        }
        var office = TimeMatch()
        office.daytimeStart = 8 * 3600
        office.daytimeStop = 17 * 3600
        XCTAssertEqual(at(office, 7, 59, 58), false)
        XCTAssertNil(at(office, 7, 59, 59))
        XCTAssertNil(at(office, 8, 0, 0))
        XCTAssertEqual(at(office, 8, 0, 1), true)
        XCTAssertEqual(at(office, 16, 59, 59), true)
        XCTAssertNil(at(office, 17, 0, 0), "17:00:00 matches, 17:00:01 does not")
        XCTAssertNil(at(office, 17, 0, 1))
        XCTAssertEqual(at(office, 17, 0, 2), false)

        var night = TimeMatch()
        night.daytimeStart = 22 * 3600
        night.daytimeStop = 2 * 3600
        night.weekdays = 1 << 7 // Sunday
        XCTAssertEqual(at(night, 1, 0, 0), true, "Sunday 01:00 is in Sunday's 22-02 window without --contiguous")
        XCTAssertEqual(at(night, 23, 0, 0), true)
        XCTAssertNil(at(night, 0, 0, 0), "midnight: Saturday 23:59:59 does not match, Sunday 00:00:00 does")
        night.contiguous = true
        XCTAssertEqual(at(night, 1, 0, 0), false, "with --contiguous Sunday 01:00 belongs to Saturday's night")
        XCTAssertEqual(at(night, 0, 0, 0), false, "with --contiguous both sides of midnight are Saturday's")
        XCTAssertEqual(at(night, 23, 0, 0), true)
        XCTAssertNil(at(night, 22, 0, 0))

        // --kerneltz: the program never answers.
        var tz = office
        tz.kernelTimezone = true
        XCTAssertNil(at(tz, 12, 0, 0))
    }

    /// kitchen-sink's line 47 lowers to an extension test, decided by the program's mirror
    /// from the clock; --kerneltz stays the kernel's with its reason.
    func testLoweringAndDecide() throws {
        let rs = try RestoreParser.parse("""
            *filter
            :INPUT DROP [0:0]
            -A INPUT -p udp -m time --timestart 08:00 --timestop 17:00 -j ACCEPT
            -A INPUT -p tcp -m time --timestart 08:00 --timestop 17:00 --kerneltz -j ACCEPT
            COMMIT

            """, options: .init(file: "time.rules"))
        let r = Compiler.compile(rs, sets: nil, interface: "eth0")
        XCTAssertEqual(r.report.rules[0].status.layer, .xdp, r.report.rules[0].status.detail)
        XCTAssertEqual(r.report.rules[1].status.layer, .kernel)
        XCTAssertTrue(r.report.rules[1].status.detail.contains("--kerneltz"), r.report.rules[1].status.detail)
        let tests = r.tables.fallback.flatMap(\.ext).compactMap { if case .time(let t, _) = $0 { t } else { nil } }
        XCTAssertEqual(tests.count, 1)
        XCTAssertEqual(tests.first?.daytimeStart, 8 * 3600)

        var p = PacketFacts(source: 0x0a00_0001, destination: 0xc612_0001, proto: 17, ports: .init(source: 1000, destination: 53))
        func verdict(_ h: Int64) -> String {
            p.realtimeNanoseconds = (20429 * 86400 + h * 3600) * 1_000_000_000
            return "\(r.tables.decide(p).verdict)"
        }
        XCTAssertEqual(verdict(12), "\(CompiledTables.Verdict.accept)")
        XCTAssertEqual(verdict(20), "\(CompiledTables.Verdict.drop)")
        p.realtimeNanoseconds = nil
        XCTAssertEqual("\(r.tables.decide(p).verdict)", "\(CompiledTables.Verdict.kernel)", "no clock: the rule may match")
    }
}
