import Foundation
import TestSupport
import XCTest

/// What `ebpf-iptables-restore` leaves in the kernel, with the kernel as the oracle.
///
/// - A file the kernel refuses is refused with the kernel's exit status and a diagnostic
///   at the kernel's line (file:line), and NOTHING is applied to either layer: not the rules
///   (iptables-save), not the sets (ipset save), not XDP (same live generation, no change
///   pending, a packet it dropped is still dropped there) — also where the kernel's own
///   iptables-restore, which commits table by table, applies the file's first tables.
/// - IPv6 files restore (both layers attached, ip6tables in the kernel) to what the kernel
///   prints for them itself: ip6tables-save and ebpf-ip6tables-save. (IPv4 fidelity is
///   checked after each restore of DifferentialTests.)
final class RestoreFidelityTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping restore fidelity: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["nft", "python3"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed") }
    }

    /// Files the kernel refuses after a valid first table, or at once.
    static let constructed: [(name: String, text: String)] = [
        ("later-table-missing-chain.rules", """
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -s 198.51.100.99/32 -j ACCEPT
            COMMIT
            *nat
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -j no-such-chain
            COMMIT

            """),
        ("later-table-bad-option.rules", """
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -p tcp --dport 22 -j ACCEPT
            COMMIT
            *mangle
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -p tcp --dport 80 --bogus -j ACCEPT
            COMMIT

            """),
        ("missing-set.rules", """
            *filter
            :INPUT DROP [0:0]
            -A INPUT -m set --match-set no-such-set src -j ACCEPT
            COMMIT

            """),
        ("bad-target-option-mid-file.rules", """
            *raw
            :PREROUTING ACCEPT [0:0]
            -A PREROUTING -s 198.51.100.98/32 -j CT --notrack
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            -A INPUT -s 198.51.100.97/32 -j ACCEPT
            -A INPUT -j REJECT --reject-with no-such-reply
            COMMIT

            """),
    ]

    /// The line iptables-restore names ("Error occurred at line: N", "line N failed").
    static func errorLine(_ s: String) -> Int? {
        for pattern in ["line: [0-9]+", "line [0-9]+"] {
            if let r = s.range(of: pattern, options: .regularExpression) { return Int(s[r].filter(\.isNumber)) }
        }
        return nil
    }

    /// Where a diagnostic may point for the kernel's `line`: that line, or — when the kernel
    /// names a table's COMMIT, as iptables-nft does for a rule that jumps to a missing chain —
    /// any line of that table (we point at the rule itself).
    static func acceptableLines(kernelLine: Int, text: String) -> [Int] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard kernelLine >= 1, kernelLine <= lines.count, lines[kernelLine - 1].trimmingCharacters(in: .whitespaces) == "COMMIT" else { return [kernelLine] }
        var start = kernelLine - 1
        while start > 0, !lines[start - 1].hasPrefix("*") { start -= 1 }
        return Array(start...kernelLine)
    }

    /// Everything a restore could change, as the kernel's tools and the pinned program show it.
    struct Observed: Equatable {
        var rules: String
        var sets: String
        var generation: UInt32
        var flags: UInt32
        var positions: Int
        var events: [String]
        var cachedView: String
    }

    func observe(_ two: Receiver) throws -> Observed {
        let d = try two.xdp()
        return Observed(rules: Fidelity.withoutComments(two.run(["iptables-save"]).stdout),
                        sets: Fidelity.withoutInitval(two.run(["ipset", "save"]).stdout),
                        generation: try d.liveGeneration(), flags: try d.flags.rawValue, positions: try d.counters().count,
                        events: two.events, cachedView: Fixtures.text(URL(fileURLWithPath: two.state + "/kernel.v4")))
    }

    func testFilesTheKernelRefusesApplyNothingToEitherLayer() throws {
        let lab = try FirewallLab()
        defer { lab.close() }
        let two = try lab.addReceiver("two")
        try two.instrument()
        let sip = Fixtures.fixtures.appendingPathComponent("rulesets/sip-edge.rules")
        for (args, tool, input) in [(["attach", "rx0"], "ebpf-iptables", nil),
                                    (["restore"], "ebpf-ipset", Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset"))),
                                    ([sip.path], "ebpf-iptables-restore", nil)] as [([String], String, String?)] {
            let r = two.ours(args, tool: tool, stdin: input)
            XCTAssertEqual(r.status, 0, "\(tool) \(args): \(r.stderr)")
            guard r.status == 0 else { return }
        }
        // A packet XDP drops under sip-edge (tcp/22 from outside MGMT's networks).
        var probe = Probe(source: 0xC633_6463, destination: FirewallLab.address, proto: 6)
        probe.destinationPort = 22
        probe.sourcePort = 33000
        let sender = try ProbeSender(namespace: lab.gen.name, interfaces: [two.genSide])
        func xdpDrops() throws -> Bool {
            let before = try two.xdp().stats().dropped
            probe.sourcePort &+= 1
            try sender.send(probe.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: FirewallLab.mac, ipID: probe.sourcePort))
            let deadline = Date().addingTimeInterval(1)
            while try two.xdp().stats().dropped == before, Date() < deadline { usleep(1000) }
            return try two.xdp().stats().dropped > before
        }
        XCTAssertTrue(try xdpDrops(), "XDP drops tcp/22 from an outside address under sip-edge")

        var cases: [(name: String, text: String, path: String)] = []
        let dir = lab.root + "/bad"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for c in Self.constructed {
            let path = dir + "/" + c.name
            try Data(c.text.utf8).write(to: URL(fileURLWithPath: path))
            cases.append((c.name, c.text, path))
        }
        for s in RulesetSubject.corpus ?? [] { cases.append((s.name, s.text, s.url.path)) }

        var refused = 0, partialInKernel = 0
        let initial = try observe(two)
        for c in cases {
            // The kernel's own verdict, in a namespace holding the same sets as `two`.
            let scratch = try NetworkNamespace(prefix: "ebpt-bad")
            scratch.run(["ipset", "restore"], stdin: two.run(["ipset", "save"]).stdout)
            for s in RulesetSubject(url: URL(fileURLWithPath: c.path)).setCommands.create where s[1] != "no-such-set" {
                scratch.run(["ipset", "-exist"] + s)
            }
            let kernel = scratch.run(["iptables-restore"], stdin: c.text)
            guard kernel.status != 0 else { continue }
            refused += 1
            let applied = Fidelity.withoutComments(scratch.run(["iptables-save"]).stdout) != ""
            if applied { partialInKernel += 1 }

            let ours = two.ours([c.path], tool: "ebpf-iptables-restore")
            XCTAssertEqual(ours.status, kernel.status, "\(c.name): exit status (kernel: \(kernel.stderr)) ours: \(ours.stderr)")
            if let line = Self.errorLine(kernel.stderr) {
                let lines = Self.acceptableLines(kernelLine: line, text: c.text)
                XCTAssertTrue(lines.contains { ours.stderr.contains("\(c.name):\($0):") },
                              "\(c.name): no diagnostic at line \(line) (or in the table its COMMIT ends): \(ours.stderr)")
                if let word = KernelMessage.quoted(kernel.stderr) {
                    XCTAssertTrue(ours.stderr.contains(word), "\(c.name): the diagnostic does not name '\(word)' as the kernel does: \(ours.stderr)")
                }
            } else {
                XCTFail("\(c.name): the kernel named no line: \(kernel.stderr)")
            }
            XCTAssertTrue(ours.stderr.contains("nothing was applied"), "\(c.name): \(ours.stderr)")
            let now = try observe(two)
            XCTAssertEqual(now.rules, initial.rules, "\(c.name): the kernel's rules changed")
            XCTAssertEqual(now.sets, initial.sets, "\(c.name): the kernel's sets changed")
            XCTAssertEqual(now, initial, "\(c.name): XDP or the state changed")
            XCTAssertTrue(try xdpDrops(), "\(c.name): XDP no longer drops what it dropped")
            print("restore refused \(c.name): status \(ours.status), \(ours.stderr.split(separator: "\n").first ?? "")"
                  + (applied ? " (the kernel's iptables-restore alone applied the tables before the error)" : ""))
        }
        print("restore fidelity: \(refused) files the kernel refuses (\(partialInKernel) of which it applies in part itself) were refused "
              + "by ebpf-iptables-restore with nothing applied to either layer")
        XCTAssertGreaterThanOrEqual(refused, Self.constructed.count + ((RulesetSubject.corpus == nil) ? 0 : 4))
        XCTAssertGreaterThanOrEqual(partialInKernel, 2, "the constructed later-table cases must show the kernel's partial commit")
    }

    func testIPv6RulesetsRestoreAsTheKernelPrintsThem() throws {
        var files = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".v6.rules")
        if let corpus = Fixtures.corpus { files += Fixtures.files(in: corpus, suffix: ".v6.rules") }
        var same = 0, accepted = 0
        for url in files {
            let lab = try FirewallLab()
            defer { lab.close() }
            let ref = try lab.addReceiver("ref"), two = try lab.addReceiver("two")
            let subject = RulesetSubject(url: url)
            for c in subject.setCommands.create {
                var v6 = c
                v6[v6.count - 1] = "inet6"
                ref.run(["ipset"] + v6)
                XCTAssertEqual(two.ours(v6, tool: "ebpf-ipset").status, 0)
            }
            guard ref.run(["ip6tables-restore"], stdin: subject.text).status == 0 else { continue }
            accepted += 1
            XCTAssertEqual(two.ours(["attach", "rx0"]).status, 0)
            let r = two.ours(["restore", "-6", url.path])
            XCTAssertEqual(r.status, 0, "\(subject.name): \(r.stderr)")
            let problems = Fidelity.compare(ref: ref, two: two, family: true)
            for p in problems { XCTFail("\(subject.name): \(p)") }
            if problems.isEmpty { same += 1 }
        }
        print("restore fidelity (IPv6): \(same)/\(accepted) files the kernel accepts print the same after ebpf-ip6tables-restore")
        // The fixture, and with the shared corpus beside the checkout its ip6tables files too.
        XCTAssertGreaterThanOrEqual(accepted, Fixtures.corpus == nil ? 1 : 2)
    }
}

/// What the kernel's tools quote in the first line of a message: `X', 'X' or "X".
enum KernelMessage {
    static func quoted(_ message: String) -> String? {
        let s = String(message.split(separator: "\n").first ?? "")
        // `X' first (xtables' own quoting); a word never holds a space ("doesn't exist").
        for pattern in [#"`[^'` ]+'"#, #"'[^' ]+'"#, #"\"[^\" ]+\""#] {
            if let r = s.range(of: pattern, options: .regularExpression) {
                // A CR the file carried shows raw in the kernel's message, escaped in ours.
                let inner = s[r].dropFirst().dropLast().trimmingCharacters(in: .whitespacesAndNewlines)
                if !inner.isEmpty { return inner }
            }
        }
        return nil
    }
}
