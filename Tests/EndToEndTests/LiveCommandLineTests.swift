import Foundation
import TestSupport
import XCTest

/// The command line on an attached program: edits reach XDP at once (a ping that passed is
/// dropped after `-I`), and `-L -v`, `-S -v` and `save -c` show the data plane's counters
/// added to the kernel's, on the rule that decided and on the jump that led there.
/// Two namespaces joined by a veth; our own bpffs mount. (CounterRenderingTests compares
/// the same renderings with a reference namespace's.)
final class LiveCommandLineTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping live command line: \(why)")
            throw XCTSkip(why)
        }
    }

    func testEditsReachXDPAndCountersShowOnTheDecidingRule() throws {
        let gen = try NetworkNamespace(prefix: "ebpt-live-gen")
        let fw = try NetworkNamespace(prefix: "ebpt-live-fw")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-live-\(getpid())")
        let bpffs = work.appendingPathComponent("bpffs")
        try FileManager.default.createDirectory(at: bpffs, withIntermediateDirectories: true)
        XCTAssertEqual(Run.run(["mount", "-t", "bpf", "bpf", bpffs.path]).status, 0)
        let env = ["EBPF_IPTABLES_BPFFS": bpffs.appendingPathComponent("pins").path,
                   "EBPF_IPTABLES_STATE": work.appendingPathComponent("state").path]
        func ours(_ args: [String]) -> RunResult {
            Run.run(["ip", "netns", "exec", fw.name, Run.binary] + args, env: env)
        }
        defer {
            _ = ours(["detach", "fw0"])
            Run.run(["umount", bpffs.path])
            try? FileManager.default.removeItem(at: work)
        }
        for cmd in [["ip", "link", "add", "gen0", "netns", gen.name, "type", "veth", "peer", "name", "fw0", "netns", fw.name],
                    ["ip", "-n", gen.name, "addr", "add", "198.18.0.1/24", "dev", "gen0"],
                    ["ip", "-n", fw.name, "addr", "add", "198.18.0.2/24", "dev", "fw0"],
                    ["ip", "-n", gen.name, "link", "set", "gen0", "up"],
                    ["ip", "-n", fw.name, "link", "set", "fw0", "up"]] {
            XCTAssertEqual(Run.run(cmd).status, 0, cmd.joined(separator: " "))
        }
        XCTAssertEqual(ours(["attach", "fw0", "--mode", "generic"]).status, 0)
        for edit in [["-N", "pingers"], ["-A", "INPUT", "-p", "icmp", "-j", "pingers"],
                     ["-A", "pingers", "-s", "198.18.0.1", "-p", "icmp", "--icmp-type", "echo-request", "-j", "ACCEPT"],
                     ["-A", "INPUT", "-p", "icmp", "-j", "DROP"]] {
            let r = ours(edit)
            XCTAssertEqual(r.status, 0, "\(edit): \(r.stderr)")
        }
        let ping = ["ip", "netns", "exec", gen.name, "ping", "-c", "2", "-i", "0.2", "-W", "1", "198.18.0.2"]
        XCTAssertEqual(Run.run(ping).status, 0, "pings pass while the ACCEPT rule decides")
        XCTAssertEqual(ours(["-I", "pingers", "1", "-s", "198.18.0.1", "-p", "icmp", "-j", "DROP"]).status, 0)
        XCTAssertNotEqual(Run.run(ping).status, 0, "pings are dropped once the live -I is in")

        // The new generation counts from zero: the two dropped echo requests, 84 bytes each.
        let list = ours(["-L", "pingers", "-n", "-v", "-x"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("\n       2      168 DROP       1    --  *      *       198.18.0.1"), list.stdout)
        XCTAssertTrue(ours(["-S", "pingers", "-v"]).stdout.contains("-A pingers -s 198.18.0.1/32 -p icmp -c 2 168 -j DROP\n"))
        let save = ours(["save", "-c"]).stdout
        XCTAssertTrue(save.contains("[2:168] -A pingers -s 198.18.0.1/32 -p icmp -j DROP\n"), save)
        // As in the kernel alone: the jump counts every echo request that went through it, the
        // two the kernel accepted behind it and the two XDP dropped behind it.
        XCTAssertTrue(save.contains("[4:336] -A INPUT -p icmp -j pingers\n"), save)
        XCTAssertTrue(save.contains("[2:168] -A pingers -s 198.18.0.1/32 -p icmp -m icmp --icmp-type 8 -j ACCEPT\n"), save)
        print("live command line: edits reached XDP; counters 2/168 on the deciding rule, 4/336 on the jump to it")
    }
}
