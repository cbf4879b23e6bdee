import Foundation
import TestSupport
import XCTest

/// `ebpf-iptables apply FILE [--timeout S]`: iptables-apply for both layers. After each
/// answer the kernel's state and XDP's verdicts are checked.
final class ApplyTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if !Run.has("python3") { throw XCTSkip("python3 is not installed (the frame sender)") }
    }

    static let oldSets = "create bad hash:ip family inet hashsize 1024 maxelem 65536\nadd bad 198.18.5.5\n"
    static let oldRules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set bad src -j DROP
        COMMIT

        """
    /// The new ruleset: `bad` holds another member, a new set `worse`, a new prefix.
    static let newSets = """
        create bad hash:ip family inet hashsize 1024 maxelem 65536
        add bad 198.18.6.6
        create worse hash:ip family inet hashsize 1024 maxelem 65536
        add worse 198.18.8.8

        """
    static let newRules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set bad src -j DROP
        -A INPUT -m set --match-set worse src -j DROP
        -A INPUT -s 198.18.9.0/24 -j DROP
        COMMIT

        """

    struct Setup {
        let lab: RebootLab
        let before: String
        let rulesFile: String
        let setsFile: String
    }

    func setup(_ tag: String) throws -> Setup {
        let lab = try RebootLab(tag)
        XCTAssertEqual(lab.ours(["attach", "rx0"], alone: true).status, 0)
        let r = lab.ours(["restore", "--ipset", try lab.write(Self.oldSets, "old.sets"), try lab.write(Self.oldRules, "old.rules")], alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        return Setup(lab: lab, before: lab.kernelState(), rulesFile: try lab.write(Self.newRules, "new.rules"),
                     setsFile: try lab.write(Self.newSets, "new.sets"))
    }

    /// XDP's verdicts for the old members and the new ones: [5.5, 6.6, 8.8, 9.1].
    func verdicts(_ lab: RebootLab) throws -> [Bool] {
        let s = try lab.sender()
        return try ["198.18.5.5", "198.18.6.6", "198.18.8.8", "198.18.9.1"].map { try lab.xdpDrops(s, from: labAddress($0)) }
    }

    func testConfirmedKeepsTheNewRulesetInBothLayers() throws {
        let s = try setup("apy")
        defer { s.lab.close() }
        let r = s.lab.ours(["apply", "--ipset", s.setsFile, "--timeout", "20", s.rulesFile], stdin: "y\n", alone: true)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("Can you establish NEW connections to the machine? (y/N)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("... then my job is done. See you next time."), r.stdout)
        let k = s.lab.kernelState()
        XCTAssertTrue(k.contains("-A INPUT -s 198.18.9.0/24 -j DROP") && k.contains("add worse 198.18.8.8") && k.contains("add bad 198.18.6.6"), k)
        XCTAssertFalse(k.contains("add bad 198.18.5.5"), k)
        XCTAssertEqual(try verdicts(s.lab), [false, true, true, true])
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.lab.config + "/rules.v4"), "no saved ruleset was in use: none is written")
    }

    func testRefusedRollsBothLayersBack() throws {
        let s = try setup("apn")
        defer { s.lab.close() }
        let r = s.lab.ours(["apply", "--ipset", s.setsFile, s.rulesFile], stdin: "n\n", alone: true)
        XCTAssertEqual(r.status, 255, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("No affirmative response! Better play it safe..."), r.stdout)
        XCTAssertTrue(r.stdout.contains("Reverting to old iptables rules... done."), r.stdout)
        XCTAssertEqual(s.lab.kernelState(), s.before, "the kernel holds the old ruleset and sets again (the new set is gone)")
        XCTAssertEqual(try verdicts(s.lab), [true, false, false, false])
    }

    /// No answer: standard input stays open and silent (as a terminal whose session hung).
    func testTimeoutRollsBothLayersBackAfterTheTimeout() throws {
        let s = try setup("apt")
        defer { s.lab.close() }
        let env = s.lab.environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        // The pipeline's end waits for the sleep: the apply's own time is printed by the shell.
        let apply = "env \(env) EBPF_IPTABLES_NO_AGENT=1 ip netns exec \(s.lab.fw.name) \(s.lab.bin)/ebpf-iptables apply --timeout 2 --ipset \(s.setsFile) \(s.rulesFile)"
        let r = Run.run(["sh", "-c", "sleep 8 | { t=$(date +%s%N); \(apply); rc=$?; echo \"took $(( ($(date +%s%N) - t) / 1000000 )) ms\"; exit $rc; }"])
        XCTAssertEqual(r.status, 255, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("Timeout! Something happened (or did not). Better play it safe..."), r.stdout)
        let ms = r.stdout.split(separator: "\n").first { $0.hasPrefix("took ") }.flatMap { Int($0.dropFirst(5).prefix { $0.isNumber }) } ?? -1
        XCTAssertGreaterThanOrEqual(ms, 2000, r.stdout)
        XCTAssertLessThan(ms, 7000, "rolled back at the timeout, not at the end of input: \(r.stdout)")
        XCTAssertEqual(s.lab.kernelState(), s.before)
        XCTAssertEqual(try verdicts(s.lab), [true, false, false, false])
        print("apply --timeout 2: answered nothing, rolled back; the whole apply took \(ms) ms")
    }

    /// The session dies while the question waits (SIGHUP): rolled back at once.
    func testHangupRollsBack() throws {
        let s = try setup("aph")
        defer { s.lab.close() }
        let env = s.lab.environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let apply = "env \(env) EBPF_IPTABLES_NO_AGENT=1 ip netns exec \(s.lab.fw.name) \(s.lab.bin)/ebpf-iptables apply --timeout 30 --ipset \(s.setsFile) \(s.rulesFile)"
        // The apply in the background with a silent stdin; SIGHUP to its pid (env and
        // `ip netns exec` exec it) once the question is out.
        let r = Run.run(["sh", "-c", "out=\(s.lab.root)/hup.out; sleep 20 | \(apply) >$out 2>&1 & pid=$!; "
                         + "for i in $(seq 100); do grep -q 'NEW connections' $out && break; sleep 0.1; done; "
                         + "kill -HUP $pid; wait $pid; echo rc=$?; cat $out"])
        XCTAssertTrue(r.stdout.contains("rc=255"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Interrupted (signal 1)"), r.stdout)
        XCTAssertEqual(s.lab.kernelState(), s.before)
    }

    /// A file the kernel refuses: nothing applied, exit 5, nothing asked.
    func testARefusedFileAppliesNothing() throws {
        let s = try setup("apf")
        defer { s.lab.close() }
        let bad = try s.lab.write("*filter\n-A INPUT -p tcp --dport 99999 -j DROP\nCOMMIT\n", "bad.rules")
        let r = s.lab.ours(["apply", bad], stdin: "y\n", alone: true)
        XCTAssertEqual(r.status, 5, r.stdout + r.stderr)
        XCTAssertFalse(r.stdout.contains("Can you establish"), r.stdout)
        XCTAssertEqual(s.lab.kernelState(), s.before)
        XCTAssertEqual(s.lab.ours(["apply", s.lab.root + "/missing"], alone: true).status, 2)
        XCTAssertEqual(s.lab.ours(["apply", "--timeout", "x", s.rulesFile], alone: true).status, 1)
    }

    /// With a saved ruleset in use, a confirmed apply rewrites it; a refused one leaves it.
    func testSavedFilesFollowOnlyAConfirmation() throws {
        let s = try setup("aps")
        defer { s.lab.close() }
        XCTAssertEqual(s.lab.ours(["save", "--persist"], alone: true).status, 0)
        let saved = try String(contentsOfFile: s.lab.config + "/rules.v4", encoding: .utf8)
        XCTAssertEqual(s.lab.ours(["apply", s.rulesFile, "--ipset", s.setsFile], stdin: "n\n", alone: true).status, 255)
        XCTAssertEqual(try String(contentsOfFile: s.lab.config + "/rules.v4", encoding: .utf8), saved)
        let r = s.lab.ours(["apply", s.rulesFile, "--ipset", s.setsFile], stdin: "y\n", alone: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOfFile: s.lab.config + "/rules.v4", encoding: .utf8).contains("198.18.9.0/24"))
        XCTAssertTrue(try String(contentsOfFile: s.lab.config + "/ipsets", encoding: .utf8).contains("add worse 198.18.8.8"))
    }
}
