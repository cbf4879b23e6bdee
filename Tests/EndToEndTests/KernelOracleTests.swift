import Foundation
import TestSupport
import XCTest

/// The kernel is the oracle for the canonical printer: each ruleset is restored
/// with the real iptables-restore in a throwaway namespace and read back with
/// iptables-save; `ebpf-iptables format` of the original file must print the same.
final class KernelOracleTests: XCTestCase {
    struct Outcome {
        var file: String
        var kernelAccepted: Bool
        var agree: Bool
        var detail: String
    }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping kernel oracle: \(why)")
            throw XCTSkip(why)
        }
    }

    static func rulesetFiles() -> [URL] {
        var files = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
        if let corpus = Fixtures.corpus {
            files += Fixtures.files(in: corpus, suffix: ".rules")
        } else {
            print("../shared/corpus is absent: checking fixtures/ only")
        }
        return files
    }

    /// iptables-save output without its comment lines and with counters zeroed.
    static func normalise(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("#") }
            .map { $0.replacingOccurrences(of: "\\[[0-9]+:[0-9]+\\]", with: "[0:0]", options: .regularExpression) }
            .joined(separator: "\n")
    }

    /// The line iptables-restore names in "Error occurred at line: N" or "line N failed".
    static func errorLine(_ s: String) -> Int? {
        for pattern in ["line: [0-9]+", "line [0-9]+"] {
            if let r = s.range(of: pattern, options: .regularExpression) {
                return Int(s[r].filter(\.isNumber))
            }
        }
        return nil
    }

    func check(_ url: URL) throws -> Outcome {
        let v6 = url.lastPathComponent.hasSuffix(".v6.rules")
        let text = Fixtures.text(url)
        let ns = try NetworkNamespace(prefix: "ebpt-oracle")
        ns.createSets(referencedBy: text, v6: v6)
        let kernel = ns.run([v6 ? "ip6tables-restore" : "iptables-restore"], stdin: text)
        let ours = Run.run([Run.binary, "format"] + (v6 ? ["-6"] : []) + [url.path])
        let name = url.lastPathComponent
        guard kernel.status == 0 else {
            // Rejected by the kernel: we must reject it too, at the same line.
            let kLine = Self.errorLine(kernel.stderr)
            let ourLine = ours.stderr.split(separator: "\n").first.flatMap { l -> Int? in
                let parts = l.split(separator: ":")
                return parts.count > 2 ? Int(parts[1]) : nil
            }
            let agree = ours.status == 2 && (kLine == nil || kLine == ourLine)
            return Outcome(file: name, kernelAccepted: false, agree: agree,
                           detail: "kernel rejects at line \(kLine.map(String.init) ?? "?"); we exit \(ours.status) at line \(ourLine.map(String.init) ?? "?")\n\(ours.stderr)")
        }
        let saved = ns.run([v6 ? "ip6tables-save" : "iptables-save"])
        let want = Self.normalise(saved.stdout)
        let got = Self.normalise(ours.stdout)
        var detail = ""
        if want != got {
            let w = want.split(separator: "\n"), g = got.split(separator: "\n")
            let firstDiff = Array(zip(w, g)).firstIndex { $0.0 != $0.1 } ?? min(w.count, g.count)
            detail = "first difference at output line \(firstDiff + 1):\n kernel: \(firstDiff < w.count ? w[firstDiff] : "<end>")\n ours:   \(firstDiff < g.count ? g[firstDiff] : "<end>")\n\(ours.stderr)"
        }
        return Outcome(file: name, kernelAccepted: true, agree: ours.status == 0 && want == got, detail: detail)
    }

    func testCanonicalPrintEqualsKernelIptablesSave() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Run.binary), "build ebpf-iptables first: \(Run.binary)")
        var outcomes: [Outcome] = []
        for url in Self.rulesetFiles() {
            let o = try check(url)
            outcomes.append(o)
            XCTAssertTrue(o.agree, "\(o.file): \(o.detail)")
        }
        let accepted = outcomes.filter(\.kernelAccepted)
        let rejected = outcomes.filter { !$0.kernelAccepted }
        print("kernel oracle: \(outcomes.filter(\.agree).count)/\(outcomes.count) files agree "
              + "(\(accepted.filter(\.agree).count)/\(accepted.count) printed identically, "
              + "\(rejected.filter(\.agree).count)/\(rejected.count) rejected by both at the same line)")
        XCTAssertGreaterThanOrEqual(outcomes.count, 3)
    }

    /// Each malformed case is refused by the kernel as well, so our diagnostics never
    /// reject what iptables takes; cases tagged [stricter] must really be taken by it.
    func testMalformedCasesAreRejectedByTheKernelToo() throws {
        let ns = try NetworkNamespace(prefix: "ebpt-bad")
        ns.run(["ipset", "create", "sip-peers", "hash:ip"])
        ns.run(["ipset", "create", "sip-carriers", "hash:net"])
        var agreeing = 0
        let cases = MalformedCase.load()
        for c in cases {
            let r = ns.run(["iptables-restore"], stdin: c.text)
            if c.stricterBecause != nil {
                XCTAssertEqual(r.status, 0, "\(c.title): tagged [stricter] but the kernel rejects it too: \(r.stderr)")
            } else {
                XCTAssertNotEqual(r.status, 0, "\(c.title): the kernel accepts what we reject")
            }
            if (r.status == 0) == (c.stricterBecause != nil) { agreeing += 1 }
        }
        print("malformed cases vs kernel: \(agreeing)/\(cases.count) as expected (\(cases.filter { $0.stricterBecause != nil }.count) stricter by design)")
    }
}
