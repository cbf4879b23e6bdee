import Foundation
import TestSupport
import XCTest

/// iptables' command line, byte for byte, through both layers: each script of
/// fixtures/conformance/iptables runs once with the real iptables in a fresh network
/// namespace (the reference) and once with ebpf-iptables in another, where the XDP program
/// is attached to a veth before the script starts (so every edit goes through prediction,
/// transition and read-back). Every command's stdout, stderr and exit status must match.
/// At the end of each script:
/// - the kernel layer in our namespace (`iptables-save`, `iptables-save -c`, `ipset save`)
///   equals the reference's: we applied exactly what iptables would have;
/// - `ebpf-iptables-save`, `ebpf-iptables-save -c` and `ebpf-iptables -S` print what the
///   reference's `iptables-save`, `iptables-save -c` and `iptables -S` print;
/// - our restore parser reads our save output back unchanged (`ebpf-iptables format`);
/// - the state's events log is empty (no prediction the kernel contradicted, no drift) and
///   `status` warns of nothing (XDP runs what the kernel holds);
/// - `detach` succeeds and leaves the kernel's ruleset as it was.
///
/// Script lines are iptables' arguments as a shell would read them; `ipset ...` lines run
/// the real ipset in the reference and `ebpf-ipset` in ours, and are compared too (with
/// ipset's random initval and memory size masked, see IpsetConformanceTests).
final class IptablesConformanceTests: XCTestCase {
    struct Tally {
        var scripts = 0
        var commands = 0
        var matched = 0
        var endChecks = 0
        var endMatched = 0
        var failures: [String] = []
    }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping iptables conformance: \(why)")
            throw XCTSkip(why)
        }
    }

    /// Every script, or those whose names start with one of the comma-separated prefixes of
    /// `CONFORMANCE_SCRIPTS` (to rerun a few while working on them).
    static var scripts: [URL] {
        let all = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("conformance/iptables"), suffix: ".txt")
        guard let only = ProcessInfo.processInfo.environment["CONFORMANCE_SCRIPTS"]?.split(separator: ","), !only.isEmpty else { return all }
        return all.filter { u in only.contains { u.lastPathComponent.hasPrefix($0) } }
    }

    static var everyScript: Bool { ProcessInfo.processInfo.environment["CONFORMANCE_SCRIPTS"] == nil }

    func testCommandsMatchTheKernelsIptables() throws {
        let start = ContinuousClock.now
        let scripts = Self.scripts
        var tally = Tally()
        for url in scripts { try run(url, into: &tally) }
        for f in tally.failures.prefix(40) { print(f) }
        print("iptables conformance (XDP attached): \(tally.matched)/\(tally.commands) commands matched in \(tally.scripts) scripts; "
              + "end-state checks: \(tally.endMatched)/\(tally.endChecks); \(ContinuousClock.now - start)")
        if Self.everyScript {
            XCTAssertGreaterThanOrEqual(scripts.count, 40, "scripts in fixtures/conformance/iptables")
            XCTAssertGreaterThanOrEqual(tally.commands, 1200, "commands in fixtures/conformance/iptables")
        }
        XCTAssertEqual(tally.matched, tally.commands, "commands whose output, messages or status differ")
        XCTAssertEqual(tally.endMatched, tally.endChecks, "end-state checks that differ")
    }

    /// Linked under the plain names (`iptables`, `ipset`), every word is the kernel tool's,
    /// `--version` and `-h` included (Docker and kube-proxy read `iptables --version`), and
    /// `-6` is refused as iptables refuses it. Through both layers, as above.
    func testPlainNamesAnswerAsTheKernelsTools() throws {
        let ref = try NetworkNamespace(prefix: "ebpt-plain-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-plain")
        for name in ["iptables", "ipset"] {
            try FileManager.default.createSymbolicLink(atPath: fw.bin + "/" + name, withDestinationPath: Run.binary)
        }
        let lines = ["iptables --version", "iptables -V", "iptables -h", "iptables --help", "iptables -6 -S",
                     "iptables --ipv6 -A INPUT -j ACCEPT", "iptables -A INPUT -m comment --comment -6 -j ACCEPT",
                     "iptables -S", "iptables attach fw0", "iptables save", "ipset --version", "ipset version", "ipset -h",
                     "ipset create s hash:ip", "ipset list -n"]
        var matched = 0
        for line in lines {
            let kernel = ref.run(["sh", "-c", line])
            // The shell finds our links first on PATH; they find the kernel's tools by full path.
            let ours = fw.oursShell(line)
            if kernel.status == ours.status && kernel.stdout == ours.stdout && kernel.stderr == ours.stderr {
                matched += 1
            } else {
                XCTFail("\(line): status \(kernel.status) vs ours \(ours.status)\n--- kernel\n\(kernel.stdout)\(kernel.stderr)--- ours\n\(ours.stdout)\(ours.stderr)")
            }
        }
        XCTAssertEqual(fw.events, "")
        print("plain names: \(matched)/\(lines.count) commands matched the kernel's iptables and ipset")
    }

    /// iptables-restore's and iptables-save's own options, as tools pass them (kube-proxy:
    /// `iptables-restore -w 5 -W 100000 --noflush --counters`; scripts: a bare `-w`), through
    /// ebpf-iptables-restore and ebpf-iptables-save with XDP attached: the same output,
    /// messages, status and resulting ruleset as the real tools'.
    func testRestoreAndSaveTakeTheKernelToolsOptions() throws {
        let ref = try NetworkNamespace(prefix: "ebpt-rsopt-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-rsopt")
        let file = fw.work.appendingPathComponent("rules").path
        try """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            [3:180] -A INPUT -s 198.18.9.0/24 -j DROP
            [1:60] -A INPUT -p udp -m udp --dport 5060 -j ACCEPT
            COMMIT
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A POSTROUTING -o fw0 -j MASQUERADE
            COMMIT

            """.write(toFile: file, atomically: true, encoding: .utf8)
        let quoted = FirewallUnderTest.quote(file)
        let restores = ["", "-w", "-w 5", "-w 5 -W 100000 --noflush --counters", "--wait=2", "-W", "-w -W --noflush",
                        "-n", "--noflush -c", "-c", "-T nat", "--table=filter", "-M /bin/true", "-t", "--test -T filter"]
        // Usage errors are ArgumentParser's words and status (64), not getopt's (1): both refuse
        // and apply nothing.
        let refused = ["-w5", "-T", "--bogus"]
        let saves = ["", "-c", "-t nat", "-M /bin/true -t filter", "--counters --table=filter", "-t nosuch"]
        var matched = 0, total = 0
        func compare(_ tool: String, _ options: String, stdin: Bool) {
            let line = "\(tool) \(options)" + (stdin ? " < \(quoted)" : "")
            let r = ref.run(["sh", "-c", line]), o = fw.oursShell("ebpf-" + line)
            let strip = FirewallUnderTest.withoutComments
            let same = r.status == o.status && strip(r.stdout) == strip(o.stdout) && r.stderr == o.stderr
                && strip(ref.run(["iptables-save", "-c"]).stdout) == strip(fw.kernel(["iptables-save", "-c"]).stdout)
            total += 1
            if same { matched += 1 } else {
                XCTFail("\(line): status \(r.status) vs ours \(o.status)\n--- kernel\n\(r.stdout)\(r.stderr)--- ours\n\(o.stdout)\(o.stderr)")
            }
        }
        for options in restores {
            // Each from the same start: an empty ruleset in both.
            ref.run(["iptables-restore"], stdin: "*filter\nCOMMIT\n*nat\nCOMMIT\n")
            fw.ours("ebpf-iptables-restore", [], stdin: "*filter\nCOMMIT\n*nat\nCOMMIT\n")
            compare("iptables-restore", options, stdin: true)
        }
        for options in saves { compare("iptables-save", options, stdin: false) }
        for options in refused {
            let line = "iptables-restore \(options) < \(quoted)"
            let r = ref.run(["sh", "-c", line]), o = fw.oursShell("ebpf-" + line)
            XCTAssertNotEqual(r.status, 0, line)
            XCTAssertNotEqual(o.status, 0, line)
            XCTAssertTrue(o.stderr.hasPrefix("Error: "), "\(line): \(o.stderr)")
            XCTAssertEqual(FirewallUnderTest.withoutComments(fw.kernel(["iptables-save"]).stdout),
                           FirewallUnderTest.withoutComments(ref.run(["iptables-save"]).stdout), "\(line) applied something")
        }
        XCTAssertEqual(fw.events, "")
        print("restore and save options: \(matched)/\(total) invocations matched the kernel's tools")
    }

    func run(_ url: URL, into tally: inout Tally) throws {
        let name = url.lastPathComponent
        let ref = try NetworkNamespace(prefix: "ebpt-conf-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-conf")
        tally.scripts += 1
        var events = ""
        let text = Fixtures.text(url)
        // `$ ` lines are shell lines (`printf '...' | iptables-restore`): the reference runs
        // them as they are; ours with the plain names linked to our binary first on PATH, as
        // an operator installs it as a drop-in.
        if text.contains("\n$ ") || text.hasPrefix("$ ") {
            for name in ["iptables", "iptables-restore", "iptables-save", "ipset"] {
                try FileManager.default.createSymbolicLink(atPath: fw.bin + "/" + name, withDestinationPath: Run.binary)
            }
        }
        for raw in text.split(separator: "\n") {
            let line = String(raw)
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let isIpset = line.hasPrefix("ipset ")
            let shell = line.hasPrefix("$ ") ? String(line.dropFirst(2)) : nil
            let kernel = ref.run(["sh", "-c", shell ?? (isIpset ? line : "iptables " + line)])
            let ours = fw.oursShell(shell ?? (isIpset ? "ebpf-" + line : "ebpf-iptables " + line))
            tally.commands += 1
            // A command that logged an event (a prediction the kernel contradicted) is named here.
            let now = fw.events
            if now != events {
                tally.failures.append("\(name): \(line): logged \(now.dropFirst(events.count).debugDescription)")
                events = now
            }
            let same = kernel.status == ours.status && !ours.timedOut
                && (isIpset ? IpsetConformanceScript.equivalent(kernel.stdout, ours.stdout) : kernel.stdout == ours.stdout)
                && kernel.stderr == ours.stderr
            if same {
                tally.matched += 1
            } else {
                tally.failures.append("""
                    \(name): \(isIpset ? "" : "iptables ")\(line)
                      status \(kernel.status) vs ours \(ours.status)\(ours.timedOut ? " (timed out)" : "")
                      kernel stdout: \(kernel.stdout.debugDescription)
                      ours   stdout: \(ours.stdout.debugDescription)
                      kernel stderr: \(kernel.stderr.debugDescription)
                      ours   stderr: \(ours.stderr.debugDescription)
                    """)
            }
        }
        endChecks(name, ref: ref, fw: fw, into: &tally)
    }

    func endChecks(_ name: String, ref: NetworkNamespace, fw: FirewallUnderTest, into tally: inout Tally) {
        let strip = FirewallUnderTest.withoutComments
        let refSave = strip(ref.run(["iptables-save"]).stdout)
        let refSaveC = strip(ref.run(["iptables-save", "-c"]).stdout)
        let refSets = ref.run(["ipset", "save"]).stdout
        let oursSets = fw.kernel(["ipset", "save"]).stdout
        let oursSave = fw.ours("ebpf-iptables-save", [])
        let status = fw.ours("ebpf-iptables", ["status"])
        var ends: [(String, Bool, String, String)] = [
            ("the kernel's iptables-save in our namespace", true, refSave, strip(fw.kernel(["iptables-save"]).stdout)),
            ("the kernel's iptables-save -c in our namespace", true, refSaveC, strip(fw.kernel(["iptables-save", "-c"]).stdout)),
            ("the kernel's ipset save in our namespace", IpsetConformanceScript.equivalent(refSets, oursSets), refSets,
             IpsetConformanceScript.equivalent(refSets, oursSets) ? refSets : oursSets),
            ("ebpf-iptables-save", oursSave.status == 0 && oursSave.stderr.isEmpty, refSave, strip(oursSave.stdout) + oursSave.stderr),
            ("ebpf-iptables-save -c", true, refSaveC, strip(fw.ours("ebpf-iptables-save", ["-c"]).stdout)),
            ("ebpf-iptables -S", true, ref.run(["iptables", "-S"]).stdout, fw.ours("ebpf-iptables", ["-S"]).stdout),
            ("events log", true, "", fw.events),
            ("status warnings", status.status == 0 && status.stderr.isEmpty, "",
             status.stdout.split(separator: "\n").filter { $0.hasPrefix("warning") }.joined(separator: "\n")),
        ]
        // Our restore parser reads back what the kernel saves, wherever iptables-restore itself
        // does (iptables-nft's -E takes chain names that its own restore then refuses).
        if ref.run(["iptables-restore", "--test"], stdin: refSave).status == 0 {
            ends.append(("read back by our restore parser", true, strip(oursSave.stdout),
                         fw.ours("ebpf-iptables", ["format"], stdin: strip(oursSave.stdout)).stdout))
        }
        let detach = fw.ours("ebpf-iptables", ["detach", fw.interface])
        ends.append(("detach", true, "detached from fw0\n", detach.stdout + detach.stderr))
        ends.append(("the kernel's ruleset after detach", true, refSave, strip(fw.kernel(["iptables-save"]).stdout)))
        for (what, ok, k, o) in ends {
            tally.endChecks += 1
            if ok && k == o { tally.endMatched += 1 } else {
                tally.failures.append("\(name): at the end, \(what) differs\n--- reference\n\(k)\n--- ours\n\(o)")
            }
        }
    }
}
