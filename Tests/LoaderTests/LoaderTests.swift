import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

final class LoaderTests: XCTestCase {
    /// Swift sees the same struct sizes as the C side's _Static_assert and the BPF program.
    func testLayout() {
        let expected = [
            "eipt_live": 8, "eipt_gen_config": 20, "eipt_rule_info": 8, "eipt_pos": 4,
            "eipt_proto_port_key": 4, "eipt_src_key": 8, "eipt_src_proto_port_key": 12,
            "eipt_fb_rule": 56, "eipt_counter": 16, "eipt_frag_key": 12, "eipt_ext": 64,
            "eipt_frag_value": 8, "eipt_src_host_key": 4, "eipt_spp_host_key": 8,
        ]
        XCTAssertEqual(MapLayout.sizes, expected)
        let offsets: [String: Int?] = ["pos": 0, "src_addr": 12, "sport_lo": 28, "len_lo": 36,
                                       "proto": 40, "ct_states": 46, "ttl_val": 48]
        XCTAssertEqual(MapLayout.fallbackOffsets, offsets)
    }

    /// Rebuilding bpf/ gives the committed Sources/CBpfObject/bpf_object.c byte for byte.
    func testEmbeddedObjectIsReproducible() throws {
        let root = Fixtures.packageRoot
        let committed = Fixtures.text(root.appendingPathComponent("Sources/CBpfObject/bpf_object.c"))
        let clang = "/usr/bin/clang"
        guard FileManager.default.isExecutableFile(atPath: clang) else {
            print("skipping: \(clang) is missing (apt-get install clang)")
            throw XCTSkip("\(clang) is missing")
        }
        let version = Run.run([clang, "--version"]).stdout.split(separator: "\n").first.map(String.init) ?? ""
        guard committed.contains("/* compiler: \(version) */") else {
            print("skipping: the committed object was built by another compiler than \(version)")
            throw XCTSkip("different clang")
        }
        let out = NSTemporaryDirectory() + "ebpt-bpfobj-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = Run.run([root.appendingPathComponent("scripts/build-bpf").path], env: ["OUT": out, "CLANG": clang])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rebuilt = Fixtures.text(URL(fileURLWithPath: out + "/bpf_object.c"))
        XCTAssertTrue(rebuilt == committed, "Sources/CBpfObject/bpf_object.c is stale: run scripts/build-bpf")
    }

    /// Messages are a lowercase context phrase ending with the cause and its errno name.
    func testErrorMessages() {
        let root = "/nonexistent-ebpt-\(getpid())"
        do {
            _ = try Dataplane.open(pinnedAt: root)
            XCTFail("opened a missing pin root")
        } catch {
            XCTAssertEqual(error.message, "open pinned program \(root)/eipt_xdp: no such file or directory (ENOENT)")
            XCTAssertEqual(error.code, ENOENT)
        }
    }

    /// Writing generation 1 while 0 is live changes nothing until activate(1).
    func testGenerationSwap() throws {
        try Privileged.skipUnlessPrivileged()
        let dp = try Dataplane.load()
        var packet = TestPacket()
        packet.src = 0xC633_0001
        packet.dst = 0xC612_0001
        packet.dport = 53
        let frame = packet.frame
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.pass, "fresh: EMPTY passes")

        var accept = CompiledTables()
        accept.verdicts = [.accept]
        accept.policy = .drop
        accept.protoPort[.init(proto: 17, port: 53)] = 0
        var drop = CompiledTables()
        drop.policy = .drop
        try dp.write(accept, generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.pass)
        try dp.write(drop, generation: 1)
        XCTAssertEqual(try dp.liveGeneration(), 0)
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.pass, "gen 1 written, not active")
        try dp.activate(generation: 1)
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.drop)
        XCTAssertEqual(try dp.counters(generation: 1), [RuleCounter(packets: 1, bytes: UInt64(packet.ipPacket.count))])
        XCTAssertEqual(try dp.counters(generation: 0)[0].packets, 0, "accepted packets are the kernel's to count")
        try dp.activate(generation: 0)
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.pass)
        // The live generation is never written in place.
        do {
            try dp.write(drop, generation: 0)
            XCTFail("wrote the live generation")
        } catch {
            XCTAssertEqual(error.message, "write generation 0: it is live; write the other generation and activate it")
        }
        // Rewriting a generation clears its old entries and counters.
        try dp.activate(generation: 1)
        try dp.write(drop, generation: 0)
        try dp.activate(generation: 0)
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.drop)
        XCTAssertEqual(try dp.counters(generation: 0), [RuleCounter(packets: 1, bytes: UInt64(packet.ipPacket.count))])
        try dp.setFlags([.allDestinations, .empty])
        XCTAssertEqual(try dp.testRun(packet: frame).action, XDPAction.pass, "EMPTY passes")
    }

    /// Pin, reopen in a "later process" (fresh descriptors), unpin.
    func testPinOpenUnpin() throws {
        try Privileged.skipUnlessPrivileged()
        let fs = try TempBpffs()
        let root = fs.path + "/ebpf-iptables"
        var t = CompiledTables()
        t.verdicts = [.drop]
        t.catchAll = 0
        let id: UInt32
        do {
            let dp = try Dataplane.load()
            try dp.write(t, generation: 1)
            try dp.activate(generation: 1)
            try dp.setFlags(.allDestinations)
            try dp.pin(at: root)
            id = dp.programID
        }
        let again = try Dataplane.open(pinnedAt: root)
        XCTAssertEqual(again.programID, id)
        XCTAssertEqual(try again.liveGeneration(), 1)
        var p = TestPacket()
        p.src = 0x0A00_0001
        p.dst = 0xC612_0001
        XCTAssertEqual(try again.testRun(packet: p.frame).action, XDPAction.drop)
        XCTAssertEqual(try again.counters(generation: 1)[0].packets, 1)
        try Dataplane.unpin(at: root)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root))
        do {
            _ = try Dataplane.open(pinnedAt: root)
            XCTFail("opened after unpin")
        } catch {
            XCTAssertEqual(error.message, "open pinned program \(root)/eipt_xdp: no such file or directory (ENOENT)")
        }
    }
}
