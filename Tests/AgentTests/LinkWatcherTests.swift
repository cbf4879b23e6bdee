import Foundation
import TestSupport
import XCTest

/// The agent follows the machine: an interface that disappears and comes back gets the
/// program again with the running ruleset; addresses need nothing from user space.
final class LinkWatcherTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    static let sets = "create bad hash:ip family inet hashsize 1024 maxelem 65536\nadd bad 198.18.5.5\n"
    static let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set bad src -j DROP
        COMMIT

        """

    func serving(_ tag: String) throws -> RebootLab {
        let lab = try RebootLab(tag)
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let r = lab.ours(["restore", "--ipset", try lab.write(Self.sets, "sets"), try lab.write(Self.rules, "rules")], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(lab.ours(["save", "--persist"], alone: true).status, 0)
        try lab.startServeAndWait()
        return lab
    }

    func testAnInterfaceThatComesBackGetsTheProgramAndTheRunningRulesetAgain() throws {
        let lab = try serving("lw")
        defer { lab.close() }
        XCTAssertTrue(try lab.xdpDrops(try lab.sender(), from: labAddress("198.18.5.5")))
        // A member added while the agent runs (through it once the CLI forwards, else alone):
        // the running ruleset is what comes back, not only what was saved.
        XCTAssertEqual(lab.ours(["add", "bad", "198.18.5.7"], tool: "ebpf-ipset").status, 0)

        let from = lab.logSize
        XCTAssertEqual(lab.run(["ip", "link", "del", "rx0"]).status, 0)
        XCTAssertTrue(lab.waitForLog("rx0 disappeared", from: from, seconds: 10), lab.logText(from: from))
        let gone = Date()
        try lab.wire()
        XCTAssertTrue(lab.waitForLog("rx0 is back", from: from, seconds: 20), lab.logText(from: from))
        XCTAssertTrue(lab.logText(from: from).contains("re-attached with the running ruleset"), lab.logText(from: from))
        print("link watcher: re-attached \(String(format: "%.0f", Date().timeIntervalSince(gone) * 1000)) ms after the veth was created again")
        let status = lab.ours(["status"]).stdout
        XCTAssertTrue(status.hasPrefix("attached to rx0"), status)
        let s = try lab.sender()
        XCTAssertTrue(try lab.xdpDrops(s, from: labAddress("198.18.5.5")), "XDP drops again after the interface returned")
        XCTAssertTrue(try lab.xdpDrops(s, from: labAddress("198.18.5.7")), "XDP drops the member added before")
        XCTAssertFalse(try lab.xdpDrops(s, from: labAddress("198.18.6.1")))
        lab.kill(SIGTERM)
    }

    /// A program detached by hand from an interface that stays is not put back.
    func testADetachByHandIsNotUndone() throws {
        let lab = try serving("lwd")
        defer { lab.close() }
        let from = lab.logSize
        XCTAssertEqual(lab.run(["ip", "link", "set", "rx0", "xdp", "off"]).status, 0)
        XCTAssertEqual(lab.run(["ip", "link", "set", "rx0", "down"]).status, 0)
        XCTAssertEqual(lab.run(["ip", "link", "set", "rx0", "up"]).status, 0)
        usleep(500_000)
        XCTAssertFalse(lab.logText(from: from).contains("re-attached"), lab.logText(from: from))
        XCTAssertFalse(lab.run(["ip", "link", "show", "rx0"]).stdout.contains("xdp"))
        lab.kill(SIGTERM)
    }

    /// The XDP program keeps no list of local addresses (bpf_fib_lookup on the drop path):
    /// with forwarding on, a dropping rule's packet to an address that is routed elsewhere
    /// passes XDP (the kernel would forward it, FORWARD decides); once that address is made
    /// local, XDP drops it from the next packet on. No user space is involved.
    func testAnAddressAddedAfterAttachIsFollowed() throws {
        let lab = try serving("lwa")
        defer { lab.close() }
        for cmd in [["sysctl", "-qw", "net.ipv4.conf.all.forwarding=1"], ["sysctl", "-qw", "net.ipv4.conf.rx0.forwarding=1"],
                    ["ip", "route", "add", "198.18.77.0/24", "via", "198.18.0.1", "dev", "rx0"]] {
            let r = lab.run(cmd)
            XCTAssertEqual(r.status, 0, "\(cmd): \(r.stderr)")
        }
        let s = try lab.sender()
        func probe() throws -> Bool {
            let before = lab.xdpDropped()
            var p = Probe(source: labAddress("198.18.5.5"), destination: labAddress("198.18.77.5"), proto: 17)
            p.destinationPort = 9
            try s.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: RebootLab.macBytes, ipID: 7))
            let until = Date().addingTimeInterval(1)
            while Date() < until {
                if lab.xdpDropped() > before { return true }
                usleep(20_000)
            }
            return false
        }
        XCTAssertFalse(try probe(), "routed elsewhere: XDP leaves it to the kernel")
        XCTAssertEqual(lab.run(["ip", "addr", "add", "198.18.77.5/32", "dev", "lo"]).status, 0)
        XCTAssertTrue(try probe(), "now local: XDP drops it")
        XCTAssertEqual(lab.run(["ip", "addr", "del", "198.18.77.5/32", "dev", "lo"]).status, 0)
        XCTAssertFalse(try probe(), "no longer local")
        lab.kill(SIGTERM)
    }
}
