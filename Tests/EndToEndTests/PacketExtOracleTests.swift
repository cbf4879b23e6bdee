import Foundation
import TestSupport
import Verifier
import XCTest

/// `-m string`, `--tcp-option` and `-m iprange` decided in XDP as the kernel decides them:
/// fixtures/string-oracle/sip-string.rules through the kernel alone and through both layers
/// (DifferentialRun), with SIP requests carrying scanner User-Agents at varied offsets,
/// inside and outside --from/--to, in other cases, as hex, with Latin-1 letters under
/// --icase, and TCP segments with option lists (well formed, hidden kinds, zero lengths).
final class PacketExtOracleTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping packet-extension oracle: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "conntrack", "python3"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install nftables conntrack python3)")
        }
    }

    static let source: UInt32 = 0xC633_6405 // 198.51.100.5

    /// A SIP OPTIONS request whose User-Agent value starts `at` bytes into the UDP payload
    /// (filler before the request when the request is shorter).
    static func sip(_ agent: [UInt8], at: Int, length: Int? = nil) -> [UInt8] {
        let head = Array("OPTIONS sip:100@198.18.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.5:5070\r\nUser-Agent: ".utf8)
        // The request's head ends right before the value when it fits; else filler alone.
        var body = at >= head.count ? [UInt8](repeating: 0x2e, count: at - head.count) + head : [UInt8](repeating: 0x2e, count: at)
        body += agent
        body += Array("\r\nContent-Length: 0\r\n\r\n".utf8)
        if let length, body.count < length { body += [UInt8](repeating: 0x20, count: length - body.count) }
        return body
    }

    static func udp(_ port: UInt16, _ payload: [UInt8], _ why: String) -> Probe {
        var p = Probe(source: source, destination: 0xC612_0002, proto: 17)
        p.destinationPort = port
        p.payloadBytes = payload
        p.purpose = why
        return p
    }

    static var probes: [Probe] {
        var out: [Probe] = []
        let agents: [(String, [UInt8])] = ["friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent", "pplsip", "sipcli/v1.8",
                                           "FRIENDLY-SCANNER", "SipCli", "vaxsipuseragent", "PPLSIP", "Asterisk PBX 18", "friendly-scanne"]
            .map { ($0, Array($0.utf8)) }
        // Port 5060: every agent at offsets from the start to the end of a 1,400-byte payload.
        for (name, a) in agents {
            for at in [0, 1, 7, 100, 150, 171, 172, 173, 500, 1000, 1384] {
                out.append(udp(5060, sip(a, at: at, length: at > 1000 ? 1400 : nil), "5060 '\(name)' at payload \(at)"))
            }
        }
        // --from 40 --to 120 (IP offsets): a 16-byte match must start at payload 12..76.
        for port: UInt16 in [5061, 5062] {
            for at in [0, 10, 11, 12, 13, 40, 75, 76, 77, 78, 90] {
                out.append(udp(port, sip(Array("friendly-scanner".utf8), at: at), "\(port) window, at payload \(at)"))
                out.append(udp(port, sip(Array("friendly-friendly-scanner".utf8), at: at), "\(port) window, overlapping prefix at \(at)"))
            }
        }
        for (bytes, why) in [([0x00, 0xff, 0x0d, 0x0a], "hex"), ([0x00, 0xfe, 0x0d, 0x0a], "hex off by one"), ([0x00, 0xff, 0x0d], "hex cut")] as [([UInt8], String)] {
            out.append(udp(5063, sip(bytes, at: 30), why))
        }
        out.append(udp(5064, sip(Array("x".utf8), at: 3), "no SIP/2.0: negated"))
        out.append(udp(5064, Array("hello".utf8), "no SIP/2.0 at all: negated"))
        out.append(udp(5064, Array("sip/2.0".utf8), "sip/2.0 lower case: negated"))
        // Latin-1 letters under --icase: the kernel's toupper maps 0xe9->0xc9 and 0xdf->0xbf.
        for port: UInt16 in [5065, 5066] {
            for (bytes, why) in [([0xe9, 0x74, 0xe9, 0xdf], "as given"), ([0xc9, 0x54, 0xc9, 0xbf], "upper"), ([0xc9, 0x74, 0xe9, 0xbf], "mixed"),
                                 ([0xc9, 0x54, 0xc9, 0xdf], "upper, 0xdf"), ([0xe9, 0x74, 0xe9, 0xff], "0xff"), ([0xe9, 0x74, 0xe9, 0xde], "0xde")] as [([UInt8], String)] {
                for at in [0, 5, 60] { out.append(udp(port, sip(bytes, at: at), "\(port) latin-1 \(why) at \(at)")) }
            }
        }
        // Boyer-Moore over a self-overlapping pattern: its shifts, checked on the kernel's.
        for text in ["abcab", "xabcab", "abcabcab", "ababcab", "abcaabcab", "aabcabx", "cabcab", "abcbabcab", "bcabcabca", "abcabx"] {
            for at in [0, 3] { out.append(udp(5067, [UInt8](repeating: 0x2e, count: at) + Array(text.utf8), "bm 'abcab' in '\(text)' at \(at)")) }
        }
        // TCP options: timestamps (8) and MSS (2), walked as tcp_find_option walks them.
        let options: [([UInt8], String)] = [
            ([], "none"), ([2, 4, 5, 0xb4], "MSS"), ([8, 10, 0, 0, 0, 1, 0, 0, 0, 0], "TS"),
            ([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0], "NOPs then TS"), ([2, 4, 8, 8, 1, 1, 1, 1], "8 inside MSS data"),
            ([3, 3, 7, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0], "WS then TS"), ([5, 0, 8, 1], "zero length then 8"),
            ([0, 0, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0], "EOL then 8 (walked past EOL)"), ([4, 2, 2, 4, 5, 0xb4], "SACKOK then MSS"),
            ([30, 40, 2, 4], "a length past the end"),
        ]
        for (o, why) in options {
            for port: UInt16 in [22, 23] {
                var p = Probe(source: source, destination: 0xC612_0002, proto: 6)
                p.destinationPort = port
                p.tcpOptions = o
                p.purpose = "tcp \(port) options \(why)"
                out.append(p)
            }
        }
        // iprange bounds.
        for last: UInt32 in [9, 10, 11, 19, 20, 21] {
            for port: UInt16 in [53, 54] {
                var p = Probe(source: 0xC633_6400 | last, destination: 0xC612_0002, proto: 17)
                p.destinationPort = port
                p.purpose = "iprange \(port) from .\(last)"
                out.append(p)
            }
        }
        return out
    }

    func testPayloadAndRangeMatchesDecideLikeTheKernel() throws {
        let url = Fixtures.fixtures.appendingPathComponent("string-oracle/sip-string.rules")
        var run = DifferentialRun(subject: RulesetSubject(url: url, sets: nil), probesWanted: 40)
        let aimed = Self.probes
        run.extraProbes = aimed
        let r = try run.run()
        XCTAssertTrue(r.kernelAccepts, "the kernel refuses \(url.lastPathComponent)")
        for d in r.disagreements { XCTFail(d) }
        for p in r.problems { XCTFail(p) }
        XCTAssertEqual(r.unscorable, 0)
        XCTAssertGreaterThanOrEqual(r.scored, aimed.count)
        XCTAssertEqual(r.agreed, r.scored)
        // The rules run in XDP: it drops what the kernel drops, itself.
        XCTAssertGreaterThan(r.kernelDrops, 100)
        XCTAssertEqual(r.xdpDrops, r.kernelDrops, "XDP left some kernel drops to the kernel")
        print("packet-ext oracle: \(r.probes) probes (\(aimed.count) aimed), \(r.agreed)/\(r.scored) agree, "
              + "kernel drops \(r.kernelDrops), XDP dropped \(r.xdpDrops) itself; \(String(format: "%.1f", r.seconds)) s")
    }

    /// The corpus rulesets that use these matches (--tcp-option in goautodial's CHECK_TCP,
    /// SIP scanner strings in kvmpbx), with the generated probes and the aimed ones.
    func testCorpusRulesetsWithPacketMatches() throws {
        guard let corpus = Fixtures.corpus else { throw XCTSkip("../shared/corpus is absent") }
        for name in ["goautodial-sysconfig.rules", "kvmpbx-asterisk-sipscan.rules"] {
            let url = corpus.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { XCTFail("\(name) is missing"); continue }
            var run = DifferentialRun(subject: RulesetSubject(url: url, sets: nil), probesWanted: 150)
            run.extraProbes = Self.probes
            let r = try run.run()
            XCTAssertTrue(r.kernelAccepts, name)
            for d in r.disagreements { XCTFail("\(name): \(d)") }
            for p in r.problems { XCTFail("\(name): \(p)") }
            XCTAssertEqual(r.agreed, r.scored, name)
            print("packet-ext oracle \(name): \(r.probes) probes, \(r.agreed)/\(r.scored) agree, \(r.unscorable) unscorable; "
                  + "kernel drops \(r.kernelDrops) (\(r.rejects) by REJECT), XDP dropped \(r.xdpDrops) itself; \(String(format: "%.1f", r.seconds)) s")
        }
    }
}
