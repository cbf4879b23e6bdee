import Foundation
@testable import IptParse
import TestSupport
import XCTest

/// The shortcuts taken for parse speed (issue 15) must read and print exactly what the
/// code they stand in front of does.
final class ParserSpeedPathTests: XCTestCase {
    /// OptionChecks.check skips its value switch for an extension not in
    /// `valueCheckedExtensions`: every extension a case names must be in that set, or its
    /// checks would silently stop running. Read from the source, so a new case fails here.
    func testValueCheckedExtensionsNameEveryExtensionOfTheSwitch() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Sources/IptParse/OptionChecks.swift"), encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "switch (ext, opt.name) {"))
        let end = try XCTUnwrap(text.range(of: "default:\n            try OptionChecksMZ1.value", range: start.upperBound..<text.endIndex))
        let body = String(text[start.upperBound..<end.lowerBound])
        let casePattern = try NSRegularExpression(pattern: #"\("([A-Za-z0-9_-]+)", (?:"[^"]*"|_)\)"#)
        var named: Set<String> = []
        for m in casePattern.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
            named.insert(String(body[Range(m.range(at: 1), in: body)!]))
        }
        XCTAssertGreaterThan(named.count, 30, "the case patterns were not found: has the switch's form changed?")
        XCTAssertEqual(named.subtracting(OptionChecks.valueCheckedExtensions), [], "cases for extensions the guard skips")
        // A pattern whose extension is a wildcard or a binding would match extensions the set does not list.
        XCTAssertNil(body.range(of: "case (_"), "a case with any extension")
        XCTAssertNil(body.range(of: "case (let"), "a case binding the extension")
    }

    /// The decimal fast path of parseNumber against the general path it precedes.
    func testParseNumberFastPathReadsWhatTheGeneralPathReads() {
        func general(_ s: Substring) -> UInt64? {
            if s.hasPrefix("-") || s.hasPrefix("+") || s.isEmpty { return nil }
            if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
            if s.count > 1 && s.hasPrefix("0") { return UInt64(s.dropFirst(), radix: 8) }
            return UInt64(s)
        }
        var cases = ["", "0", "1", "9", "10", "65535", "65536", "007", "08", "0x1f", "1x", "12a", " 1", "1 ", "+1", "-1", "１",
                     "18446744073709551615", "18446744073709551616", "99999999999999999999", "5060:5061", "1\u{301}"]
        var rng = SplitMix(seed: 0xfa57)
        let alphabet = Array("0123456789x:-+ a")
        for _ in 0..<20_000 {
            cases.append(String((0..<rng.below(22)).map { _ in alphabet[rng.below(alphabet.count)] }))
        }
        for c in cases {
            XCTAssertEqual(ExtensionForms.parseNumber(Substring(c)), general(Substring(c)), "'\(c)'")
        }
    }

    /// IPv4 addresses printed straight into a buffer, against the bytes joined as before.
    func testDottedAddressesPrintAsTheBytesJoined() {
        for b in 0...255 {
            let bytes: [UInt8] = [UInt8(b), UInt8(255 - b), UInt8(b / 2), UInt8((b * 7) % 256)]
            XCTAssertEqual(IPAddressText.format(bytes, family: .ipv4), bytes.map(String.init).joined(separator: "."))
        }
        // The dotted tail of IPv4-mapped IPv6 addresses goes through the same writer.
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 130]
        XCTAssertEqual(IPAddressText.format(mapped, family: .ipv6), "::ffff:192.0.2.130")
    }

    /// A chain long enough to be printed on several threads prints as one thread prints it.
    func testLongChainsPrintAsOneThreadPrintsThem() throws {
        var text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:peers - [0:0]\n"
        let count = SavePrinter.parallelThreshold * 2
        for i in 0..<count {
            let a = "10.\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)"
            switch i % 4 {
            case 0: text += "-A INPUT -s \(a)/32 -p udp -m udp --dport \(1000 + i % 5000) -j ACCEPT\n"
            case 1: text += "-A INPUT -s \(a) -m comment --comment \"peer \(i)\" -j peers\n"
            case 2: text += "-A INPUT -d \(a)/24 -p tcp -m multiport --dports 80,443 -m conntrack --ctstate NEW -j DROP\n"
            default: text += "-A peers ! -s \(a)/16 -p tcp --syn -j RETURN\n"
            }
        }
        text += "COMMIT\n"
        let ruleset = try RestoreParser.parse(text, options: .init())
        let table = try XCTUnwrap(ruleset.table("filter"))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(table.chain("INPUT")).rules.count, SavePrinter.parallelThreshold)
        var expected = "*filter\n"
        let ordered = SavePrinter.chainOrder(table)
        for c in ordered { expected += ":\(c.name) \(c.policy ?? "-") [0:0]\n" }
        for c in ordered {
            for r in c.rules { expected += RulePrinter.save(r, chain: c.name, family: .ipv4) + "\n" }
        }
        expected += "COMMIT\n"
        XCTAssertEqual(SavePrinter.save(ruleset), expected)
        // And what was read is what was written: the file's rules come back in their order.
        let back = SavePrinter.save(ruleset).split(separator: "\n").filter { $0.hasPrefix("-A") }
        XCTAssertEqual(back.count, count)
        XCTAssertEqual(String(back[1]), "-A INPUT -s 10.0.0.1/32 -m comment --comment \"peer 1\" -j peers")
    }

    /// String patterns in IptParse compare bytes, as iptables' strcmp does; abbreviations too.
    func testStringPatternsAndPrefixesAreByteWise() {
        XCTAssertTrue("udp" ~= "udp")
        XCTAssertFalse("udp" ~= "tcp")
        XCTAssertFalse("K" ~= "\u{212A}")  // KELVIN SIGN: canonically "K", not the same bytes
        XCTAssertFalse("destination-port" ~= "destination-por")
        for name in ["destination-port", "dport", "ctstate", "match-set", "to-destination"] {
            for n in 0...name.utf8.count {
                let p = String(name.utf8.prefix(n))!
                XCTAssertEqual(name.hasBytePrefix(p), name.hasPrefix(p), "'\(name)' '\(p)'")
            }
            XCTAssertFalse(name.hasBytePrefix(name + "x"))
        }
        // The set of builtin prefixes answers as the walk over the builtin names would.
        for word in ["", "d", "de", "dst", "dp", "destination", "destination-port", "sp", "w", "wa", "ipv", "x", "zz"] {
            XCTAssertEqual(builtinPrefixes.contains(word), builtinLong.contains { $0.0.hasPrefix(word) }, "'\(word)'")
        }
    }

    /// `characterCount` (bytes for ASCII without CR) against `count`'s grapheme walk.
    func testCharacterCountIsTheCountOfCharacters() {
        var cases = ["", "a", "-A INPUT -s 10.0.0.1/32 -j ACCEPT", "a\r", "\r\n", "a\r\nb", "\n\r", "e\u{301}", "\u{1F1E9}\u{1F1EA}",
                     "caf\u{E9}", "\t\t", "\u{212A}", "x\r\r\n"]
        var rng = SplitMix(seed: 0xc0c0)
        let alphabet: [String] = ["a", " ", "-", "\r", "\n", "\u{301}", "\u{E9}", "\u{1F1E9}", "\"", "\t"]
        for _ in 0..<5_000 {
            cases.append((0..<rng.below(12)).map { _ in alphabet[rng.below(alphabet.count)] }.joined())
        }
        for c in cases {
            XCTAssertEqual(c.characterCount, c.count, "\(Array(c.unicodeScalars))")
        }
    }

    /// The long option's name past its dashes, by bytes where it can be, as dropFirst(2) reads it.
    func testAfterDashesIsDropFirstTwo() {
        for w in ["--dport", "--d", "--", "---x", "--=x", "--dport=22", "--\u{301}dport", "-\u{301}-dport", "--\u{E9}", "--\r\n", "--\rx"] {
            XCTAssertEqual(CommandLineParser.afterDashes(w), String(w.dropFirst(2)), "\(Array(w.unicodeScalars))")
        }
    }

    /// Matches and targets written straight into the buffer print what `match` and `target`
    /// return, for every rule of the fixtures and for the shapes the fast paths take.
    func testMatchesAppendedPrintAsMatchReturns() throws {
        var rules: [(Rule, Family)] = []
        var files: [URL] = []
        for dir in ["rulesets", "ipv6", "values", "string-oracle"] {
            let d = Fixtures.fixtures.appendingPathComponent(dir)
            for f in try FileManager.default.contentsOfDirectory(atPath: d.path) where f.hasSuffix(".rules") {
                files.append(d.appendingPathComponent(f))
            }
        }
        for f in files {
            let family: Family = f.lastPathComponent.contains("6") ? .ipv6 : .ipv4
            guard let rs = try? RestoreParser.parse(String(contentsOf: f, encoding: .utf8), options: .init(family: family)) else { continue }
            for t in rs.tables { for c in t.chains { rules += c.rules.map { ($0, family) } } }
        }
        var text = "*filter\n:peers - [0:0]\n"
        for (k, spec) in ["-p udp --dport 53", "-p udp ! --sport 1:1023", "-p tcp --syn", "-p tcp ! --tcp-flags ALL NONE",
                          "-p tcp --tcp-flags SYN,ACK,FIN,RST,URG,PSH SYN ! --tcp-option 8 --sport 22",
                          "-p tcp -m multiport ! --dports 80,443,1000:2000", "-p udp -m multiport --sports 5060",
                          "-m conntrack --ctstate NEW,RELATED,ESTABLISHED,INVALID,UNTRACKED,SNAT,DNAT",
                          "-m conntrack ! --ctstate NEW --ctproto tcp", "-m comment --comment \"a \\\"b\\\" 'c'\"", "-m comment --comment x_y-z",
                          "-j RETURN", "-j QUEUE", "-j REJECT", "-j LOG --log-prefix \"x \""].enumerated() {
            text += "-A INPUT \(spec)\(spec.contains("-j ") ? "" : " -j ACCEPT")\n-A OUTPUT \(k % 2 == 0 ? "-j DROP" : "-g peers")\n"
        }
        text += "COMMIT\n"
        let rs = try RestoreParser.parse(text, options: .init())
        for t in rs.tables { for c in t.chains { rules += c.rules.map { ($0, .ipv4) } } }
        XCTAssertGreaterThan(rules.count, 40)
        var kinds: Set<String> = []
        for (r, family) in rules {
            for m in r.matches {
                var out = ""
                RulePrinter.appendMatch(m, family: family, to: &out)
                XCTAssertEqual(out, RulePrinter.match(m, family: family))
                kinds.insert(m.name)
            }
            if let t = r.target {
                var out = ""
                RulePrinter.appendTarget(t, to: &out)
                XCTAssertEqual(out, RulePrinter.target(t))
            }
        }
        XCTAssertTrue(kinds.isSuperset(of: ["udp", "tcp", "multiport", "conntrack", "comment"]), "\(kinds)")
        // Every flag mask and state set, against the lists joined as before.
        let flagList: [(UInt8, String)] = [(1, "FIN"), (2, "SYN"), (4, "RST"), (8, "PSH"), (16, "ACK"), (32, "URG")]
        for v in 0...255 {
            let joined = v == 0 ? "NONE" : flagList.filter { UInt8(v) & $0.0 != 0 }.map(\.1).joined(separator: ",")
            XCTAssertEqual(RulePrinter.flagNames(UInt8(v)), joined)
        }
        for bits in 0..<128 {
            let s = ConntrackStates(rawValue: UInt16(bits))
            var out = ""
            s.appendSaveText(to: &out)
            XCTAssertEqual(out, s.saveText)
        }
        for (lo, hi) in [(0, 0), (0, 65535), (22, 22), (1000, 2000), (65535, 65535), (5, 3)] {
            let r = ValueRange(UInt16(lo), UInt16(hi))
            var out = ""
            r.appendSaveText(to: &out)
            XCTAssertEqual(out, r.saveText)
        }
    }

    /// A restore's lines, split in place, against the copy of its bytes split as before.
    func testLinesSplitAsTheCopiedBytesWere() {
        func copied(_ text: String) -> [String] {
            var lines: [String] = []
            var bytes = Array(text.utf8)
            if bytes.last != 10 { bytes.append(10) }
            var start = 0
            for (i, b) in bytes.enumerated() where b == 10 {
                lines.append(String(decoding: bytes[start..<i], as: UTF8.self))
                start = i + 1
            }
            return lines
        }
        var cases = ["", "\n", "\n\n", "a", "a\n", "a\nb", "a\n\nb\n", "a\r\nb\r\n", "caf\u{E9}\n\u{301}x", "*filter\n-A INPUT -j ACCEPT\nCOMMIT"]
        var rng = SplitMix(seed: 0x11e5)
        let alphabet: [String] = ["a", " ", "\n", "\r", "\u{E9}", "\u{301}", "#"]
        for _ in 0..<3_000 {
            cases.append((0..<rng.below(16)).map { _ in alphabet[rng.below(alphabet.count)] }.joined())
        }
        for c in cases {
            XCTAssertEqual(RestoreParser.lines(c), copied(c), "\(Array(c.unicodeScalars))")
            // A String without contiguous UTF-8 (bridged or lazily decoded) takes the copying path.
            XCTAssertEqual(Array(c.utf8).withUnsafeBufferPointer { RestoreParser.lines(bytes: $0) }, copied(c))
        }
    }
}
