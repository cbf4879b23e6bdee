import Compiler
import IptParse
import Loader
@testable import Runtime
import XCTest

/// The replies XDP sends for REJECT show in the kernel tools' counters where the kernel
/// would have counted its own reply: on the OUTPUT/POSTROUTING rules it matches and the
/// policies it falls off (Compiler/ReplyPath.swift names them), across generation rewrites
/// and `-Z`, as the kernel's counters behave.
final class ReplyCountersTests: XCTestCase {
    static let base = """
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :FW-OUTPUT - [0:0]
        -A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with tcp-reset
        -A OUTPUT -j FW-OUTPUT
        COMMIT

        """

    func testRepliesCountOnTheirPlacesAcrossRewritesAndZero() throws {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: Self.base, source: "base.rules")
        req.options = CompileOptions()
        let r = try w.firewall.restore(req)
        XCTAssertEqual(r.status, 0, r.stderr)
        func rejectPosition() throws -> UInt32 {
            let t = w.xdp.liveTables
            return UInt32(try XCTUnwrap(t.verdicts.firstIndex(of: .reject), "the REJECT is answered from XDP"))
        }
        func save() throws -> String { try w.firewall.save(family: .ipv4, counters: true, table: nil).stdout }

        w.xdp.replies[Int(w.xdp.live)][try rejectPosition()] = RuleCounter(packets: 3, bytes: 120)
        var s = try save()
        XCTAssertTrue(s.contains("[3:120] -A OUTPUT -j FW-OUTPUT"), s)
        XCTAssertTrue(s.contains(":OUTPUT ACCEPT [3:120]"), "filter and mangle OUTPUT policies: \(s)")
        XCTAssertTrue(s.contains(":POSTROUTING ACCEPT [3:120]"), s)
        XCTAssertFalse(s.contains(":INPUT ACCEPT [3:120]"), s)

        // A rewrite retires the old generation's replies into the rules' totals.
        let e = try w.firewall.iptables(["-I", "INPUT", "1", "-s", "192.0.2.2", "-j", "ACCEPT"], family: .ipv4)
        XCTAssertEqual(e.status, 0, e.stderr)
        w.xdp.replies[Int(w.xdp.live)][try rejectPosition()] = RuleCounter(packets: 2, bytes: 80)
        s = try save()
        XCTAssertTrue(s.contains("[5:200] -A OUTPUT -j FW-OUTPUT"), s)
        XCTAssertTrue(s.contains(":POSTROUTING ACCEPT [5:200]"), s)

        // -Z of filter OUTPUT: its rule and policy go to zero, mangle's keep theirs.
        let z = try w.firewall.iptables(["-Z", "OUTPUT"], family: .ipv4)
        XCTAssertEqual(z.status, 0, z.stderr)
        s = try save()
        XCTAssertTrue(s.contains("[0:0] -A OUTPUT -j FW-OUTPUT"), s)
        XCTAssertTrue(s.contains(":POSTROUTING ACCEPT [5:200]"), s)
        let mangleOutput = s.components(separatedBy: "*mangle").last?.components(separatedBy: "COMMIT").first ?? ""
        XCTAssertTrue(mangleOutput.contains(":OUTPUT ACCEPT [5:200]"), s)
        let filter = s.components(separatedBy: "*filter").last?.components(separatedBy: "COMMIT").first ?? ""
        XCTAssertTrue(filter.contains(":OUTPUT ACCEPT [0:0]"), s)
    }

    /// iptables-nft creates only the chains a restore names: a reply passes (and is counted
    /// on) no chain the kernel does not have, though iptables-save prints one.
    func testChainsTheKernelLacksCountNothing() throws {
        let w = try World()
        w.kernel.builtin = ["filter\tINPUT", "filter\tOUTPUT"] // no mangle chain
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: Self.base, source: "base.rules")
        req.options = CompileOptions()
        let r = try w.firewall.restore(req)
        XCTAssertEqual(r.status, 0, r.stderr)
        let pos = UInt32(try XCTUnwrap(w.xdp.liveTables.verdicts.firstIndex(of: .reject)))
        w.xdp.replies[Int(w.xdp.live)][pos] = RuleCounter(packets: 3, bytes: 120)
        let s = try w.firewall.save(family: .ipv4, counters: true, table: nil).stdout
        XCTAssertTrue(s.contains("[3:120] -A OUTPUT -j FW-OUTPUT"), s)
        XCTAssertFalse(s.contains(":POSTROUTING ACCEPT [3:120]"), s)
        let mangle = s.components(separatedBy: "*mangle").last?.components(separatedBy: "COMMIT").first ?? ""
        XCTAssertTrue(mangle.contains(":OUTPUT ACCEPT [0:0]"), s)
        let filter = s.components(separatedBy: "*filter").last?.components(separatedBy: "COMMIT").first ?? ""
        XCTAssertTrue(filter.contains(":OUTPUT ACCEPT [3:120]"), s)

    }
}
