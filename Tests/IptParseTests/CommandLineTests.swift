import IptParse
import XCTest

/// iptables' command line (argv), through the same parser restore files use.
final class CommandLineTests: XCTestCase {
    func parse(_ line: String, family: Family = .ipv4, chains: Set<String> = ["SIP"]) throws -> IptCommand {
        let (src, words) = WordSource.argv(line.split(separator: " ").map(String.init))
        let ctx = CommandContext(family: family, chainExists: { _, c in chains.contains(c) })
        guard case .command(let c) = try CommandParser.parse(words, source: src, context: ctx) else {
            throw XCTSkip("skipped line")
        }
        return c
    }

    func error(_ line: String, family: Family = .ipv4) -> Diagnostic? {
        do {
            _ = try parse(line, family: family)
            return nil
        } catch let d as Diagnostic {
            return d
        } catch {
            return nil
        }
    }

    func testCommandsAndTheirArguments() throws {
        let cases: [(String, IptCommand.Kind, String?, Int?, String?)] = [
            ("-A INPUT -j ACCEPT", .append, "INPUT", nil, nil),
            ("--append INPUT -j ACCEPT", .append, "INPUT", nil, nil),
            ("-I INPUT -j ACCEPT", .insert, "INPUT", nil, nil),
            ("-I INPUT 3 -j ACCEPT", .insert, "INPUT", 3, nil),
            ("-D INPUT 2", .delete, "INPUT", 2, nil),
            ("-D INPUT -s 198.51.100.1 -j DROP", .delete, "INPUT", nil, nil),
            ("-R INPUT 1 -j DROP", .replace, "INPUT", 1, nil),
            ("-C INPUT -j DROP", .check, "INPUT", nil, nil),
            ("-P INPUT DROP", .policy, "INPUT", nil, "DROP"),
            ("-N SIP-PEERS", .newChain, "SIP-PEERS", nil, nil),
            ("-X", .deleteChain, nil, nil, nil),
            ("-X SIP", .deleteChain, "SIP", nil, nil),
            ("-E SIP SIP2", .renameChain, "SIP", nil, "SIP2"),
            ("-F", .flush, nil, nil, nil),
            ("-F INPUT", .flush, "INPUT", nil, nil),
            ("-Z INPUT 2", .zero, "INPUT", 2, nil),
            ("-L", .list, nil, nil, nil),
            ("-L INPUT -n -v -x --line-numbers", .list, "INPUT", nil, nil),
            ("-nvL INPUT", .list, "INPUT", nil, nil),
            ("-S", .listRules, nil, nil, nil),
            ("-S INPUT 1", .listRules, "INPUT", 1, nil),
        ]
        for (line, kind, chain, number, arg) in cases {
            let c = try parse(line)
            XCTAssertEqual(c.kind, kind, line)
            XCTAssertEqual(c.chain, chain, line)
            XCTAssertEqual(c.ruleNumber, number, line)
            XCTAssertEqual(c.argument, arg, line)
        }
    }

    func testListingFlags() throws {
        let c = try parse("-L INPUT -n -v -x --line-numbers")
        XCTAssertTrue(c.numeric && c.verbose && c.exact && c.lineNumbers)
        let d = try parse("-nvxL")
        XCTAssertTrue(d.numeric && d.verbose && d.exact && !d.lineNumbers)
        XCTAssertEqual(try parse("-t nat -L -w").table, "nat")
        XCTAssertEqual(try parse("-w 5 -t raw -S").table, "raw")
    }

    func testRuleSpecificationIsTyped() throws {
        let c = try parse("-A INPUT -s 198.51.100.7 -p udp --dport 5060 -j ACCEPT")
        XCTAssertEqual(c.rules.count, 1)
        let r = c.rules[0]
        XCTAssertEqual(r.source?.value.saveText, "198.51.100.7/32")
        XCTAssertEqual(r.proto?.value, 17)
        XCTAssertEqual(r.matches, [.udp({ var u = UDPMatch(); u.destinationPort = Negatable(ValueRange(5060, 5060)); return u }())])
        XCTAssertEqual(r.target, .accept)
        XCTAssertEqual(RulePrinter.save(r, chain: "INPUT", family: .ipv4),
                       "-A INPUT -s 198.51.100.7/32 -p udp -m udp --dport 5060 -j ACCEPT")
    }

    func testSetMatchAndJumpsToUserChains() throws {
        let r = try parse("-A INPUT -m set ! --match-set wl src,dst -j SIP").rules[0]
        XCTAssertEqual(r.matches, [.set(SetMatch(name: "wl", directions: [.src, .dst], negated: true))])
        XCTAssertEqual(r.target, .jump("SIP"))
        XCTAssertEqual(try parse("-A INPUT -g SIP").rules[0].target, .goto("SIP"))
    }

    func testAddressListsExpandLikeIptables() throws {
        let c = try parse("-A INPUT -s 198.51.100.1,198.51.100.2 -d 192.0.2.1,192.0.2.2 -j DROP")
        XCTAssertEqual(c.rules.map { "\($0.source!.value.saveText) \($0.destination!.value.saveText)" }, [
            "198.51.100.1/32 192.0.2.1/32", "198.51.100.1/32 192.0.2.2/32",
            "198.51.100.2/32 192.0.2.1/32", "198.51.100.2/32 192.0.2.2/32",
        ])
    }

    func testIPv6Addresses() throws {
        let c = try parse("-A INPUT -s 2001:DB8:0:0:0:0:0:1/64 -d ::ffff:192.0.2.1 -j ACCEPT", family: .ipv6)
        XCTAssertEqual(c.rules[0].source?.value.saveText, "2001:db8::/64")
        XCTAssertEqual(c.rules[0].destination?.value.saveText, "::ffff:192.0.2.1/128")
        XCTAssertEqual(error("-A INPUT -s 198.51.100.1 -j ACCEPT", family: .ipv6)?.id, "bad-address")
    }

    func testArgvErrorsPointAtTheWord() {
        let cases: [(String, String, Int)] = [
            ("-A INPUT -p tcp --dport 70000 -j ACCEPT", "bad-port", 25),
            ("-A INPUT -j", "missing-argument", 10),
            ("-A INPUT -s 1.2.3.4 -Q", "unknown-option", 21),
            ("-P INPUT", "missing-argument", 1),
            ("-L -F", "multiple-commands", 4),
            ("-F INPUT -s 1.2.3.4", "illegal-option", 10),
            ("-A INPUT -x -j ACCEPT -j DROP", "duplicate-option", 23),
            ("", "no-command", 1),
            ("-I INPUT 0 -j ACCEPT", "bad-rule-number", 10),
            ("-A INPUT -6 -j ACCEPT", "wrong-family", 10),
        ]
        for (line, id, column) in cases {
            let d = error(line)
            XCTAssertEqual(d?.id, id, line)
            XCTAssertEqual(d?.location.column, column, line)
            XCTAssertEqual(d?.location.file, "<command line>", line)
        }
    }

    func testEditsFollowIptables() throws {
        var t = Table(name: "filter")
        try t.apply(try parse("-N SIP"))
        try t.apply(try parse("-A INPUT -p udp --dport 5060 -j SIP"))
        try t.apply(try parse("-A SIP -s 198.51.100.7 -j ACCEPT"))
        try t.apply(try parse("-I SIP -s 198.51.100.8 -j ACCEPT"))
        try t.apply(try parse("-I SIP 3 -j RETURN"))
        XCTAssertEqual(t.chain("SIP")?.rules.map { RulePrinter.save($0, chain: "SIP", family: .ipv4) }, [
            "-A SIP -s 198.51.100.8/32 -j ACCEPT", "-A SIP -s 198.51.100.7/32 -j ACCEPT", "-A SIP -j RETURN",
        ])
        try t.apply(try parse("-D SIP -s 198.51.100.7 -j ACCEPT"))
        try t.apply(try parse("-R SIP 2 -j DROP"))
        XCTAssertEqual(t.chain("SIP")?.rules.last?.target, .drop)
        XCTAssertThrowsError(try t.apply(try parse("-D SIP -s 198.51.100.9 -j ACCEPT"))) {
            XCTAssertEqual(($0 as? EditError)?.kind, .badRule)
        }
        XCTAssertThrowsError(try t.apply(try parse("-X SIP"))) { XCTAssertEqual(($0 as? EditError)?.kind, .chainInUse) }
        try t.apply(try parse("-E SIP VOIP"))
        XCTAssertEqual(t.chain("INPUT")?.rules.first?.target, .jump("VOIP"))
        try t.apply(try parse("-P INPUT DROP"))
        XCTAssertEqual(t.chain("INPUT")?.policy, "DROP")
        XCTAssertThrowsError(try t.apply(try parse("-P INPUT REJECT")))
        try t.apply(try parse("-F"))
        try t.apply(try parse("-X"))
        XCTAssertEqual(t.chains.map(\.name), ["INPUT", "FORWARD", "OUTPUT"])
    }
}
