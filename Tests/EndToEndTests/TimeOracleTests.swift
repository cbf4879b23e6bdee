import Foundation
import Glibc
import TestSupport
import Verifier
import XCTest

/// `-m time` decided in XDP as the kernel decides it, at the real time of the test: rules
/// whose daytime windows, week days, month days and dates hold now, and ones that do not
/// (each on its own port), through the kernel alone and through both layers
/// (DifferentialRun). The windows' edges are hours away from now: within a second of one
/// the program answers MAYBE (LoaderTests/TimeDataplaneTests covers that).
final class TimeOracleTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping time oracle: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "conntrack", "python3"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install nftables conntrack python3)")
        }
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    static func hms(_ s: Int64) -> String {
        let d = ((s % 86400) + 86400) % 86400
        return String(format: "%02d:%02d:%02d", Int(d / 3600), Int(d / 60 % 60), Int(d % 60))
    }

    static func date(_ s: Int64) -> (iso: String, mday: Int) {
        var t = time_t(s)
        var tm = tm()
        gmtime_r(&t, &tm)
        let iso = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                         Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        return (iso, Int(tm.tm_mday))
    }

    func testTimeRulesDecideLikeTheKernelNow() throws {
        // Day rules straddle midnight UTC for a moment: a run takes well under ten minutes.
        for _ in 0..<700 where (Self.now() % 86400) > 86400 - 600 { usleep(1_000_000) }
        let now = Self.now()
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let today = Int((now / 86400 + 3) % 7), mday = Self.date(now).mday
        let h = Self.hms
        let rules: [(UInt16, String, Bool)] = [
            (7001, "--timestart \(h(now - 7200)) --timestop \(h(now + 7200))", true),
            (7002, "--timestart \(h(now + 7200)) --timestop \(h(now + 10800))", false),
            (7003, "--timestart \(h(now + 3600)) --timestop \(h(now - 3600))", false), // over midnight, the other way
            (7004, "--weekdays \(days[today])", true),
            (7005, "! --weekdays \(days[today])", false),
            (7006, "--monthdays \(mday)", true),
            (7007, "--monthdays \(mday % 28 + 1)", false),
            (7008, "--datestart \(Self.date(now - 86400).iso) --datestop \(Self.date(now + 86400).iso)", true),
            (7009, "--datestop \(Self.date(now - 3600).iso)", false),
            (7010, "--timestart \(h(now - 3600)) --timestop \(h(now + 3600)) --weekdays \(days[today]) --monthdays \(mday)", true),
        ]
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + rules.map { "-A INPUT -p udp -m udp --dport \($0.0) -m time \($0.1) -j DROP\n" }.joined() + "COMMIT\n"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("time-oracle-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("time-now.rules")
        try text.write(to: url, atomically: true, encoding: .utf8)

        var run = DifferentialRun(subject: RulesetSubject(url: url, sets: nil), probesWanted: 20)
        run.extraProbes = rules.flatMap { rule in
            (0..<3).map { i -> Probe in
                var p = Probe(source: 0xC633_6405 + UInt32(i), destination: 0xC612_0002, proto: 17)
                p.destinationPort = rule.0
                p.purpose = "port \(rule.0) -m time \(rule.1) (\(rule.2 ? "holds" : "does not hold") at \(h(now)))"
                return p
            }
        }
        let r = try run.run()
        XCTAssertTrue(r.kernelAccepts, text)
        for d in r.disagreements { XCTFail(d) }
        for p in r.problems { XCTFail(p) }
        XCTAssertEqual(r.agreed, r.scored)
        let inside = rules.filter(\.2).count
        XCTAssertGreaterThanOrEqual(r.kernelDrops, inside * 3, "the kernel drops the probes of the windows that hold now")
        XCTAssertEqual(r.xdpDrops, r.kernelDrops, "XDP decided every time rule's drop itself")
        print("time oracle at \(h(now)) UTC: \(r.probes) probes, \(r.agreed)/\(r.scored) agree; kernel drops \(r.kernelDrops), "
              + "XDP dropped \(r.xdpDrops) itself; \(String(format: "%.1f", r.seconds)) s")
    }
}
