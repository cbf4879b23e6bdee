import Foundation
import TestSupport
import XCTest

/// A ruleset with udp port ranges written high:low (`--dport 60000:29`), which iptables 1.8.9
/// and iptables-restore take for -p udp (a campus firewall of 4,140 rules holds one): our
/// `format`, `restore --test`, `restore` and `migrate --verify` take it as the kernel's tools
/// do, print what the kernel's iptables-save prints, and XDP decides every probe as the
/// kernel does (the reversed ranges match no packet; negated, every udp packet).
final class ReversedPortRangeCLITests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping reversed port ranges: \(why)")
            throw XCTSkip(why)
        }
    }

    let fixture = Fixtures.fixtures.appendingPathComponent("values/reversed-udp-range.rules")

    func testTakenPrintedAndDecidedAsTheKernelDoes() throws {
        let ref = try NetworkNamespace(prefix: "ebpt-rev-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-rev")
        let text = Fixtures.text(fixture)
        let strip = FirewallUnderTest.withoutComments

        // --test: nothing said, nothing applied, as iptables-restore --test.
        let refTest = ref.run(["iptables-restore", "--test"], stdin: text)
        let ourTest = fw.ours("ebpf-iptables-restore", ["--test"], stdin: text)
        XCTAssertEqual(refTest.status, 0, refTest.stderr)
        XCTAssertEqual(ourTest.status, refTest.status, ourTest.stderr)
        XCTAssertEqual(ourTest.stderr, refTest.stderr)
        XCTAssertEqual(ourTest.stdout, refTest.stdout)

        // restore: the kernel layer holds what iptables-restore makes of it; ours prints the same.
        XCTAssertEqual(ref.run(["iptables-restore"], stdin: text).status, 0)
        let restored = fw.ours("ebpf-iptables-restore", [], stdin: text)
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(restored.stderr, "")
        let refSave = strip(ref.run(["iptables-save"]).stdout)
        XCTAssertTrue(refSave.contains("--dport 60000:29"), refSave)
        XCTAssertEqual(strip(fw.kernel(["iptables-save"]).stdout), refSave)
        XCTAssertEqual(strip(fw.ours("ebpf-iptables-save", []).stdout), refSave)
        XCTAssertEqual(fw.events, "", "no prediction the kernel contradicted")

        // format: the kernel's iptables-save form of the file (filter table).
        let formatted = Run.run([Run.binary, "format", fixture.path])
        XCTAssertEqual(formatted.status, 0, formatted.stderr)
        XCTAssertEqual(rules(formatted.stdout), rules(refSave))

        // migrate --verify: XDP and the kernel answer every probe alike; the reversed
        // ranges never match (decided in XDP, not left to the kernel).
        let m = Run.run([Run.binary, "migrate", "--verify", "--format", "json", "--probes", "300", "--interface", "eth0", fixture.path])
        let obj = (try? JSONSerialization.jsonObject(with: Data(m.stdout.utf8))) as? [String: Any]
        let v = obj?["verification"] as? [String: Any]
        XCTAssertEqual(v?["probes"] as? Int, 300, m.stderr)
        XCTAssertEqual(v?["agreements"] as? Int, 300, "\(v?["disagreements"] ?? "")")
        let plain = Run.run([Run.binary, "migrate", "--interface", "eth0", fixture.path]).stdout
        for line in [11, 12, 19] {
            XCTAssertTrue(plain.contains("rule \(line == 19 ? 3 : line - 8) (line \(line)) never matches"), "line \(line):\n\(plain)")
        }
    }

    func rules(_ save: String) -> [String] { save.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A ") } }
}
