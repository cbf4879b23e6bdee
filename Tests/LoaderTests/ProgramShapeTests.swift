import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// The program specialised to its ruleset's shape (Compiler/ProgramShape.swift,
/// Loader/ProgramSwap.swift): what a shape removes, and the swap that replaces one program
/// by another on the same maps.
final class ProgramShapeTests: XCTestCase {
    /// The SIP-edge whitelist: `-m set --match-set wl src -p udp --dport 5060 -j ACCEPT`,
    /// policy DROP, with `members` hosts from 10.0.0.0.
    static func whitelist(members: UInt32 = 10) -> CompiledTables {
        var t = CompiledTables()
        t.verdicts = [.accept]
        t.policy = .drop
        for i in 0..<members {
            let key = CompiledTables.SourceProtoPort(source: .init(address: 0x0A00_0000 + i, length: 32),
                                                     protoPort: .init(proto: 17, port: 5060))
            t.sourceProtoPort[key] = 0
        }
        return t
    }

    static func flood(from src: UInt32 = 0xC612_0099) -> TestPacket {
        var p = TestPacket()
        p.src = src
        p.dst = 0xC612_0001
        p.sport = 5060
        p.dport = 5060
        return p
    }

    static func verified(_ stats: String) -> Int? {
        // "processed 3580 insns (limit 1000000) max_states_per_insn ..."
        guard let line = stats.split(separator: "\n").first(where: { $0.hasPrefix("processed ") }) else { return nil }
        return Int(line.split(separator: " ")[1])
    }

    /// What a ruleset needs, from its tables alone; the bits round-trip through the
    /// program's EIPT_GEN_* encoding.
    func testShapeOfTables() {
        let wl = ProgramShapeTests.whitelist()
        XCTAssertEqual(ProgramShape(wl), [.sourceProtoPortHostExact])
        XCTAssertEqual(ProgramShape(wl).description, "src-host-port")
        var t = wl
        var fb = CompiledTables.FallbackRule(position: 1)
        fb.proto = Negatable(6)
        t.fallback = [fb]
        t.verdicts.append(.reject)
        t.needsConntrack = true
        t.natCheck = true
        t.protoPort[.init(proto: 6, port: nil)] = 1
        t.source[.init(address: 0x0A00_0000, length: 8)] = 1
        XCTAssertEqual(ProgramShape(t), [.sourceProtoPortHostExact, .fallback, .reject, .conntrack, .natCheck,
                                         .protoPortAny, .sourcePrefix])
        for s in [ProgramShape(t), ProgramShape(wl), .full, []] {
            XCTAssertEqual(ProgramShape(generationBits: s.generationBits), s)
        }
    }

    /// The verifier removes what a shape rules out: fewer instructions verified without the
    /// conntrack test than with it, far fewer for the whitelist than for the full program;
    /// every program reports the shape it was loaded with, and judges the whitelist alike.
    func testSpecialisedProgramIsSmallerAndJudgesAlike() throws {
        try Privileged.skipUnlessPrivileged()
        let wl = ProgramShapeTests.whitelist()
        var counts: [String: Int] = [:]
        for (name, shape) in [("full", ProgramShape.full), ("fallback+ct", [.fallback, .conntrack, .sourceProtoPortHostExact]),
                              ("fallback", [.fallback, .sourceProtoPortHostExact]), ("whitelist", ProgramShape(wl))] as [(String, ProgramShape)] {
            let dp = try Dataplane.load(shape: shape)
            XCTAssertEqual(try dp.shape(), shape, name)
            let n = try XCTUnwrap(ProgramShapeTests.verified(dp.verifierStats), "\(name): \(dp.verifierStats)")
            counts[name] = n
            try dp.write(wl, generation: 0)
            try dp.activate(generation: 0)
            try dp.setFlags(.allDestinations)
            XCTAssertEqual(try dp.testRun(packet: ProgramShapeTests.flood().frame).action, XDPAction.drop, name)
            XCTAssertEqual(try dp.testRun(packet: ProgramShapeTests.flood(from: 0x0A00_0003).frame).action, XDPAction.pass, name)
        }
        print("verified instructions by shape: \(counts)")
        let full = try XCTUnwrap(counts["full"]), ct = try XCTUnwrap(counts["fallback+ct"])
        let noCT = try XCTUnwrap(counts["fallback"]), w = try XCTUnwrap(counts["whitelist"])
        XCTAssertLessThan(noCT, ct, "without conntrack tests")
        XCTAssertLessThan(w, noCT)
        // Every shape carries the IPv6 path (bpf/ipv6.h, a global function verified on its own,
        // ~168,000 instructions, not specialised yet), so compare what the shape removes of the
        // IPv4 paths: ~95,000 instructions measured when the two were merged.
        XCTAssertGreaterThan(full - w, 80_000, "the IPv4 paths the whitelist's shape removes")
    }

    /// A generation that needs more than the program's shape is passed up whole (the
    /// program's safety net), never judged by half a program.
    func testGenerationBeyondTheShapePasses() throws {
        try Privileged.skipUnlessPrivileged()
        var t = ProgramShapeTests.whitelist()
        var fb = CompiledTables.FallbackRule(position: 1)
        fb.proto = Negatable(6)
        t.verdicts.append(.accept)
        t.fallback = [fb]
        let dp = try Dataplane.load(shape: ProgramShape(ProgramShapeTests.whitelist()))
        try dp.write(t, generation: 0)
        try dp.activate(generation: 0)
        try dp.setFlags(.allDestinations)
        XCTAssertEqual(try dp.testRun(packet: ProgramShapeTests.flood().frame).action, XDPAction.pass)
        XCTAssertEqual(try dp.neededShape(), ProgramShape(t))
        let wide = try dp.replaced(shape: ProgramShape(t), pinRoot: nil)
        XCTAssertEqual(try wide.testRun(packet: ProgramShapeTests.flood().frame).action, XDPAction.drop)
    }

    /// The swap: a replacement on the same maps keeps the tables and counters, runs on the
    /// interface in place of the old program, and the pin names it. Cut short after the pin
    /// (a process killed there), the interface still runs the old program whole, and the next
    /// opener finishes the swap.
    func testReplacementKeepsCountersPinAndAttachment() throws {
        try Privileged.skipUnlessPrivileged()
        let fs = try TempBpffs()
        let root = fs.path + "/ebpf-iptables"
        let ns = try NamedNamespace("ebpt-shape-\(getpid())")
        try ns.ip("link add veth0 type veth peer name veth1")
        try ns.ip("link set veth0 up")
        try ns.ip("link set veth1 up")
        try Privileged.inNamespace(ns.name) {
            let wl = ProgramShapeTests.whitelist()
            let flood = ProgramShapeTests.flood().frame
            let old = try Dataplane.load()
            try old.write(wl, generation: 0)
            try old.activate(generation: 0)
            try old.setFlags(.allDestinations)
            try old.pin(at: root)
            try old.attach(interface: "veth0")
            XCTAssertEqual(try old.testRun(packet: flood).action, XDPAction.drop)
            XCTAssertEqual(try old.shape(), .full)

            try old.syncLocalRoutes()
            let copied = try old.localRoutesState()
            XCTAssertTrue(copied.valid)
            let new = try old.replaced(shape: ProgramShape(wl), pinRoot: root)
            // The replace moves rt_genid: the copy of table 255 taken before must be taken
            // again, or addrtype answers MAYBE until the next write (XDP decides less).
            let now = try LocalRoutes.generation()
            let retaken = try new.localRoutesState()
            XCTAssertTrue(retaken.valid)
            XCTAssertEqual([retaken.rtGenid, retaken.fibSeq], [now.0, now.1], "the copy is current after the swap (taken at \(copied))")
            XCTAssertNotEqual(new.programID, old.programID)
            XCTAssertEqual(try Dataplane.attached(interface: "veth0")?.programID, new.programID, "swapped on the interface")
            XCTAssertEqual(Dataplane.pinnedProgramID(at: root), new.programID, "the pin names the replacement")
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/eipt_xdp_next"))
            XCTAssertEqual(try new.shape(), ProgramShape(wl))
            XCTAssertEqual(try new.counters(generation: 0).last?.packets, 1, "the policy's count carried over")
            XCTAssertEqual(try new.testRun(packet: flood).action, XDPAction.drop)
            XCTAssertEqual(try old.counters(generation: 0).last?.packets, 2, "one counter map for both programs")

            // Killed between the pin and the swap: the old program keeps running, whole.
            setenv("EBPF_IPTABLES_TEST_STOP_AFTER_PIN", "1", 1)
            defer { unsetenv("EBPF_IPTABLES_TEST_STOP_AFTER_PIN") }
            do {
                _ = try new.replaced(shape: .full, pinRoot: root)
                XCTFail("the test hook did not stop the replacement after its pin")
            } catch {
                XCTAssertTrue("\(error)".contains("stopped after the pin"), "\(error)")
            }
            unsetenv("EBPF_IPTABLES_TEST_STOP_AFTER_PIN")
            XCTAssertEqual(try Dataplane.attached(interface: "veth0")?.programID, new.programID, "the running one stays")
            let pinned = try Dataplane.open(pinnedAt: root)
            XCTAssertNotEqual(pinned.programID, new.programID)
            XCTAssertEqual(try pinned.shape(), .full)
            XCTAssertEqual(try pinned.adoptAttached(interface: "veth0"), true)
            XCTAssertEqual(try Dataplane.attached(interface: "veth0")?.programID, pinned.programID)
            XCTAssertEqual(try pinned.adoptAttached(interface: "veth0"), false, "already the pinned one")
            XCTAssertEqual(try pinned.testRun(packet: flood).action, XDPAction.drop)
            XCTAssertEqual(try pinned.counters(generation: 0).last?.packets, 3)
            try Dataplane.detach(interface: "veth0")
            try Dataplane.unpin(at: root)
        }
    }
}
