import Foundation
import TestSupport
import XCTest
@testable import IptParse

final class IpsetParserTests: XCTestCase {
    func v4(_ s: String) -> IpsetAddress {
        guard let v = IpsetAddressParser.ipv4(Array(s.utf8)[...]) else {
            XCTFail("bad test address \(s)")
            return IpsetAddress(ipv4: 0)
        }
        return IpsetAddress(ipv4: v)
    }

    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> IpsetScript? {
        do {
            return try IpsetParser.parse(text, file: "t.ipset")
        } catch {
            XCTFail("unexpected diagnostics:\n\(error)", file: file, line: line)
            return nil
        }
    }

    // MARK: good inputs

    struct Good {
        var name: String
        var text: String
        /// Members of the first set, as printed.
        var members: [String]
        var check: (IpsetScript) -> Void = { _ in }
    }

    func testGoodInputs() {
        let cases: [Good] = [
            Good(name: "plain hash:ip", text: "create a hash:ip\nadd a 198.51.100.1\n", members: ["198.51.100.1"]) { s in
                XCTAssertEqual(s["a"]?.create.type, .hashIP)
                XCTAssertEqual(s["a"]?.create.hashsize, 1024)
                XCTAssertEqual(s["a"]?.create.maxelem, 65536)
                XCTAssertEqual(s["a"]?.create.bucketsize, 12)
                XCTAssertNil(s["a"]?.create.initval)
                XCTAssertEqual(s["a"]?.entries.first?.elements, [.address(IpsetAddress(ipv4: 0xC633_6401))])
                XCTAssertEqual(s["a"]?.entries.first?.location, SourceLocation(file: "t.ipset", line: 2, column: 7, length: 12))
            },
            Good(name: "hash:ip range and cidr expand", text: "create a hash:ip\nadd a 198.51.100.1-198.51.100.3\nadd a 203.0.113.8/31\n",
                 members: ["198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.8", "203.0.113.9"]),
            Good(name: "reversed range is swapped", text: "create a hash:ip\nadd a 198.51.100.2-198.51.100.1\n",
                 members: ["198.51.100.1", "198.51.100.2"]),
            Good(name: "hash:net splits ranges into cidrs, masks host bits", text:
                    "create n hash:net\nadd n 203.0.113.1-203.0.113.6\nadd n 198.51.100.77/24 nomatch\nadd n 192.0.2.1/32\n",
                 members: ["203.0.113.1", "203.0.113.2/31", "203.0.113.4/31", "203.0.113.6", "198.51.100.0/24 nomatch", "192.0.2.1"]) { s in
                XCTAssertEqual(s["n"]?.entries[4].nomatch, true)
                XCTAssertEqual(s["n"]?.entries[4].elements, [.prefix(self.v4("198.51.100.0"), prefixLength: 24)])
            },
            Good(name: "hash:ip,port forms", text:
                    "create p hash:ip,port\nadd p 198.51.100.1,udp:5060\nadd p 198.51.100.1,5061\nadd p 198.51.100.1,icmp:ping\nadd p 198.51.100.2,udp:5060-5061\nadd p 198.51.100.3,ssh\nadd p 198.51.100.3,47:0\n",
                 members: ["198.51.100.1,udp:5060", "198.51.100.1,tcp:5061", "198.51.100.1,icmp:echo-request",
                           "198.51.100.2,udp:5060", "198.51.100.2,udp:5061", "198.51.100.3,tcp:22", "198.51.100.3,gre:0"]) { s in
                XCTAssertEqual(s["p"]?.create.type.dimension, 2)
                XCTAssertEqual(s["p"]?.entries.first?.elements,
                               [.address(self.v4("198.51.100.1")), .port(IpsetPort(proto: 17, port: 5060))])
            },
            Good(name: "ipv6 compressed on print", text: "create six hash:net family inet6\nadd six 2001:DB8:0:0:0:0:0:1\nadd six 2001:db8:1::/48\n",
                 members: ["2001:db8::1", "2001:db8:1::/48"]) { s in XCTAssertEqual(s["six"]?.create.family, .inet6) },
            Good(name: "timeout, counters, comment, options", text:
                    "create t hash:ip timeout 100 counters comment hashsize 100 maxelem 7 initval 0x1234 bucketsize 5\nadd t 198.51.100.1 timeout 5 packets 3 bytes 9 comment \"a b\"\nadd t 198.51.100.2\n",
                 members: ["198.51.100.1 timeout 5 packets 3 bytes 9 comment \"a b\"", "198.51.100.2 timeout 100 packets 0 bytes 0"]) { s in
                let c = s["t"]?.create
                XCTAssertEqual(c?.hashsize, 128)
                XCTAssertEqual(c?.bucketsize, 6)
                XCTAssertEqual(c?.initval, 0x1234)
                XCTAssertEqual(s["t"]?.entries.first?.comment, "a b")
                XCTAssertEqual(s["t"]?.entries.first?.timeout, 5)
                XCTAssertEqual(IpsetPrinter.createLine(c ?? IpsetCreate(name: "", type: .hashIP, location: SourceLocation(file: "", line: 0, column: 0))),
                               "create t hash:ip family inet hashsize 128 maxelem 7 timeout 100 counters comment bucketsize 6 initval 0x00001234")
            },
            Good(name: "comments, blank lines, CRLF, tabs, trailing spaces", text:
                    "# header\r\n\r\n  create\ta hash:ip   \r\n\tadd a 198.51.100.9  \r\n   # indented\n",
                 members: ["198.51.100.9"]),
            Good(name: "flush, del, rename, swap, destroy", text:
                    "create a hash:ip\nadd a 198.51.100.1\nflush a\nadd a 198.51.100.2\nadd a 198.51.100.3\ndel a 198.51.100.2\ncreate b hash:ip\nadd b 203.0.113.1\nswap a b\nrename b c\ndestroy a\n",
                 members: ["198.51.100.3"]) { s in
                XCTAssertEqual(s.sets.map(\.name), ["c"])
            },
            Good(name: "-exist create and re-add", text: "create a hash:ip\ncreate a hash:ip -exist\nadd a 198.51.100.1\nadd a 198.51.100.1\n",
                 members: ["198.51.100.1"]),
            Good(name: "bitmap, list:set saved last", text:
                    "create l list:set size 2\ncreate b bitmap:port range 1-100\nadd b udp:5-6\nadd l b\n",
                 members: ["5", "6"]) { s in
                XCTAssertEqual(s.sets.map(\.name), ["b", "l"])
                XCTAssertEqual(s["l"]?.create.size, 4)
                XCTAssertEqual(s["b"]?.create.portRange, 1...100)
            },
            Good(name: "hash:ip netmask masks members", text: "create m hash:ip netmask 24\nadd m 198.51.100.7\n",
                 members: ["198.51.100.0"]),
            Good(name: "three dimensions, iface, skbinfo", text:
                    "create x hash:ip,port,net\nadd x 198.51.100.1,80,203.0.113.0/25\ncreate i hash:net,iface\nadd i 198.51.100.0/24,physdev:eth1\n",
                 members: ["198.51.100.1,tcp:80,203.0.113.0/25"]) { s in
                XCTAssertEqual(s["i"]?.entries.first?.elements.last, .iface("eth1", physdev: true))
            },
        ]
        for c in cases {
            guard let s = parse(c.text) else { XCTFail(c.name); continue }
            guard let first = s.sets.first else { XCTFail("\(c.name): no set"); continue }
            let printed = first.entries.map { String(IpsetPrinter.addLine($0, in: first.create).dropFirst("add \(first.name) ".count)) }
            XCTAssertEqual(printed, c.members, c.name)
            c.check(s)
        }
    }

    func testSaveOutputExact() {
        let text = "create sip hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0259c232\nadd sip 198.51.100.1,udp:5060\ncreate bm bitmap:ip range 198.51.100.0/28 comment\nadd bm 198.51.100.3 comment \"pbx\"\n"
        guard let s = parse(text) else { return }
        XCTAssertEqual(IpsetPrinter.save(s), """
            create sip hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0259c232
            add sip 198.51.100.1,udp:5060
            create bm bitmap:ip range 198.51.100.0-198.51.100.15 comment
            add bm 198.51.100.3 comment "pbx"

            """)
        // Printing our own output and parsing it again is stable.
        guard let again = parse(IpsetPrinter.save(s)) else { return }
        XCTAssertEqual(IpsetPrinter.save(again), IpsetPrinter.save(s))
    }

    // MARK: malformed inputs

    struct Bad {
        var text: String
        var id: String
        var line: Int
        var column: Int
        var length: Int
        var message: String
    }

    func testMalformedLines() {
        let base = "create a hash:ip\ncreate p hash:ip,port\ncreate n hash:net\n"
        let cases: [Bad] = [
            Bad(text: "create x hash:foo", id: "unknown-set-type", line: 1, column: 10, length: 8, message: "unknown set type 'hash:foo'"),
            Bad(text: base + "add a 1.2.3.999", id: "bad-address", line: 4, column: 7, length: 9,
                message: "expected an IPv4 address, got '1.2.3.999'"),
            Bad(text: base + "add x 198.51.100.1", id: "undefined-set", line: 4, column: 5, length: 1, message: "set 'x' is not defined"),
            Bad(text: "add x 198.51.100.1\ncreate x hash:ip", id: "add-before-create", line: 1, column: 5, length: 1,
                message: "'add' before 'create' of set 'x'"),
            Bad(text: "create x hash:ip hashsiz 64", id: "unknown-option", line: 1, column: 18, length: 7,
                message: "unknown option 'hashsiz' for hash:ip"),
            Bad(text: base + "create a hash:net", id: "duplicate-create", line: 4, column: 8, length: 1, message: "set 'a' is already defined"),
            Bad(text: base + "add p 198.51.100.1,udp:70000", id: "bad-port", line: 4, column: 24, length: 5,
                message: "expected a port from 0 to 65535, got '70000'"),
            Bad(text: base + "add p 198.51.100.1", id: "bad-entry-shape", line: 4, column: 7, length: 12,
                message: "expected 2 comma-separated elements for hash:ip,port, got 1 in '198.51.100.1'"),
            Bad(text: base + "add a 198.51.100.1 timeout 5", id: "timeout-not-enabled", line: 4, column: 20, length: 7,
                message: "expected set 'a' to be created with 'timeout' to use 'timeout'"),
            Bad(text: base + "add a 198.51.100.1 comment \"x\"", id: "comment-not-enabled", line: 4, column: 20, length: 7,
                message: "expected set 'a' to be created with 'comment' to use 'comment'"),
            Bad(text: base + "add a 198.51.100.1 nomatch", id: "unknown-option", line: 4, column: 20, length: 7,
                message: "unknown option 'nomatch' for hash:ip"),
            Bad(text: base + "add n 198.51.100.0/33", id: "bad-prefix", line: 4, column: 20, length: 2,
                message: "expected a prefix length from 1 to 32, got '33'"),
            Bad(text: base + "add n 0.0.0.0/0", id: "bad-prefix", line: 4, column: 15, length: 1,
                message: "expected a prefix length from 1 to 32, got '0'"),
            Bad(text: base + "add a 198.51.100.1\nadd a 198.51.100.1", id: "duplicate-member", line: 5, column: 7, length: 12,
                message: "entry '198.51.100.1' is already in set 'a'"),
            Bad(text: base + "add p 198.51.100.1,foo:1", id: "unknown-protocol", line: 4, column: 20, length: 3,
                message: "unknown protocol 'foo'"),
            Bad(text: base + "add a 198.51.100.1 # note", id: "unknown-option", line: 4, column: 20, length: 1,
                message: "unknown option '#' for hash:ip"),
            Bad(text: "create x hash:ip family inet7", id: "bad-family", line: 1, column: 25, length: 5,
                message: "expected family 'inet' or 'inet6', got 'inet7'"),
            Bad(text: "create x hash:ip timeout", id: "missing-value", line: 1, column: 25, length: 1,
                message: "expected a value after 'timeout'"),
            Bad(text: "create x hash:ip maxelem -1", id: "bad-number", line: 1, column: 26, length: 2,
                message: "expected a number from 0 to 4294967295 for 'maxelem', got '-1'"),
            Bad(text: "create x bitmap:ip", id: "missing-range", line: 1, column: 10, length: 9, message: "expected 'range' for bitmap:ip"),
            Bad(text: "create x hash:ip comment\nadd x 198.51.100.1 comment \"open", id: "unterminated-quote", line: 2, column: 28, length: 1,
                message: "expected a closing '\"' for the quote opened here"),
            Bad(text: "insert x 1", id: "unknown-command", line: 1, column: 1, length: 6,
                message: "unknown command 'insert', expected create, add, del, flush, destroy, swap or rename"),
            Bad(text: "create x hash:ip family inet6\nadd x 198.51.100.1", id: "bad-address", line: 2, column: 7, length: 12,
                message: "expected an IPv6 address, got '198.51.100.1'"),
            Bad(text: "create x hash:ip family inet6\nadd x 2001:db8::/64", id: "ip-range", line: 2, column: 7, length: 13,
                message: "expected a single IPv6 address, got '2001:db8::/64'"),
            Bad(text: "create x hash:ip maxelem 2\nadd x 198.51.100.1-198.51.100.3", id: "set-full", line: 2, column: 7, length: 25,
                message: "set 'x' is full: it holds at most 2 entries"),
            Bad(text: base + "add p 198.51.100.1,icmp:8", id: "bad-icmp", line: 4, column: 25, length: 1,
                message: "expected an icmp type name or type/code, got '8'"),
            Bad(text: base + "create b hash:net\nswap a b", id: "swap-type-mismatch", line: 5, column: 8, length: 1,
                message: "expected sets of the same type to swap, got hash:ip 'a' and hash:net 'b'"),
            Bad(text: "create x hash:ip comment\nadd x 198.51.100.1 comment \"é\" timeout 5", id: "timeout-not-enabled", line: 2, column: 32, length: 7,
                message: "expected set 'x' to be created with 'timeout' to use 'timeout'"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        for c in cases {
            do {
                let s = try IpsetParser.parse(c.text, file: "bad.ipset")
                XCTFail("accepted: \(c.text)\n\(IpsetPrinter.save(s))")
            } catch {
                guard error.diagnostics.count == 1, let d = error.diagnostics.first else {
                    XCTFail("expected one diagnostic for \(c.text), got:\n\(error)")
                    continue
                }
                XCTAssertEqual(d.id, c.id, c.text)
                XCTAssertEqual(d.message, c.message, c.text)
                XCTAssertEqual(d.location, SourceLocation(file: "bad.ipset", line: c.line, column: c.column, length: c.length), "\(c.text)\n\(d)")
            }
        }
    }

    func testAllDiagnosticsOfAFileAreCollected() {
        let text = "create a hash:ip\nadd a 1.2.3.999\nadd b 198.51.100.1\ncreate c hash:bar\nadd a 198.51.100.1\n"
        do {
            _ = try IpsetParser.parse(text, file: "f")
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.diagnostics.map(\.id), ["bad-address", "undefined-set", "unknown-set-type"])
            XCTAssertEqual(error.diagnostics.map(\.location.line), [2, 3, 4])
            XCTAssertEqual(error.diagnostics[0].sourceLine, "add a 1.2.3.999")
        }
    }

    // MARK: robustness

    /// Anything at all either parses or throws IptParseError: no trap, no hang.
    func testArbitraryBytesAndMutationsNeverCrash() throws {
        var rng = SplitMix(seed: 0x1b5e7)
        var inputs: [String] = []
        for _ in 0..<400 {
            let n = Int(rng.next() % 200)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            inputs.append(String(decoding: bytes, as: UTF8.self))
        }
        var seeds: [String] = []
        for dir in IpsetKernelOracleTests.fixtureDirs() {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path), !names.isEmpty {
                for n in names.sorted() { seeds.append(try String(contentsOf: dir.appendingPathComponent(n), encoding: .utf8)) }
                break
            }
        }
        seeds.append("create a hash:ip,port\nadd a 198.51.100.1,udp:5060\ncreate l list:set\nadd l a\n")
        let alphabet = Array(" ,:/-\"#\t\r\n0123456789abcdefx.!".utf8)
        for seed in seeds {
            let base = Array(seed.utf8)
            for _ in 0..<300 {
                var b = base
                for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty {
                    let i = Int(rng.next() % UInt64(b.count))
                    switch rng.next() % 3 {
                    case 0: b[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: b.remove(at: i)
                    default: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                    }
                }
                inputs.append(String(decoding: b, as: UTF8.self))
            }
        }
        var parsed = 0, rejected = 0
        for text in inputs {
            do {
                let s = try IpsetParser.parse(text, file: "fuzz")
                _ = IpsetPrinter.save(s)
                parsed += 1
            } catch {
                XCTAssertFalse(error.diagnostics.isEmpty)
                for d in error.diagnostics { XCTAssertGreaterThanOrEqual(d.location.line, 1) }
                rejected += 1
            }
        }
        XCTAssertGreaterThan(parsed, 0, "mutations should leave some inputs valid")
        XCTAssertGreaterThan(rejected, 0)
        print("ipset fuzz: \(inputs.count) inputs, \(parsed) parsed, \(rejected) rejected")
    }

    /// Prints the parse time of a 100,000-member hash:ip save file (no assertion
    /// on time: run `swift test -c release --filter IpsetParserTests/testParseSpeed`).
    func testParseSpeed() throws {
        var text = "create big hash:ip family inet hashsize 65536 maxelem 200000 bucketsize 12 initval 0x12345678\n"
        text.reserveCapacity(3_000_000)
        for i in 0..<100_000 {
            let a = 0xC000_0000 | UInt32(i) * 7
            text += "add big \(a >> 24).\((a >> 16) & 0xff).\((a >> 8) & 0xff).\(a & 0xff)\n"
        }
        let clock = ContinuousClock()
        var script: IpsetScript?
        let t = try clock.measure { script = try IpsetParser.parse(text, file: "big.ipset") }
        XCTAssertEqual(script?.sets.first?.entries.count, 100_000)
        let t2 = clock.measure { _ = script.map(IpsetPrinter.save) }
        print("ipset parse: 100000 members in \(t), save in \(t2)")
    }
}
