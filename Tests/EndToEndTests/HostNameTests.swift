import Foundation
import TestSupport
import XCTest

/// Host names with several addresses, as iptables resolves them: every command runs in a
/// mount namespace of its own whose /etc/hosts is a private file bind-mounted over the
/// machine's (`unshare -m`: the machine's file is never touched), once with the real
/// iptables in a reference network namespace and once with ours, XDP attached. stdout,
/// stderr and status must be the kernel's; the kernel layers must end equal, and the events
/// log empty: our prediction of each edit (IptParse resolving the names itself) is what
/// the kernel's iptables then did, rule for rule and in its order.
final class HostNameTests: XCTestCase {
    static let hosts = """
        127.0.0.1 localhost
        198.18.7.1 multi
        198.18.7.2 multi
        198.18.7.1 multi again
        198.18.8.9 other
        2001:db8::7 multi six
        ::1 localhost ip6-localhost

        """

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if Run.run(["unshare", "-m", "--", "true"]).status != 0 { throw XCTSkip("unshare -m is not available") }
    }

    func testNamesWithSeveralAddressesAsIptablesResolvesThem() throws {
        let ref = try NetworkNamespace(prefix: "ebpt-host-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-host")
        XCTAssertEqual(fw.attachResult?.status, 0, "attach: \(fw.attachResult?.stderr ?? "")")
        for name in ["iptables-restore", "ebpf-ip6tables"] {
            try FileManager.default.createSymbolicLink(atPath: fw.bin + "/" + name, withDestinationPath: Run.binary)
        }
        let hostsFile = fw.work.appendingPathComponent("hosts").path
        try Self.hosts.write(toFile: hostsFile, atomically: true, encoding: .utf8)
        /// `argv` in a private mount namespace where /etc/hosts is our file.
        func privately(_ argv: [String]) -> [String] {
            ["unshare", "-m", "--", "sh", "-c", "mount --bind \"$0\" /etc/hosts && exec \"$@\"", hostsFile] + argv
        }
        func reference(_ line: String) -> RunResult {
            Run.run(privately(["ip", "netns", "exec", ref.name, "sh", "-c", line]))
        }
        func ours(_ line: String) -> RunResult {
            Run.run(privately(["ip", "netns", "exec", fw.ns.name, "sh", "-c", "PATH=\(FirewallUnderTest.quote(fw.bin)):$PATH; " + line]),
                    env: fw.env)
        }
        // The private file is really what both see.
        XCTAssertTrue(reference("getent hosts other").stdout.hasPrefix("198.18.8.9"), "the private /etc/hosts is not in use")

        let commands = [
            "iptables -A INPUT -s multi -j DROP",
            "iptables -A INPUT -s multi/24 -d other,localhost -p tcp --dport 22 -j ACCEPT",
            "iptables -I INPUT 2 -s other,multi -p udp -j ACCEPT",
            "iptables -C INPUT -s multi -j DROP",
            "iptables -C INPUT -s other -p udp -j ACCEPT",
            "iptables -R INPUT 1 -s multi -j DROP",
            "iptables -R INPUT 1 -s other -j DROP",
            "iptables -D INPUT -s multi -j DROP",
            "iptables -A INPUT ! -s multi -j DROP",
            "iptables -A INPUT ! -d other -j RETURN",
            "iptables -A INPUT -m conntrack --ctorigsrc multi -j ACCEPT",
            "iptables -A INPUT -m conntrack --ctorigsrc other/24 -j ACCEPT",
            "iptables -A INPUT -s six -j DROP",
            "iptables -A INPUT -s again/0 -j DROP",
            "iptables -A INPUT -s nothing.invalid -j DROP",
            "iptables -v -A INPUT -s multi -p tcp --dport 80 -j DROP",
            "iptables -S",
            "iptables -L INPUT",
            "iptables -L INPUT -n",
            "ip6tables -A INPUT -s multi -j DROP",
            "ip6tables -A INPUT -s localhost,six -d ip6-localhost -j ACCEPT",
            "ip6tables -A INPUT -s other -j DROP",
            "ip6tables -S",
            "printf '*filter\\n-A INPUT -s multi -d localhost -j DROP\\n-A FORWARD -d again -j DROP\\nCOMMIT\\n' | iptables-restore --noflush",
            "printf '*filter\\n-A INPUT -s nothing.invalid -j DROP\\nCOMMIT\\n' | iptables-restore --noflush",
            "iptables -S",
        ]
        var matched = 0
        var events = ""
        for line in commands {
            let k = reference(line)
            let o = ours(line.hasPrefix("iptables-restore") || line.contains("| iptables-restore") ? line : "ebpf-" + line)
            let now = fw.events
            XCTAssertEqual(now, events, "\(line) logged an event")
            events = now
            if k.status == o.status && k.stdout == o.stdout && k.stderr == o.stderr {
                matched += 1
            } else {
                XCTFail("\(line): status \(k.status) vs ours \(o.status)\n--- kernel\n\(k.stdout)\(k.stderr)--- ours\n\(o.stdout)\(o.stderr)")
            }
        }
        // Several rules came from one name: the test means something only if they did.
        let saved = FirewallUnderTest.withoutComments(ref.run(["iptables-save"]).stdout)
        XCTAssertGreaterThanOrEqual(saved.components(separatedBy: "-s 198.18.7.0/24 -d 127.0.0.1/32").count - 1, 3, saved)
        XCTAssertEqual(FirewallUnderTest.withoutComments(fw.kernel(["iptables-save"]).stdout), saved, "kernel layers")
        XCTAssertEqual(FirewallUnderTest.withoutComments(fw.kernel(["ip6tables-save"]).stdout),
                       FirewallUnderTest.withoutComments(ref.run(["ip6tables-save"]).stdout))
        XCTAssertEqual(FirewallUnderTest.withoutComments(ours("ebpf-iptables-save").stdout), saved, "ebpf-iptables-save")
        XCTAssertEqual(fw.events, "", "a prediction the kernel contradicted")

        // format reads names the same way: a file with names prints what the kernel made of it.
        let file = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s multi/24 -d other,localhost -j DROP\n-A INPUT -s link-local -j DROP\nCOMMIT\n"
        let fileAt = fw.work.appendingPathComponent("named.rules").path
        try file.write(toFile: fileAt, atomically: true, encoding: .utf8)
        let restored = reference("iptables-restore < \(FirewallUnderTest.quote(fileAt)) && iptables-save -t filter")
        let formatted = ours("ebpf-iptables format \(FirewallUnderTest.quote(fileAt))")
        XCTAssertEqual(formatted.status, 0, formatted.stderr)
        XCTAssertEqual(formatted.stdout, FirewallUnderTest.withoutComments(restored.stdout))
        print("host names: \(matched)/\(commands.count) commands matched the kernel's iptables")
    }
}
