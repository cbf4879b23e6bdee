import XCTest
@testable import IptParse

/// ipset's command line without a kernel: argv parsing, messages and statuses, and
/// timeouts on a clock the test controls. The kernel comparison is IpsetConformanceTests.
final class IpsetCommandLineTests: XCTestCase {
    /// Runs commands in order on one state; returns (stdout, stderr, status) of each.
    func session(_ lines: [(Int64, [String])], references: [String: Int] = [:]) -> [(String, String, Int32)] {
        var state = IpsetState()
        var out: [(String, String, Int32)] = []
        var seed: UInt32 = 0x1234_5678
        for (now, argv) in lines {
            let o: IpsetOutcome
            do {
                let inv = try IpsetArgv.parse(argv)
                let env = IpsetEnvironment(now: now, references: references, newInitval: { seed &+= 1; return seed },
                                           readInput: { _ in "create R hash:ip\nadd R 192.0.2.1\n" })
                o = IpsetSession.execute(inv, state: state, env: env)
            } catch {
                o = IpsetSession.fail(error, quiet: false)
            }
            if let s = o.state { state = s }
            out.append((o.stdout, o.stderr, o.status))
        }
        return out
    }

    func testUsageErrorsCarryTheHintAndStatusTwo() {
        let cases: [([String], String)] = [
            ([], "No command specified."),
            (["bogus"], "No command specified: unknown argument bogus"),
            (["add"], "Missing mandatory argument to command add"),
            (["add", "S"], "Missing second mandatory argument to command add"),
            (["list", "S", "T"], "Unknown argument T"),
            (["-o"], "Missing mandatory argument to option -o"),
            (["-z"], "No command specified: unknown argument -z"),
        ]
        for (argv, message) in cases {
            let r = session([(0, argv)])[0]
            XCTAssertEqual(r.1, "ipset v7.17: \(message)\nTry `ipset help' for more information.\n", "\(argv)")
            XCTAssertEqual(r.2, 2, "\(argv)")
        }
    }

    func testOptionsBeforeOrAfterTheCommand() throws {
        let a = try IpsetArgv.parse(["-exist", "add", "S", "192.0.2.1", "-q"])
        XCTAssertEqual(a.command, .add)
        XCTAssertEqual(a.args, ["S", "192.0.2.1"])
        XCTAssertTrue(a.exist && a.quiet)
        let b = try IpsetArgv.parse(["-L", "-o", "save", "S", "-sorted"])
        XCTAssertEqual(b.command, .list)
        XCTAssertEqual(b.output, .save)
        XCTAssertTrue(b.sorted)
        // A comment's text is a value even when it looks like an option.
        XCTAssertEqual(try IpsetArgv.parse(["add", "S", "192.0.2.1", "comment", "-q"]).args, ["S", "192.0.2.1", "comment", "-q"])
    }

    func testALineBreakInAWordIsNotASecondCommand() {
        let r = session([(0, ["create", "S", "hash:ip"]), (0, ["add", "S", "192.0.2.1\ncreate X hash:ip"]), (0, ["list", "-n"])])
        XCTAssertEqual(r[1].2, 2)
        XCTAssertEqual(r[2].0, "S\n")
    }

    func testKernelMessagesAndTestAnswers() {
        let r = session([
            (0, ["create", "S", "hash:ip"]), (0, ["add", "S", "192.0.2.1"]), (0, ["add", "S", "192.0.2.1"]),
            (0, ["test", "S", "192.0.2.1"]), (0, ["test", "S", "192.0.2.2"]), (0, ["-q", "test", "S", "192.0.2.2"]),
            (0, ["destroy", "S"]), (0, ["add", "S", "192.0.2.256"]),
        ], references: ["S": 1])
        XCTAssertEqual(r[2].1, "ipset v7.17: Element cannot be added to the set: it's already added\n")
        XCTAssertEqual(r[3].1, "Warning: 192.0.2.1 is in set S.\n")
        XCTAssertEqual(r[3].2, 0)
        XCTAssertEqual(r[4].1, "192.0.2.2 is NOT in set S.\n")
        XCTAssertEqual(r[4].2, 1)
        XCTAssertEqual(r[5].1, "")
        XCTAssertEqual(r[6].1, "ipset v7.17: Set cannot be destroyed: it is in use by a kernel component\n")
        XCTAssertEqual(r[7].1, "ipset v7.17: Syntax error: cannot parse 192.0.2.256: resolving to IPv4 address failed\n")
    }

    func testListingLooksLikeIpsets() {
        let r = session([(0, ["create", "S", "hash:net", "counters"]), (0, ["add", "S", "10.0.0.0/8"]), (0, ["list", "S"])],
                        references: ["S": 2])
        XCTAssertEqual(r[2].0, """
            Name: S
            Type: hash:net
            Revision: 7
            Header: family inet hashsize 1024 maxelem 65536 counters bucketsize 12 initval 0x12345679
            Size in memory: 496
            References: 2
            Number of entries: 1
            Members:
            10.0.0.0/8 packets 0 bytes 0

            """)
    }

    func testMembersExpire() {
        let r = session([
            (0, ["create", "T", "hash:ip", "timeout", "10"]), (0, ["add", "T", "192.0.2.1"]),
            (0, ["add", "T", "192.0.2.2", "timeout", "0"]), (1_500, ["save", "T"]), (10_000, ["save", "T"]),
            (10_000, ["add", "T", "192.0.2.1"]),
        ])
        XCTAssertTrue(r[3].0.contains("add T 192.0.2.1 timeout 8\nadd T 192.0.2.2 timeout 0\n"), r[3].0)
        // The listing itself does not drop members; the state loader does, like the kernel's gc.
        var state = IpsetState()
        let env = IpsetEnvironment(now: 0, references: [:], newInitval: { 1 }, readInput: { _ in nil })
        for argv in [["create", "T", "hash:ip", "timeout", "10"], ["add", "T", "192.0.2.1"]] {
            if let s = IpsetSession.execute(try! IpsetArgv.parse(argv), state: state, env: env).state { state = s }
        }
        XCTAssertEqual(state.nextExpiry, 10_000)
        let gone = state.dropExpired(now: 10_000)
        XCTAssertEqual(gone.map(\.elements), [[.address(IpsetAddress(ipv4: 0xC000_0201))]])
        XCTAssertEqual(state.set(named: "T")?.entries.count, 0)
    }

    func testAddReportsTheMembersItChanged() throws {
        var state = IpsetState()
        let env = IpsetEnvironment(now: 0, references: [:], newInitval: { 1 }, readInput: { _ in nil })
        state = try XCTUnwrap(IpsetSession.execute(try IpsetArgv.parse(["create", "S", "hash:ip"]), state: state, env: env).state)
        let o = IpsetSession.execute(try IpsetArgv.parse(["add", "S", "192.0.2.0/31"]), state: state, env: env)
        guard case .members(let set, let changes)? = o.change else { return XCTFail("\(String(describing: o.change))") }
        XCTAssertEqual(set, "S")
        XCTAssertEqual(changes.map(\.added), [true, true])
        XCTAssertEqual(changes.count, 2)
    }
}
