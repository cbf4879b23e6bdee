import Compiler
import IptParse
import Loader
import XCTest

/// --rttl in the loaded program: recent_entry_lookup() with the packet's TTL finds an entry
/// only when the TTLs are equal or either is 0, else the test acts as if there were none.
final class RecentRTTLDataplaneTests: XCTestCase {
    func frame(_ src: UInt32, port: UInt16, ttl: UInt8) -> [UInt8] {
        var p = TestPacket()
        p.src = src
        p.dst = 0xC612_0001
        p.sport = 5060
        p.dport = port
        p.ttl = ttl
        return p.frame
    }

    /// The compiler writes --rttl only after a bare --set in the chain, where the TTLs always
    /// agree; to reach the comparison itself the test sets the flag on a rule the compiler
    /// wrote without it: a --set on port 5061 records the TTL, an --rcheck on 5060 drops.
    func testTTLComparison() throws {
        try Privileged.skipUnlessPrivileged()
        let rs = try RestoreParser.parse("""
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -p udp --dport 5061 -m recent --set --name T
            -A INPUT -p udp --dport 5060 -m recent --rcheck --name T -j DROP
            COMMIT

            """, options: .init(file: "t.rules"))
        var r = Compiler.compile(rs, interface: "lo")
        var flipped = 0
        for i in r.tables.fallback.indices {
            for j in r.tables.fallback[i].ext.indices {
                if case .recent(var t) = r.tables.fallback[i].ext[j], t.command == .rcheck {
                    t.rttl = true
                    r.tables.fallback[i].ext[j] = .recent(t)
                    flipped += 1
                }
            }
        }
        XCTAssertEqual(flipped, 1)
        let dp = try Dataplane.load()
        try dp.write(r.tables, generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)

        let a: UInt32 = 0xC633_0101, b: UInt32 = 0xC633_0102
        XCTAssertEqual(try dp.testRun(packet: frame(a, port: 5060, ttl: 50)).action, XDPAction.pass, "no entry yet")
        XCTAssertEqual(try dp.testRun(packet: frame(a, port: 5061, ttl: 50)).action, XDPAction.pass, "--set records TTL 50")
        XCTAssertEqual(try dp.testRun(packet: frame(a, port: 5060, ttl: 64)).action, XDPAction.pass, "TTL 64 is not the entry's 50")
        XCTAssertEqual(try dp.testRun(packet: frame(a, port: 5060, ttl: 50)).action, XDPAction.drop, "TTL 50 finds it")
        XCTAssertEqual(try dp.testRun(packet: frame(a, port: 5060, ttl: 0)).action, XDPAction.drop, "a packet TTL of 0 finds any")
        // The mismatch neither hit nor updated: the entry still holds one stamp and TTL 50.
        XCTAssertEqual(try dp.recentEntries("T").first?.ttl, 50)
        XCTAssertEqual(try dp.recentEntries("T").first?.stamps.count, 1)
        // An entry with TTL 0 (written as /proc's +ADDR writes it) is found by every TTL.
        try dp.recentAdd("T", address: b, now: try KernelJiffies.now())
        XCTAssertEqual(try dp.testRun(packet: frame(b, port: 5060, ttl: 77)).action, XDPAction.drop)
    }
}
