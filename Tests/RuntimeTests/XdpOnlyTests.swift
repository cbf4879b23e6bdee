import Compiler
import IptParse
@testable import Runtime
import XCTest

/// --xdp-only over the fakes: filter INPUT lives in our state and XDP decides it alone; the
/// kernel keeps every other chain and an empty INPUT; edits of INPUT go through our engine.
final class XdpOnlyTests: XCTestCase {
    static let rules = """
        *filter
        :INPUT DROP [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :SSH - [0:0]
        -A INPUT -p tcp -m tcp --dport 22 -j SSH
        -A INPUT -p udp -m udp --dport 5060 -j ACCEPT
        -A SSH -s 10.0.0.0/8 -j ACCEPT
        -A OUTPUT -p tcp -m tcp --dport 25 -j DROP
        COMMIT

        """

    func restored() throws -> World {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: Self.rules, source: "r")
        req.options = CompileOptions(xdpOnly: true)
        let r = try w.firewall.restore(req)
        XCTAssertEqual(r.status, 0, r.stderr)
        return w
    }

    func testInputLivesInXDPAndTheKernelKeepsTheRest() throws {
        let w = try restored()
        let input = try XCTUnwrap(w.kernel.ruleset.table("filter")?.chain("INPUT"))
        XCTAssertEqual(input.rules, [], "the kernel's INPUT is empty")
        XCTAssertEqual(input.policy, "ACCEPT")
        XCTAssertEqual(w.kernel.ruleset.table("filter")?.chain("OUTPUT")?.rules.count, 1, "other chains stay in the kernel")
        XCTAssertTrue(w.xdp.generations[Int(w.xdp.live)]?.xdpOnly ?? false)
        // XDP decides alone: a packet to 5060 is accepted, to 80 dropped, by XDP.
        let sip = PacketFacts(source: World.address("192.0.2.1"), destination: 1, proto: 17, ports: .init(source: 1, destination: 5060))
        let web = PacketFacts(source: World.address("192.0.2.1"), destination: 1, proto: 6, ports: .init(source: 1, destination: 80), tcpFlags: 2)
        XCTAssertFalse(w.xdp.drops(sip))
        XCTAssertTrue(w.xdp.drops(web))
        // What the user sees is the ruleset as written.
        let saved = try w.firewall.save(family: .ipv4, counters: false, table: nil)
        XCTAssertTrue(saved.stdout.contains(":INPUT DROP"), saved.stdout)
        XCTAssertTrue(saved.stdout.contains("-A INPUT -p udp -m udp --dport 5060 -j ACCEPT"), saved.stdout)
    }

    func testInputEditsGoThroughOurEngineAndMustCompileWhole() throws {
        let w = try restored()
        var r = try w.firewall.iptables(["-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"], family: .ipv4)
        XCTAssertEqual(r.status, 0, r.stderr)
        let web = PacketFacts(source: World.address("192.0.2.1"), destination: 1, proto: 6, ports: .init(source: 1, destination: 80), tcpFlags: 2)
        XCTAssertFalse(w.xdp.drops(web), "the new rule decides in XDP")
        XCTAssertEqual(w.kernel.ruleset.table("filter")?.chain("INPUT")?.rules, [], "and never reaches the kernel's INPUT")
        r = try w.firewall.iptables(["-S", "INPUT"], family: .ipv4)
        XCTAssertEqual(r.stdout, "-P INPUT DROP\n-A INPUT -p tcp -m tcp --dport 22 -j SSH\n-A INPUT -p udp -m udp --dport 5060 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n")
        // A rule XDP cannot decide (packet marks do not exist at XDP time) is refused, with
        // nothing applied.
        r = try w.firewall.iptables(["-I", "INPUT", "1", "-m", "mark", "--mark", "0x1", "-j", "ACCEPT"], family: .ipv4)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--xdp-only"), r.stderr)
        XCTAssertEqual(try w.firewall.iptables(["-S", "INPUT"], family: .ipv4).stdout.split(separator: "\n").count, 4)
        // iptables' own messages for iptables' own refusals.
        r = try w.firewall.iptables(["-D", "INPUT", "9"], family: .ipv4)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "iptables: Index of deletion too big.\n")
        // Other chains go to the kernel.
        r = try w.firewall.iptables(["-A", "SSH", "-s", "192.0.2.0/24", "-j", "ACCEPT"], family: .ipv4)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(w.kernel.ruleset.table("filter")?.chain("SSH")?.rules.count, 2)
        let ssh = PacketFacts(source: World.address("192.0.2.7"), destination: 1, proto: 6, ports: .init(source: 1, destination: 22), tcpFlags: 2)
        XCTAssertFalse(w.xdp.drops(ssh), "XDP inlines the kernel's SSH chain")
    }

    func testDetachPutsInputBackFirst() throws {
        let w = try restored()
        let r = try w.firewall.detach(interface: "eth0")
        XCTAssertEqual(r.status, 0, r.stderr)
        let input = try XCTUnwrap(w.kernel.ruleset.table("filter")?.chain("INPUT"))
        XCTAssertEqual(input.policy, "DROP")
        XCTAssertEqual(input.rules.count, 2)
        XCTAssertFalse(w.firewall.store.exists(w.firewall.store.paths.xdpOnlyInputFile))
    }

    func testRulesetsThatDoNotCompileWholeAreRefused() throws {
        let w = try World()
        _ = try w.firewall.attach(interface: "eth0", mode: "native")
        var req = RestoreRequest(family: .ipv4, text: "*filter\n:INPUT DROP [0:0]\n-A INPUT -m mark --mark 0x1 -j ACCEPT\nCOMMIT\n", source: "r")
        req.options = CompileOptions(xdpOnly: true)
        let r = try w.firewall.restore(req)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("nothing was applied"), r.stderr)
        XCTAssertNil(w.kernel.ruleset.table("filter"), "nothing reached the kernel")
    }
}
