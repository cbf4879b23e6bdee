import Foundation
import TestSupport
import XCTest

/// Every kind of command, in a fresh network namespace whose `lo` is DOWN (where Foundation's
/// Process printed `*** Could not create wakeup socket pair for CFSocket!!!` and could miss a
/// child's exit), with two busy loops hogging the CPUs: each command finishes within its
/// deadline, its stderr is empty or exactly what iptables/ipset print for the same command in
/// a reference namespace (lo down too), concurrent edits through the state lock all apply, and
/// a command behind a stuck holder gives up after EBPF_IPTABLES_LOCK_WAIT with exit status 4
/// and a message naming that holder.
final class QuietUnderLoadTests: XCTestCase {
    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping quiet-under-load: \(why)")
            throw XCTSkip(why)
        }
        for tool in ["flock", "timeout"] where !Run.has(tool) {
            throw XCTSkip("'\(tool)' is not installed (apt-get install util-linux coreutils)")
        }
    }

    /// How long any one command may take here, hogged CPUs and lock waits included.
    static let deadline: Duration = .seconds(60)

    struct Step {
        /// Our multi-call name and its arguments.
        var ours: [String]
        /// The real tool's argv, whose stdout, stderr and status ours must equal; nil for a
        /// command of ours alone, which must succeed with an empty stderr.
        var reference: [String]?
        var stdin: String? = nil
    }

    static let sets = "create wl hash:ip family inet hashsize 1024 maxelem 65536\nadd wl 198.18.3.1\n"
    static let rules = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -p udp -m udp --dport 5060 -m set --match-set wl src -j ACCEPT
        -A INPUT -p udp -m udp --dport 5060 -j DROP
        -A INPUT -m limit --limit 5/sec -j LOG --log-prefix "in: "
        COMMIT

        """

    static func iptables(_ args: String...) -> Step { Step(ours: ["ebpf-iptables"] + args, reference: ["iptables"] + args) }
    static func ipset(_ args: String...) -> Step { Step(ours: ["ebpf-ipset"] + args, reference: ["ipset"] + args) }

    static let sequence: [Step] = [
        Step(ours: ["ebpf-iptables", "attach", "fw0"]),
        Step(ours: ["ebpf-iptables", "status"]),
        Step(ours: ["ebpf-ipset", "restore"], reference: ["ipset", "restore"], stdin: sets),
        Step(ours: ["ebpf-iptables-restore"], reference: ["iptables-restore"], stdin: rules),
        iptables("-A", "INPUT", "-s", "198.18.50.1", "-j", "DROP"),
        iptables("-I", "INPUT", "1", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"),
        iptables("-R", "INPUT", "1", "-p", "tcp", "--dport", "2222", "-j", "ACCEPT"),
        iptables("-D", "INPUT", "-s", "198.18.50.1", "-j", "DROP"),
        iptables("-D", "INPUT", "99"),
        iptables("-A", "NOPE", "-j", "ACCEPT"),
        iptables("-C", "INPUT", "-s", "198.18.50.9", "-j", "DROP"),
        iptables("-A", "INPUT", "--bogus"),
        iptables("-N", "quiet"),
        iptables("-A", "quiet", "-j", "RETURN"),
        iptables("-X", "quiet"),
        iptables("-F", "quiet"),
        iptables("-X", "quiet"),
        iptables("-L", "-n", "-v"),
        iptables("-S"),
        iptables("-Z"),
        iptables("-P", "INPUT", "DROP"),
        iptables("-P", "INPUT", "ACCEPT"),
        iptables("-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", "REDIRECT", "--to-ports", "8080"),
        Step(ours: ["ebpf-iptables-save"], reference: ["iptables-save"]),
        Step(ours: ["ebpf-iptables-save", "-c"], reference: ["iptables-save", "-c"]),
        ipset("add", "wl", "198.18.3.2"),
        ipset("add", "wl", "198.18.3.2"),
        ipset("del", "wl", "198.18.3.1"),
        ipset("del", "wl", "198.18.3.1"),
        ipset("test", "wl", "198.18.3.2"),
        ipset("test", "wl", "198.18.3.1"),
        ipset("add", "wl", "198.18.3.0/30"),
        ipset("create", "tmp", "hash:net"),
        ipset("destroy", "tmp"),
        ipset("destroy", "wl"),
        ipset("list", "-n"),
        ipset("bogus"),
        Step(ours: ["ebpf-iptables", "status", "-v"]),
    ]

    func testCommandsAreQuietAndFinishInANamespaceWithoutLoopbackUnderLoad() throws {
        let start = ContinuousClock.now
        let ref = try NetworkNamespace(prefix: "ebpt-quiet-ref")
        let fw = try FirewallUnderTest(prefix: "ebpt-quiet", attach: false)
        for ns in [ref.name, fw.ns.name] {
            XCTAssertTrue(Run.run(["ip", "-n", ns, "-o", "link", "show", "lo"]).stdout.contains("state DOWN"), "\(ns): lo must be down")
        }
        let hogs = try BusyLoops(count: 2)
        defer { hogs.stop() }
        var slowest: Duration = .zero
        var commands = 0

        func ours(_ step: Step, env extra: [String: String] = [:]) -> (RunResult, Duration) {
            let t = ContinuousClock.now
            let r = Run.run(["ip", "netns", "exec", fw.ns.name, fw.bin + "/" + step.ours[0]] + step.ours.dropFirst(), stdin: step.stdin,
                            env: fw.env.merging(extra) { $1 }, deadline: Self.deadline)
            let took = ContinuousClock.now - t
            slowest = max(slowest, took)
            commands += 1
            XCTAssertFalse(r.timedOut, "\(step.ours.joined(separator: " ")): still running after \(Self.deadline)")
            XCTAssertFalse(r.stderr.contains("CFSocket"), "\(step.ours.joined(separator: " ")): \(r.stderr)")
            return (r, took)
        }

        // One command after the other: ours against the real tool.
        var compared = 0
        for step in Self.sequence {
            let (o, _) = ours(step)
            let what = step.ours.joined(separator: " ")
            XCTAssertEqual(fw.events, "", "events logged by \(what)")
            guard let refArgv = step.reference else {
                XCTAssertEqual(o.status, 0, "\(what): \(o.stderr)")
                XCTAssertEqual(o.stderr, "", what)
                continue
            }
            let r = ref.run(refArgv, stdin: step.stdin)
            compared += 1
            let strip = refArgv[0] == "iptables-save" ? FirewallUnderTest.withoutComments : { $0 }
            XCTAssertEqual(o.status, r.status, "\(what): \(o.stderr)")
            XCTAssertEqual(o.stderr, r.stderr, what)
            XCTAssertTrue(refArgv[0] == "ipset" ? IpsetConformanceScript.equivalent(r.stdout, o.stdout) : strip(r.stdout) == strip(o.stdout),
                          "\(what)\n--- reference\n\(r.stdout)--- ours\n\(o.stdout)")
        }
        // A restore we refuse: our own located diagnostic, nothing of the runtime's.
        let (bad, _) = ours(Step(ours: ["ebpf-iptables-restore"], stdin: "*filter\n-A INPUT -m tcpp --dport 1 -j ACCEPT\nCOMMIT\n"))
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.hasPrefix("<stdin>:2:") && bad.stderr.hasSuffix("ebpf-iptables-restore: nothing was applied\n"), bad.stderr)

        XCTAssertEqual(fw.events, "", "events logged by the refused restore")
        // Concurrent edits contend for the state lock; every one must apply.
        let workers = 4, each = 8
        let results = ConcurrentResults()
        let (nsName, bin, env) = (fw.ns.name, fw.bin, fw.env)
        DispatchQueue.concurrentPerform(iterations: workers + 1) { w in
            for i in 0..<each {
                let step: Step
                if w == workers {
                    step = Step(ours: [["ebpf-iptables", "-L", "-n", "-v"], ["ebpf-iptables-save", "-c"], ["ebpf-iptables", "status", "-v"],
                                       ["ebpf-ipset", "list", "wl"]][i % 4])
                } else if i % 2 == 0 {
                    step = Step(ours: ["ebpf-iptables", "-A", "INPUT", "-s", "198.18.\(100 + w).\(i + 1)", "-j", "DROP"])
                } else {
                    step = Step(ours: ["ebpf-ipset", "add", "wl", "198.18.\(110 + w).\(i + 1)"])
                }
                let t = ContinuousClock.now
                let r = Run.run(["ip", "netns", "exec", nsName, bin + "/" + step.ours[0]] + step.ours.dropFirst(),
                                env: env, deadline: Self.deadline)
                results.add(step.ours.joined(separator: " "), r, ContinuousClock.now - t)
            }
        }
        for (what, r, took) in results.all {
            commands += 1
            slowest = max(slowest, took)
            XCTAssertFalse(r.timedOut, "\(what): still running after \(Self.deadline)")
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stderr, "", what)
        }
        let saved = fw.kernel(["iptables-save"]).stdout, members = fw.kernel(["ipset", "list", "wl"]).stdout
        var lost: [String] = []
        for w in 0..<workers {
            for i in 0..<each {
                if i % 2 == 0 {
                    if !saved.contains("-A INPUT -s 198.18.\(100 + w).\(i + 1)/32 -j DROP\n") { lost.append("rule 198.18.\(100 + w).\(i + 1)") }
                } else if !members.split(separator: "\n").contains(Substring("198.18.\(110 + w).\(i + 1)")) {
                    lost.append("member 198.18.\(110 + w).\(i + 1)")
                }
            }
        }
        XCTAssertEqual(lost, [], "concurrent edits lost")
        XCTAssertEqual(fw.events, "", "events logged under contention")
        let status = fw.ours("ebpf-iptables", ["status"]).stdout
        XCTAssertFalse(status.contains("warning"), status)

        // A stuck holder: flock(1) holds the lock and sleeps.
        let lock = fw.env["EBPF_IPTABLES_STATE", default: ""] + "/lock"
        let holder = try LockHolderProcess(lock: lock)
        for step in [Step(ours: ["ebpf-iptables", "-A", "INPUT", "-j", "ACCEPT"]), Step(ours: ["ebpf-ipset", "add", "wl", "198.18.3.9"]),
                     Step(ours: ["ebpf-iptables", "status"]), Step(ours: ["ebpf-iptables-restore"], stdin: Self.rules)] {
            let (r, took) = ours(step, env: ["EBPF_IPTABLES_LOCK_WAIT": "1"])
            let what = step.ours.joined(separator: " ")
            XCTAssertEqual(r.status, 4, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stderr, "ebpf-iptables: the state lock is held by pid \(holder.pid) (flock -o \(lock) sleep 60); "
                           + "gave up after 1 s (EBPF_IPTABLES_LOCK_WAIT)\n", what)
            XCTAssertGreaterThanOrEqual(took, .seconds(1), "\(what) gave up before EBPF_IPTABLES_LOCK_WAIT")
            XCTAssertLessThan(took, .seconds(10), "\(what) waited far past EBPF_IPTABLES_LOCK_WAIT")
        }
        holder.stop()
        let (after, _) = ours(Step(ours: ["ebpf-iptables", "-A", "INPUT", "-s", "198.18.60.1", "-j", "DROP"]), env: ["EBPF_IPTABLES_LOCK_WAIT": "5"])
        XCTAssertEqual(after.status, 0, "once the holder is gone: \(after.stderr)")
        XCTAssertEqual(after.stderr, "")

        let (detach, _) = ours(Step(ours: ["ebpf-iptables", "detach", "fw0"]))
        XCTAssertEqual(detach.status, 0, detach.stderr)
        XCTAssertEqual(detach.stderr, "")
        print("quiet under load: \(commands) commands in a namespace with lo down and 2 CPU hogs, \(compared) compared with the real tools, "
              + "\(workers * each + each) concurrent; slowest \(slowest); \(ContinuousClock.now - start)")
    }
}
