import Compiler
import Glibc
import IptParse
import Loader
import XCTest

/// -m time in the loaded program (BPF_PROG_TEST_RUN) on the real clock: rules whose windows
/// are placed around the moment of the test, MAYBE within a second of a boundary, and the
/// TAI offset the Loader writes being what the program subtracts. The kernel as oracle for
/// the same kind of rules: EndToEndTests/TimeOracleTests.
final class TimeDataplaneTests: XCTestCase {
    /// CLOCK_REALTIME, what xt_time reads (seconds and the fraction in ns).
    static func realtime() -> (s: Int64, ns: Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec))
    }

    static func hms(_ s: Int64) -> String {
        let d = ((s % 86400) + 86400) % 86400
        return String(format: "%02d:%02d:%02d", Int(d / 3600), Int(d / 60 % 60), Int(d % 60))
    }

    /// YYYY-MM-DDThh:mm:ss (UTC) of `s`.
    static func isoDate(_ s: Int64) -> String {
        var t = time_t(s)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// Monday 0 .. Sunday 6 of `s` (1970-01-01 was a Thursday).
    static func weekday(_ s: Int64) -> Int { Int((s / 86400 + 3) % 7) }

    /// Day of the month of `s`.
    static func monthday(_ s: Int64) -> Int {
        var t = time_t(s)
        var tm = tm()
        gmtime_r(&t, &tm)
        return Int(tm.tm_mday)
    }

    /// Writes the generation that is not live and activates it.
    static func install(_ dp: borrowing Dataplane, _ body: String, generation: inout UInt32) throws {
        let rs = try RestoreParser.parse("*filter\n" + body + "\nCOMMIT\n", options: .init(file: "time.rules"))
        let r = Compiler.compile(rs, interface: "lo")
        try dp.write(r.tables, generation: generation)
        try dp.activate(generation: generation)
        try dp.setFlags(.allDestinations)
        generation ^= 1
    }

    static func udp(_ port: UInt16) -> [UInt8] {
        var p = TestPacket()
        p.src = 0xC633_0009
        p.dst = 0xC612_0001
        p.sport = 40000
        p.dport = port
        return p.frame
    }

    /// Not within 20 s of midnight UTC (the day rules would straddle it): wait it out.
    static func awayFromMidnight() {
        for _ in 0..<50 {
            let d = realtime().s % 86400
            if d > 20 && d < 86380 { return }
            usleep(1_000_000)
        }
    }

    /// Windows and days that hold now, and ones that do not, each on its own port.
    func testWindowsAroundNow() throws {
        try Privileged.skipUnlessPrivileged()
        Self.awayFromMidnight()
        let dp = try Dataplane.load()
        let now = Self.realtime().s
        let today = Self.weekday(now), mday = Self.monthday(now)
        let h = Self.hms
        let rules: [(UInt16, String, Bool)] = [
            (7001, "--timestart \(h(now - 7200)) --timestop \(h(now + 7200))", true),
            (7002, "--timestart \(h(now + 7200)) --timestop \(h(now + 10800))", false),
            (7003, "--weekdays \(Self.dayNames[today])", true),
            (7004, "--weekdays \(Self.dayNames[(today + 3) % 7])", false),
            (7005, "--monthdays \(mday)", true),
            (7006, "--monthdays \(mday % 28 + 1)", false),
            (7007, "--datestart \(Self.isoDate(now - 86400)) --datestop \(Self.isoDate(now + 86400))", true),
            (7008, "--datestop \(Self.isoDate(now - 3600))", false),
            (7009, "! --weekdays \(Self.dayNames[today])", false),
        ]
        let body = ":INPUT ACCEPT [0:0]\n" + rules.map { "-A INPUT -p udp --dport \($0.0) -m time \($0.1) -j DROP" }.joined(separator: "\n")
        var g: UInt32 = 0
        try Self.install(dp, body, generation: &g)
        for (port, opts, inside) in rules {
            let got = try dp.testRun(packet: Self.udp(port)).action
            XCTAssertEqual(got, inside ? XDPAction.drop : XDPAction.pass, "port \(port): -m time \(opts)")
        }

        // The offset is what the program subtracts: written two hours short, its clock reads
        // two hours ahead, into 7002's window.
        let offset = try XCTUnwrap(Dataplane.currentTAIOffset())
        try dp.writeTimeConfig(taiOffset: offset - 7200 - 1800)
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7002)).action, XDPAction.drop)
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7001)).action, XDPAction.pass)
        try dp.writeTimeConfig()
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7002)).action, XDPAction.pass)
        // CLOCK_TAI moved against CLOCK_MONOTONIC since the write (a step, a new TAI offset):
        // the offset may be stale, every time test answers MAYBE (the packet goes up). Less
        // than half a second: still the same offset.
        let taiMono = try XCTUnwrap(Dataplane.currentTAIMonotonic())
        try dp.writeTimeConfig(taiMonotonic: taiMono - 1_000_000_000)
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7001)).action, XDPAction.pass, "the clock moved 1 s: MAYBE")
        try dp.writeTimeConfig(taiMonotonic: taiMono + 37_000_000_000)
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7001)).action, XDPAction.pass, "a TAI offset set to 37 s: MAYBE")
        try dp.writeTimeConfig(taiMonotonic: taiMono + 200_000_000)
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7001)).action, XDPAction.drop, "0.2 s: the offset holds")
        try dp.writeTimeConfig()
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7001)).action, XDPAction.drop)
        print("time dataplane: TAI offset \(offset) s; \(rules.count) windows decided at \(h(now)) UTC")
    }

    /// A window starting within a second of now: the kernel's own stamp may fall on either
    /// side, so the program answers MAYBE and the packet goes up. With policy DROP and a DROP
    /// rule, only MAYBE passes (YES and NO both drop).
    func testMaybeWithinASecondOfABoundary() throws {
        try Privileged.skipUnlessPrivileged()
        Self.awayFromMidnight()
        let dp = try Dataplane.load()
        var g: UInt32 = 0
        var seen = false
        for _ in 0..<5 {
            let t0 = Self.realtime()
            let start = t0.s + 1
            try Self.install(dp, """
                :INPUT DROP [0:0]
                -A INPUT -p udp --dport 7011 -m time --timestart \(Self.hms(start)) --timestop \(Self.hms(start + 3600)) -j DROP
                """, generation: &g)
            let got = try dp.testRun(packet: Self.udp(7011)).action
            let t1 = Self.realtime()
            // Valid only while the program's second was start - 1 or start (it ran after t0,
            // before t1): at start + 1 all three seconds are inside and it answers YES.
            guard t1.s <= start else { continue }
            XCTAssertEqual(got, XDPAction.pass, "MAYBE: the kernel decides at the window's start")
            seen = true
            break
        }
        XCTAssertTrue(seen, "never ran within a second of the boundary")
        // No offset known: every time test answers MAYBE.
        var c = Self.realtime()
        try Self.install(dp, """
            :INPUT DROP [0:0]
            -A INPUT -p udp --dport 7012 -m time --timestart \(Self.hms(c.s - 7200)) --timestop \(Self.hms(c.s + 7200)) -j DROP
            """, generation: &g)
        try dp.clearTimeConfig()
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7012)).action, XDPAction.pass, "no offset: MAYBE")
        try dp.writeTimeConfig()
        c = Self.realtime()
        XCTAssertEqual(try dp.testRun(packet: Self.udp(7012)).action, XDPAction.drop, "at \(Self.hms(c.s))")
    }
}

/// ns/packet of a flood dropped by a time rule, beside a bare port DROP and the stateless
/// extension path (-m mac) (BPF_PROG_TEST_RUN, median of 5 x 200,000 runs). Printed.
final class TimeCostTests: XCTestCase {
    func testFloodCost() throws {
        try Privileged.skipUnlessPrivileged()
        let t = TimeDataplaneTests.self
        let frame = t.udp(5060)
        func median(_ body: String) throws -> UInt32 {
            let dp = try Dataplane.load()
            var g: UInt32 = 0
            try t.install(dp, ":INPUT ACCEPT [0:0]\n" + body, generation: &g)
            var xs: [UInt32] = []
            for _ in 0..<5 {
                let r = try dp.testRun(packet: frame, repeat: 200_000)
                XCTAssertEqual(r.action, XDPAction.drop, body)
                xs.append(r.nanosecondsPerRun)
            }
            return xs.sorted()[2]
        }
        t.awayFromMidnight()
        let now = t.realtime().s
        let bare = try median("-A INPUT -p udp --dport 5060 -j DROP")
        let mac = try median("-A INPUT -p udp --dport 5060 -m mac --mac-source 02:00:00:00:00:02 -j DROP")
        let daytime = try median("-A INPUT -p udp --dport 5060 -m time --timestart \(t.hms(now - 7200)) --timestop \(t.hms(now + 7200)) -j DROP")
        let mday = try median("-A INPUT -p udp --dport 5060 -m time --monthdays \(t.monthday(now)) --weekdays \(t.dayNames[t.weekday(now)]) -j DROP")
        print("time flood cost (ns/packet, median of 5 x 200000 BPF_PROG_TEST_RUN): bare port DROP \(bare), -m mac DROP \(mac), "
              + "-m time daytime DROP \(daytime), -m time monthdays+weekdays DROP \(mday)")
    }
}
