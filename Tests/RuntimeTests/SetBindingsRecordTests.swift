import Compiler
import Foundation
import IptParse
@testable import Runtime
import XCTest

/// The per-set record of what a member takes in XDP (SetBindingsRecord): its text, its key,
/// and single-member adds through it keeping XDP exactly what a whole compile of the
/// kernel's ruleset gives, with the fakes checking every instant.
final class SetBindingsRecordTests: XCTestCase {
    func testTextRoundTripsAndATornOrDamagedFileIsNoRecord() {
        let r = SetBindingsRecord(key: "v1 abc 10 20 1", outcome: .bindings([
            .init(protoPort: nil, position: 3),
            .init(protoPort: CompiledTables.ProtoPort(proto: 17, port: 5060), position: 7),
            .init(protoPort: CompiledTables.ProtoPort(proto: 6, port: nil), position: 9),
        ]))
        XCTAssertEqual(SetBindingsRecord(text: r.text), r)
        for o in [SetBindingsRecord.Outcome.inexact, .bindings([])] {
            let x = SetBindingsRecord(key: "k", outcome: o)
            XCTAssertEqual(SetBindingsRecord(text: x.text), x)
        }
        XCTAssertNil(SetBindingsRecord(text: String(r.text.dropLast(4))), "torn: no `end`")
        XCTAssertNil(SetBindingsRecord(text: r.text.replacingOccurrences(of: "port 17 5060", with: "port 17 x")))
        XCTAssertNil(SetBindingsRecord(text: r.text.replacingOccurrences(of: "host 3", with: "host")))
        XCTAssertNil(SetBindingsRecord(text: ""))
    }

    func testTheKeyChangesWithEveryInput() {
        func key(set: String = "S", rules: String = "R", creates: String = "C", interface: String = "eth0",
                 options: CompileOptions = CompileOptions(), generation: UInt32? = 1) -> String {
            SetBindingsRecord.key(set: set, rulesText: rules, creates: creates, interface: interface, options: options,
                                  generation: generation)
        }
        let base = key()
        XCTAssertEqual(base, key(), "deterministic")
        let others = [
            key(set: "T"), key(rules: "R2"), key(creates: "C2"), key(interface: "eth1"),
            key(options: CompileOptions(rejectAsDrop: true)), key(options: CompileOptions(xdpOnly: true)),
            key(generation: 0), key(generation: nil),
            // The same bytes split differently between the inputs.
            key(set: "SR", rules: ""), key(rules: "RC", creates: ""),
        ]
        for (i, k) in others.enumerated() { XCTAssertNotEqual(k, base, "variant \(i)") }
        XCTAssertEqual(Set(others).count, others.count)
    }

    func testRecordFileNamesHoldAnySetName() {
        let store = StateStore(paths: Paths(pinRoot: "/nonexistent", stateDir: "/s"))
        XCTAssertEqual(SetBindingsRecord.path(store, set: "a/b"), "/s/set-bindings.612f62")
        XCTAssertNotEqual(SetBindingsRecord.path(store, set: "ab"), SetBindingsRecord.path(store, set: "AB"))
    }

    func testAddsThroughTheRecordKeepXDPExact() throws {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: TwoLayerEditTests.base, source: "base.rules",
                                 setFiles: [("sets", TwoLayerEditTests.sets)])
        req.options = CompileOptions()
        XCTAssertEqual(try w.firewall.restore(req).status, 0)
        XCTAssertTrue(w.exact(), "after restore")
        let store = w.firewall.store
        let path = SetBindingsRecord.path(store, set: "peers")
        func inode() -> UInt64? {
            var st = stat()
            return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
        }
        func add(_ set: String, _ a: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try w.firewall.ipset(["add", set, a], stdin: nil)
            XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
            XCTAssertTrue(w.exact(), "after add \(set) \(a)", file: file, line: line)
        }

        XCTAssertNil(inode())
        try add("peers", "10.9.9.9")
        // peers is matched in SIP (udp 5060), where XDP decides: a member takes an entry there.
        guard let text = store.read(path), let record = SetBindingsRecord(text: text),
              case .bindings(let bindings) = record.outcome else { return XCTFail("no record after the first add") }
        XCTAssertFalse(bindings.isEmpty)
        let first = inode()
        try add("peers", "192.0.2.3")
        try add("peers", "10.1.2.3")
        XCTAssertEqual(inode(), first, "same rules and sets: the record is read, not written again")

        // Another ruleset: the record's key no longer holds; it is computed again.
        let r = try w.firewall.iptables(["-I", "INPUT", "1", "-s", "192.0.2.2", "-j", "ACCEPT"], family: .ipv4)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(w.exact())
        try add("peers", "203.0.113.9")
        XCTAssertNotEqual(inode(), first, "a new ruleset: a new record")

        // A record kept under an older key (here with a made-up position) is never used.
        let stale = SetBindingsRecord(key: record.key, outcome: .bindings([.init(protoPort: nil, position: 0)]))
        stale.write(store, set: "peers")
        try add("peers", "198.51.100.7")
        XCTAssertNotEqual(store.read(path), stale.text, "a record under an old key is replaced")

        // The other set (hash:net) and a del, which compiles.
        try add("banned", "10.9.9.9")
        let d = try w.firewall.ipset(["del", "peers", "10.9.9.9"], stdin: nil)
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertTrue(w.exact(), "after del")
        XCTAssertEqual(w.violations, [])
    }

    /// Single-member adds racing whole restores (each a new ruleset, so each voids the
    /// records): the state lock orders them, every add lands in the kernel's set, and XDP
    /// ends exactly what the kernel holds, never dropping what it accepts meanwhile.
    func testMembersAddedWhileRestoresRunAreNeverLost() throws {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var first = RestoreRequest(family: .ipv4, text: TwoLayerEditTests.base, source: "base.rules",
                                   setFiles: [("sets", TwoLayerEditTests.sets)])
        first.options = CompileOptions()
        XCTAssertEqual(try w.firewall.restore(first).status, 0)
        // The same rules with one more in front: other positions for the sets' members.
        let shifted = TwoLayerEditTests.base.replacingOccurrences(
            of: "-A INPUT -p tcp", with: "-A INPUT -s 192.0.2.2/32 -j ACCEPT\n-A INPUT -p tcp")
        XCTAssertNotEqual(shifted, TwoLayerEditTests.base)
        let members = (0..<40).map { "10.50.0.\($0)" }
        let failures = Failures()
        let world = Unchecked(value: w) // every use below runs under the firewall's state lock
        DispatchQueue.concurrentPerform(iterations: 2) { lane in
            let w = world.value
            if lane == 0 {
                for (i, m) in members.enumerated() {
                    do {
                        let r = try w.firewall.ipset(["add", i % 2 == 0 ? "peers" : "banned", m], stdin: nil)
                        if r.status != 0 { failures.add("add \(m): \(r.status) \(r.stderr)") }
                    } catch { failures.add("add \(m): \(error)") }
                }
            } else {
                for k in 0..<8 {
                    var req = RestoreRequest(family: .ipv4, text: k % 2 == 0 ? shifted : TwoLayerEditTests.base, source: "r\(k)")
                    req.options = CompileOptions()
                    do {
                        let r = try w.firewall.restore(req)
                        if r.status != 0 { failures.add("restore \(k): \(r.stderr)") }
                    } catch { failures.add("restore \(k): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        let saved = w.kernel.ipset(["save"], stdin: nil).stdout
        for (i, m) in members.enumerated() {
            let line = i % 2 == 0 ? "add peers \(m)" : "add banned \(m)"
            XCTAssertTrue(saved.contains(line + "\n") || saved.contains(line + "/32\n"), "\(line) lost:\n\(saved)")
        }
        XCTAssertTrue(w.exact(), "XDP is what the kernel holds after the race")
        XCTAssertEqual(w.violations, [])
    }

    struct Unchecked<T>: @unchecked Sendable { let value: T }

    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [String] = []
        func add(_ s: String) { lock.withLock { list.append(s) } }
        var all: [String] { lock.withLock { list } }
    }
}
