@testable import Agent
import Foundation
import IptParse
import Logging
import Runtime
import XCTest

/// What the agent writes after each change, in-process against an in-memory kernel layer:
/// rules whole, sets whole or one journal line per member edit, and what a start reads back.
final class PersistenceFollowTests: XCTestCase {
    var dir = ""
    var kernel = PersistenceTestKernel()
    var service: FirewallService!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ebpa-pf-\(getpid())-\(UUID().uuidString.prefix(6))").path
        let paths = Paths(pinRoot: dir + "/pins", stateDir: dir + "/state", configDir: dir + "/config")
        kernel = PersistenceTestKernel()
        service = FirewallService(firewall: Firewall(paths: paths, kernel: kernel, host: NoXDPHost()), paths: paths,
                                  logger: Logger(label: "test"))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    var files: PersistedFiles { PersistedFiles(directory: dir + "/config") }

    func read(_ path: String) -> String { files.read(path) ?? "" }

    /// What a start would load for the sets: base and journal composed.
    func composed() -> String {
        SavedRuleset(files).candidates(.ipv4, withSets: true).first?.sets ?? ""
    }

    func members(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").filter { $0.hasPrefix("add ") }.map(String.init))
    }

    func kernelMembers() -> Set<String> { members(IpsetPrinter.save(kernel.sets.script)) }

    @discardableResult
    func run(_ r: FirewallRequest) throws -> ToolResult { try service.performNow(r) }

    func testMemberEditsAreJournalLinesAndAStartReadsThemBack() throws {
        let p = Persistence(directory: dir + "/config")
        p.follow(service)
        try run(.ipset(argv: ["create", "s", "hash:ip"], stdin: nil))
        let base = read(files.sets)
        XCTAssertTrue(base.hasPrefix("# ebpf-iptables ipsets "), base)
        XCTAssertEqual(read(PersistedFiles.lastGood(files.sets)), base)
        for i in 1...20 { try run(.ipset(argv: ["add", "s", "10.0.0.\(i)"], stdin: nil)) }
        try run(.ipset(argv: ["del", "s", "10.0.0.3"], stdin: nil))
        try run(.ipset(argv: ["-exist", "add", "s", "10.0.0.4"], stdin: nil))
        XCTAssertEqual(kernel.sets.script.sets.first?.entries.count, 19)
        XCTAssertEqual(read(files.sets), base, "member edits leave the base alone")
        let journal = read(files.setsJournal).split(separator: "\n")
        XCTAssertEqual(journal.count, 1 + 22)
        XCTAssertEqual(journal.first.map(String.init), "# base " + (files.setsToken(files.sets) ?? "?"))
        XCTAssertEqual(journal[21], "del s 10.0.0.3")
        XCTAssertEqual(members(composed()), kernelMembers(), "base + journal = the kernel's sets")
        // A refused single member changes nothing, writes nothing.
        let r = try run(.ipset(argv: ["add", "s", "10.0.0.1"], stdin: nil))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(read(files.setsJournal).split(separator: "\n").count, 23)
    }

    func testOtherSetChangesRewriteTheSetsWholeAndDropTheJournal() throws {
        Persistence(directory: dir + "/config").follow(service)
        try run(.ipset(argv: ["create", "s", "hash:ip"], stdin: nil))
        try run(.ipset(argv: ["add", "s", "10.0.0.1"], stdin: nil))
        XCTAssertTrue(files.exists(files.setsJournal))
        let token = files.setsToken(files.sets)
        try run(.ipset(argv: ["create", "t", "hash:net"], stdin: nil))
        XCTAssertFalse(files.exists(files.setsJournal))
        XCTAssertNotEqual(files.setsToken(files.sets), token)
        XCTAssertTrue(read(files.sets).contains("add s 10.0.0.1"))
        XCTAssertTrue(read(files.sets).contains("create t hash:net"))
        try run(.ipset(argv: ["flush", "s"], stdin: nil))
        XCTAssertFalse(read(files.sets).contains("add s 10.0.0.1"))
    }

    func testTheJournalIsCompactedAfterItsLimit() throws {
        var p = Persistence(directory: dir + "/config")
        p.compactAfter = 5
        p.follow(service)
        try run(.ipset(argv: ["create", "s", "hash:ip"], stdin: nil))
        for i in 1...4 { try run(.ipset(argv: ["add", "s", "10.0.0.\(i)"], stdin: nil)) }
        XCTAssertEqual(read(files.setsJournal).split(separator: "\n").count, 5)
        try run(.ipset(argv: ["add", "s", "10.0.0.5"], stdin: nil))
        XCTAssertFalse(files.exists(files.setsJournal), "compacted")
        XCTAssertEqual(members(read(files.sets)), kernelMembers())
        try run(.ipset(argv: ["add", "s", "10.0.0.6"], stdin: nil))
        XCTAssertEqual(members(composed()), kernelMembers())
    }

    /// A journal left by a crash between the base's rename and the journal's removal belongs
    /// to the old base: its token says so and a start ignores it.
    func testAJournalOfAnOlderBaseIsIgnored() throws {
        Persistence(directory: dir + "/config").follow(service)
        try run(.ipset(argv: ["create", "s", "hash:ip"], stdin: nil))
        try run(.ipset(argv: ["add", "s", "10.0.0.1"], stdin: nil))
        try run(.ipset(argv: ["del", "s", "10.0.0.1"], stdin: nil))
        let stale = read(files.setsJournal)
        try run(.ipset(argv: ["add", "s", "10.0.0.9"], stdin: nil))
        try run(.ipset(argv: ["create", "t", "hash:ip"], stdin: nil)) // whole: new base, journal gone
        try run(.ipset(argv: ["add", "s", "10.0.0.1"], stdin: nil))
        // The crash: the old journal back in place of the new one.
        try Data(stale.utf8).write(to: URL(fileURLWithPath: files.setsJournal))
        XCTAssertEqual(members(composed()), kernelMembers().subtracting(["add s 10.0.0.1"]),
                       "the stale journal's `del s 10.0.0.1` is not applied to the new base")
        // The next edit notices the stale journal and starts a new one for the current base.
        try run(.ipset(argv: ["add", "s", "10.0.0.2"], stdin: nil))
        XCTAssertEqual(read(files.setsJournal).split(separator: "\n").count, 2)
    }

    /// Rules are written after a change, not after a question; both files, normalized.
    func testRulesAreSavedAfterChangesOnly() throws {
        Persistence(directory: dir + "/config").follow(service)
        try run(.iptables(argv: ["-A", "INPUT", "-s", "10.1.0.0/16", "-j", "DROP"], family: .ipv4))
        XCTAssertEqual(read(files.rulesV4), kernel.text(.ipv4))
        XCTAssertEqual(read(PersistedFiles.lastGood(files.rulesV4)), kernel.text(.ipv4))
        let saves = kernel.saveCalls
        try run(.iptables(argv: ["-nvL", "INPUT"], family: .ipv4))
        try run(.iptables(argv: ["-S"], family: .ipv4))
        try run(.save(family: .ipv4, counters: false, table: nil))
        XCTAssertEqual(kernel.saveCalls, saves + 1, "only the save request itself read the rules")
        try run(.iptables(argv: ["-A", "INPUT", "-s", "2001:db8::/32", "-j", "DROP"], family: .ipv6))
        XCTAssertEqual(read(files.rulesV6), kernel.text(.ipv6))
        // A refused restore applies nothing and writes nothing.
        let v4 = read(files.rulesV4)
        let r = try run(.restore(RestoreRequest(family: .ipv4, text: "*filter\nBROKEN\nCOMMIT\n", source: "x")))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(read(files.rulesV4), v4)
    }

    /// attach/detach write and remove the record; detach keeps the rules and sets.
    func testDetachKeepsTheSavedRuleset() throws {
        Persistence(directory: dir + "/config").follow(service)
        try run(.iptables(argv: ["-A", "INPUT", "-s", "10.1.0.0/16", "-j", "DROP"], family: .ipv4))
        try files.commit([(files.attachment, PersistedAttachment(interface: "eth9", mode: "native").json)])
        // No XDP here: detach refuses (not attached); the record stays, the rules too.
        XCTAssertNotEqual(try run(.detach(interface: "eth9")).status, 0)
        XCTAssertTrue(files.exists(files.attachment))
        XCTAssertTrue(read(files.rulesV4).contains("10.1.0.0/16"))
    }

    /// The cost of keeping the sets on disk per member edit at 100,000 members: the whole
    /// `ipset save` text written (two files, fsync, rename) against one journal line
    /// (append, fdatasync). The kernel's own `ipset save` comes on top of the whole write
    /// (measured in namespaces: see the report); the journal needs nothing from the kernel.
    func testMeasureWholeSaveAgainstJournalAt100000Members() throws {
        var text = "# ebpf-iptables ipsets T\ncreate big hash:ip family inet hashsize 65536 maxelem 1000000\n"
        for i in 0..<100_000 { text += "add big 10.\(i >> 16).\((i >> 8) & 255).\(i & 255)\n" }
        let clock = ContinuousClock()
        var whole: [Duration] = []
        for _ in 0..<9 {
            whole.append(clock.measure { try? files.commit([(files.sets, text), (PersistedFiles.lastGood(files.sets), text)]) })
        }
        var lines: [Duration] = [], synced: [Duration] = []
        for i in 0..<501 {
            lines.append(clock.measure { try? files.append("add big 11.0.\(i >> 8).\(i & 255)", to: files.setsJournal, header: "# base T") })
        }
        for i in 0..<101 {
            synced.append(clock.measure { try? files.append("add big 11.1.\(i >> 8).\(i & 255)", to: files.setsJournal, header: "# base T", sync: true) })
        }
        whole.sort()
        lines.sort()
        synced.sort()
        print("persistence at 100,000 members (\(text.utf8.count) bytes): the sets written whole (2 files, fsync, rename): median \(whole[4]), "
              + "max \(whole[8]); one journal line (append): median \(lines[250]), p99 \(lines[495]); with fdatasync: median \(synced[50]), p99 \(synced[99])")
        XCTAssertEqual(read(files.setsJournal).split(separator: "\n").count, 603)
        // What a start reads back: the base with the journal's 501 members added.
        let back = SavedRuleset.compose(read(files.sets), journal: read(files.setsJournal))
        XCTAssertEqual(back.split(separator: "\n").filter { $0.hasPrefix("add big ") }.count, 100_602)
        XCTAssertTrue(back.contains("add big 11.0.1.244\n"))
        XCTAssertLessThan(lines[250], whole[4] / 10, "a journal line costs far less than the whole file")
    }
}
