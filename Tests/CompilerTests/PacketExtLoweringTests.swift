import Compiler
import IptParse
import XCTest

/// `-m string`, `--tcp-option`, `-m iprange`, a rule's second length/TTL test and negated
/// port lists lower to tests XDP decides itself (no KERNEL position), and `decide` (the
/// program's Swift mirror) answers for packets on either side of each rule.
final class PacketExtLoweringTests: XCTestCase {
    static let text = """
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -p udp -m udp --dport 5060 -m string --string "friendly-scanner" --algo bm -j DROP
        -A INPUT -p tcp -m tcp --tcp-option 8 -j DROP
        -A INPUT -m iprange --src-range 192.0.2.10-192.0.2.20 ! --dst-range 198.51.100.1-198.51.100.9 -j DROP
        -A INPUT -p icmp -m length --length 100:200 -m length ! --length 150 -j DROP
        -A INPUT -p icmp -m ttl --ttl-gt 5 -m ttl ! --ttl-eq 30 -m ttl --ttl-lt 40 -j DROP
        -A INPUT -p udp -m multiport ! --sports 1:5,80,100:200 -j DROP
        -A INPUT -m string --string "0123456789012345678901234567890123456789012345678901" --algo kmp -j DROP
        -A INPUT -m string --string "0123456789012345678901234" --algo bm -j DROP
        COMMIT

        """

    func ip(_ s: String) -> UInt32 { s.split(separator: ".").reduce(0) { $0 << 8 | UInt32($1)! } }

    /// Facts with the packet's bytes: a 20-byte IP header, then `l4`.
    func facts(_ src: String, proto: UInt8, ports: (UInt16, UInt16)? = nil, ttl: UInt8 = 64, l4: [UInt8]) -> PacketFacts {
        let total = 20 + l4.count
        let s = ip(src), d = ip("198.18.0.1")
        var bytes: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0x40, 0, ttl, proto, 0, 0]
        for a in [s, d] { bytes += [UInt8(a >> 24), UInt8(a >> 16 & 0xff), UInt8(a >> 8 & 0xff), UInt8(a & 0xff)] }
        var p = PacketFacts(source: s, destination: d, proto: proto, ports: ports.map { .init(source: $0.0, destination: $0.1) },
                            tcpFlags: proto == 6 ? l4[13] : nil, icmp: proto == 1 ? .init(type: 8, code: 0) : nil,
                            ttl: ttl, totalLength: UInt16(total))
        p.ipPacket = bytes + l4
        return p
    }

    func udp(_ src: String, sport: UInt16 = 80, dport: UInt16, payload: String) -> PacketFacts {
        let body = Array(payload.utf8)
        let l4 = [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff), 0, UInt8(8 + body.count), 0, 0] + body
        return facts(src, proto: 17, ports: (sport, dport), l4: l4)
    }

    func tcp(_ src: String, options: [UInt8]) -> PacketFacts {
        var o = options
        while o.count % 4 != 0 { o.append(0) }
        let l4: [UInt8] = [0x9c, 0x40, 0, 22, 0, 0, 0, 1, 0, 0, 0, 0, UInt8(5 + o.count / 4) << 4, 0x02, 0xfa, 0xf0, 0, 0, 0, 0] + o
        return facts(src, proto: 6, ports: (40000, 22), l4: l4)
    }

    func icmp(_ src: String, total: Int, ttl: UInt8 = 64) -> PacketFacts {
        facts(src, proto: 1, ttl: ttl, l4: [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0, count: total - 28))
    }

    func testPacketTestsLowerAndDecide() throws {
        let rs = try RestoreParser.parse(Self.text, options: .init(file: "packet.rules"))
        let r = Compiler.compile(rs, sets: nil, interface: "eth0")
        let status = Dictionary(uniqueKeysWithValues: r.report.rules.map { ($0.ref.index, $0.status) })
        for i in 1...6 {
            guard case .xdp? = status[i] else { return XCTFail("INPUT#\(i) is not decided in XDP: \(String(describing: status[i]))") }
        }
        XCTAssertEqual(status[7], .kernel(.unsupportedTests([.stringTooLong(algorithm: "kmp", bytes: 52)])))
        XCTAssertEqual(status[8], .kernel(.unsupportedTests([.stringTooLong(algorithm: "bm", bytes: 25)])))

        // A packet none of #1-#6 drops reaches #7, a KERNEL position: XDP passes it up.
        func decided(_ p: PacketFacts) -> String {
            let d = r.tables.decide(p)
            return d.position.map { "\(d.verdict) #\(r.origins[Int($0)].rule.index)" } ?? "\(d.verdict) policy"
        }
        let sip = "OPTIONS sip:100@198.18.0.1 SIP/2.0\r\nUser-Agent: "
        XCTAssertEqual(decided(udp("10.0.0.1", dport: 5060, payload: sip + "friendly-scanner\r\n")), "drop #1")
        XCTAssertEqual(decided(udp("10.0.0.1", dport: 5060, payload: sip + "friendly-scannex\r\n")), "kernel #7")
        XCTAssertEqual(decided(tcp("10.0.0.1", options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0])), "drop #2")
        XCTAssertEqual(decided(tcp("10.0.0.1", options: [2, 4, 8, 8])), "kernel #7") // 8 inside the MSS option's data
        XCTAssertEqual(decided(udp("192.0.2.15", dport: 53, payload: "x")), "drop #3")
        XCTAssertEqual(decided(udp("192.0.2.21", dport: 53, payload: "x")), "kernel #7")
        XCTAssertEqual(decided(icmp("10.0.0.1", total: 120)), "drop #4")
        XCTAssertEqual(decided(icmp("10.0.0.1", total: 150)), "kernel #7")
        XCTAssertEqual(decided(icmp("10.0.0.1", total: 84, ttl: 20)), "drop #5")
        XCTAssertEqual(decided(icmp("10.0.0.1", total: 84, ttl: 30)), "kernel #7")
        XCTAssertEqual(decided(icmp("10.0.0.1", total: 84, ttl: 40)), "kernel #7")
        XCTAssertEqual(decided(udp("10.0.0.1", sport: 90, dport: 53, payload: "x")), "drop #6")
        XCTAssertEqual(decided(udp("10.0.0.1", sport: 3, dport: 53, payload: "x")), "kernel #7")
        XCTAssertEqual(decided(udp("10.0.0.1", sport: 150, dport: 53, payload: "x")), "kernel #7")
        XCTAssertEqual(decided(udp("10.0.0.1", sport: 201, dport: 53, payload: "x")), "drop #6")
    }

    /// The kernel's textsearch as mirrored: window ends, --icase with Latin-1 (lib/ctype.c),
    /// and bm finding what kmp finds on these (checked against the kernel by PacketExtOracleTests).
    func testStringSearchMirror() {
        let ip = [UInt8](repeating: 0x2e, count: 28) + Array("friendly-scanner".utf8) + [0x2e]
        for bm in [false, true] {
            func s(_ from: UInt16, _ to: UInt16, _ pat: String = "friendly-scanner", icase: Bool = false) -> StringSearch {
                StringSearch(pattern: Array(pat.utf8), from: from, to: to, boyerMoore: bm, ignoreCase: icase)
            }
            XCTAssertEqual(s(28, 44).matches(ipPacket: ip), true, "ends at to (bm \(bm))")
            XCTAssertEqual(s(28, 43).matches(ipPacket: ip), false, "ends past to (bm \(bm))")
            XCTAssertEqual(s(29, 65535).matches(ipPacket: ip), false, "starts before from (bm \(bm))")
            XCTAssertEqual(s(0, 65535, "FRIENDLY-scanner", icase: true).matches(ipPacket: ip), true)
            XCTAssertEqual(s(0, 65535, "FRIENDLY-scanner").matches(ipPacket: ip), false)
            let latin = StringSearch(pattern: [0xe9, 0x74, 0xe9, 0xdf], from: 0, to: 65535, boyerMoore: bm, ignoreCase: true)
            XCTAssertEqual(latin.matches(ipPacket: [0xc9, 0x54, 0xc9, 0xbf]), true)
            XCTAssertEqual(latin.matches(ipPacket: [0xe9, 0x74, 0xe9, 0xff]), false)
            let long = [UInt8](repeating: 0x2e, count: 3000)
            XCTAssertNil(s(0, 65535).matches(ipPacket: long), "a window beyond what XDP searches")
            XCTAssertEqual(s(0, 2048).matches(ipPacket: long), false)
        }
        for text in ["abcab", "xabcab", "abcabcab", "ababcab", "abcaabcab", "aabcabx", "cabcab", "abcbabcab"] {
            let bm = StringSearch(pattern: Array("abcab".utf8), from: 0, to: 65535, boyerMoore: true, ignoreCase: false)
            XCTAssertEqual(bm.matches(ipPacket: Array(text.utf8)), true, text) // the kernel matched each (oracle)
        }
    }
}
