import Foundation
import IptParse
import TestSupport
import XCTest

/// A sample of the option sweep (fixtures/option-sweep/cases.tsv, recorded from iptables
/// 1.8.9) through the kernel:
/// - through our binary, XDP attached (every edit goes through prediction, transition and
///   read-back): `ebpf-iptables ARGV` answers with the recorded stdout, stderr and exit
///   status, and the kernel in our namespace then holds the recorded `-S` line;
/// - through our printer: the rule as our SavePrinter writes it (what `--xdp-only`, `format`
///   and `migrate` hand to the kernel) restored with the real iptables-restore into a plain
///   namespace, read back by iptables-save: the kernel must hold the recorded rule, or a
///   printer bug would change the rule the kernel runs.
/// Every `OPTION_SWEEP_EVERY`-th case (default 25) is run.
final class OptionSweepKernelTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
    }

    static var every: Int { Int(ProcessInfo.processInfo.environment["OPTION_SWEEP_EVERY"] ?? "") ?? 25 }

    func testSampleRunsInTheKernelAsRecorded() throws {
        let all = OptionSweepCase.loadAll()
        XCTAssertGreaterThan(all.count, 1000, "fixtures/option-sweep/cases.tsv")
        let sample = all.enumerated().filter { $0.offset % Self.every == 0 }.map(\.element)
        let fw = try FirewallUnderTest(prefix: "ebpt-sweep")
        let plain = try NetworkNamespace(prefix: "ebpt-sweep-pr")
        for name in ["sweep4 hash:ip", "sweep4net hash:net,port"] {
            let w = name.split(separator: " ").map(String.init)
            XCTAssertEqual(fw.ours("ebpf-ipset", ["create"] + w).status, 0)
            XCTAssertEqual(plain.run(["ipset", "create"] + w).status, 0)
        }
        var binaryAgree = 0, printerAgree = 0, printerTried = 0
        var failures: [String] = []
        // The core options and m-z are fixed on the `values` branch: their printer differences are printed, not asserted.
        var elsewhere: [String] = []
        let start = ContinuousClock.now
        for c in sample {
            let line = "#\(c.id) iptables \(c.argv.joined(separator: " "))"
            let r = fw.ours("ebpf-iptables", c.argv)
            let held = fw.kernel(["iptables", "-t", c.table, "-S", c.chain]).stdout
                .split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined(separator: "\n")
            if r.status == c.status && r.stderr == c.stderr && r.stdout == "" && held == c.listRules {
                binaryAgree += 1
            } else {
                failures.append("\(line): ours \(r.status) \(r.stderr.debugDescription), kernel holds \(held.debugDescription); "
                                + "recorded \(c.status) \(c.stderr.debugDescription) \(c.listRules.debugDescription)")
            }
            if c.status == 0 {
                let f = fw.ours("ebpf-iptables", c.table == "filter" ? ["-F", c.chain] : ["-t", c.table, "-F", c.chain])
                XCTAssertEqual(f.status, 0, "flush after \(line): \(f.stderr)")
                // Our printer's form of the rule, handed to the kernel's iptables-restore.
                if let printed = Self.printed(c) {
                    printerTried += 1
                    let restore = plain.run(["iptables-restore", "--noflush"], stdin: "*\(c.table)\n\(printed)\nCOMMIT\n")
                    let back = plain.run(["iptables-save", "-t", c.table]).stdout
                        .split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined(separator: "\n")
                    if restore.status == 0 && back == c.save {
                        printerAgree += 1
                    } else {
                        (c.group == "a-l" ? { failures.append($0) } : { elsewhere.append($0) })("\(line): our printer's \(printed.debugDescription) restored: \(restore.status) "
                                        + "\(restore.stderr.debugDescription), kernel holds \(back.debugDescription), recorded \(c.save.debugDescription)")
                    }
                    plain.run(["iptables", "-t", c.table, "-F"])
                } else {
                    (c.group == "a-l" ? { failures.append($0) } : { elsewhere.append($0) })("\(line): accepted by iptables, our parser refuses it")
                }
            }
        }
        XCTAssertEqual(fw.events, "", "predictions the kernel contradicted")
        print("option sweep through the kernel: \(sample.count) sampled cases; binary \(binaryAgree)/\(sample.count) agree; "
              + "printer round trip \(printerAgree)/\(printerTried); \(ContinuousClock.now - start)")
        for f in failures.prefix(40) { print(f) }
        for f in elsewhere.prefix(40) { print("(core/m-z, values branch) \(f)") }
        XCTAssertTrue(failures.isEmpty, "\(failures.count) sampled case(s) differ; see above")
    }

    /// The case's rule as our parser and SavePrinter write it; nil when we cannot read it.
    static func printed(_ c: OptionSweepCase) -> String? {
        let (source, words) = WordSource.argv(c.argv)
        let context = CommandContext(family: .ipv4, setExists: { ["sweep4", "sweep4net"].contains($0) })
        guard case .command(let cmd)? = try? CommandParser.parse(words, source: source, context: context) else { return nil }
        var table = Table(name: c.table)
        guard (try? table.apply(cmd)) != nil else { return nil }
        return SavePrinter.save(table, family: .ipv4).split(separator: "\n").filter { $0.hasPrefix("-A ") }.joined(separator: "\n")
    }
}
