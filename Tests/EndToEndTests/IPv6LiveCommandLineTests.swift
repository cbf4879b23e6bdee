import Foundation
import TestSupport
import XCTest

/// The command line drives XDP's IPv6 tables: `ebpf-ip6tables-restore`, `ebpf-ipset` on an
/// inet6 set and `ebpf-ip6tables` edits reach the attached program, and `save -6 -c` adds
/// what XDP dropped to the kernel's counters. Two namespaces joined by a veth; pings over IPv6.
final class IPv6LiveCommandLineTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping IPv6 live command line: \(why)")
            throw XCTSkip(why)
        }
    }

    func testIPv6ChangesReachXDP() throws {
        let gen = try NetworkNamespace(prefix: "ebpt-live6-gen")
        let fw = try NetworkNamespace(prefix: "ebpt-live6-fw")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-live6-\(getpid())")
        let bpffs = work.appendingPathComponent("bpffs")
        let bin = work.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bpffs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("ebpf-ip6tables").path, withDestinationPath: Run.binary)
        XCTAssertEqual(Run.run(["mount", "-t", "bpf", "bpf", bpffs.path]).status, 0)
        let env = ["EBPF_IPTABLES_BPFFS": bpffs.appendingPathComponent("pins").path,
                   "EBPF_IPTABLES_STATE": work.appendingPathComponent("state").path,
                   "EBPF_IPTABLES_CONFIG": work.appendingPathComponent("config").path]
        func ours(_ args: [String], as name: String? = nil, stdin: String? = nil) -> RunResult {
            Run.run(["ip", "netns", "exec", fw.name, name.map { bin.appendingPathComponent($0).path } ?? Run.binary] + args, stdin: stdin, env: env)
        }
        defer {
            _ = ours(["detach", "fw0"])
            Run.run(["umount", bpffs.path])
            try? FileManager.default.removeItem(at: work)
        }
        for cmd in [["ip", "link", "add", "gen0", "netns", gen.name, "type", "veth", "peer", "name", "fw0", "netns", fw.name],
                    ["ip", "-n", gen.name, "addr", "add", "2001:db8:ff::2/64", "dev", "gen0", "nodad"],
                    ["ip", "-n", fw.name, "addr", "add", "2001:db8:ff::1/64", "dev", "fw0", "nodad"],
                    ["ip", "-n", gen.name, "link", "set", "gen0", "up"],
                    ["ip", "-n", fw.name, "link", "set", "fw0", "up"]] {
            XCTAssertEqual(Run.run(cmd).status, 0, cmd.joined(separator: " "))
        }
        XCTAssertEqual(ours(["attach", "fw0", "--mode", "generic"]).status, 0)
        var r = ours(["ipset", "create", "pingers6", "hash:net", "family", "inet6"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m set --match-set pingers6 src -j ACCEPT
            -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP
            COMMIT

            """
        r = ours(["restore", "-6"], stdin: rules)
        XCTAssertEqual(r.status, 0, r.stderr)
        let ping = ["ip", "netns", "exec", gen.name, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "2001:db8:ff::1"]
        XCTAssertNotEqual(Run.run(ping).status, 0, "echo requests dropped")
        // XDP dropped them (the kernel's own counter stays 0), and save -c shows them.
        let kernelSave = fw.run(["ip6tables-save", "-c"]).stdout
        XCTAssertTrue(kernelSave.contains("[0:0] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP"), kernelSave)
        let save = ours(["save", "-6", "-c"]).stdout
        XCTAssertTrue(save.contains("[2:208] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP"), save)
        let rulesV = ours(["-S", "INPUT", "-v"], as: "ebpf-ip6tables").stdout
        XCTAssertTrue(rulesV.contains("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -c 2 208 -j DROP"), rulesV)
        let listV = ours(["-L", "INPUT", "-v", "-n", "-x"], as: "ebpf-ip6tables").stdout
        XCTAssertTrue(listV.split(separator: "\n").contains { $0.contains("DROP") && $0.hasPrefix("       2      208") }, listV)
        // A member added to the whitelist reaches XDP: the pings pass.
        r = ours(["ipset", "add", "pingers6", "2001:db8:ff::/64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Run.run(ping).status, 0, "whitelisted: pings pass")
        // An ip6tables edit reaches XDP: a DROP in front.
        r = ours(["-I", "INPUT", "1", "-s", "2001:db8:ff::2", "-j", "DROP"], as: "ebpf-ip6tables")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotEqual(Run.run(ping).status, 0, "dropped again after -I")
        // The echo requests were XDP's: its count on the rule is the kernel's plus at least two.
        func packets(_ text: String, _ rule: String) -> UInt64? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasSuffix(rule) }),
                  let close = line.firstIndex(of: "]") else { return nil }
            return line[line.index(after: line.startIndex)..<close].split(separator: ":").first.flatMap { UInt64($0) }
        }
        let rule = "-A INPUT -s 2001:db8:ff::2/128 -j DROP"
        let kernel = packets(fw.run(["ip6tables-save", "-c"]).stdout, rule), merged = packets(ours(["save", "-6", "-c"]).stdout, rule)
        XCTAssertNotNil(kernel)
        XCTAssertGreaterThanOrEqual((merged ?? 0), (kernel ?? 0) + 2, "XDP dropped the echo requests at the new rule")
        // A set of single addresses (the program's hash, not its trie) follows one live add and del.
        r = ours(["ipset", "create", "hosts6", "hash:ip", "family", "inet6"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = ours(["-I", "INPUT", "1", "-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", "128", "-m", "set", "--match-set", "hosts6", "src",
                  "-j", "ACCEPT"], as: "ebpf-ip6tables")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotEqual(Run.run(ping).status, 0, "hosts6 empty: still dropped")
        r = ours(["ipset", "add", "hosts6", "2001:db8:ff::2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(Run.run(ping).status, 0, "2001:db8:ff::2 in hosts6: pings pass")
        r = ours(["ipset", "del", "hosts6", "2001:db8:ff::2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let kernel0 = packets(fw.run(["ip6tables-save", "-c"]).stdout, rule) ?? 0, merged0 = packets(ours(["save", "-6", "-c"]).stdout, rule) ?? 0
        XCTAssertNotEqual(Run.run(ping).status, 0, "deleted from hosts6: dropped again")
        let kernel1 = packets(fw.run(["ip6tables-save", "-c"]).stdout, rule) ?? 0, merged1 = packets(ours(["save", "-6", "-c"]).stdout, rule) ?? 0
        XCTAssertGreaterThanOrEqual(merged1 - merged0, kernel1 - kernel0 + 2, "XDP (not the kernel) dropped them after the del")
        print("IPv6 live command line: restore, ipset add and -I reached XDP's IPv6 tables")
    }
}
