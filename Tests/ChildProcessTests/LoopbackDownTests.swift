import ChildProcess
import Foundation
import XCTest

/// The regression that matters: a program that runs children, started in a fresh network
/// namespace whose `lo` is down (as in early boot). Foundation's Process prints
/// `*** Could not create wakeup socket pair for CFSocket!!!` there and can miss the child's
/// exit; ours must print nothing and always return. Needs root (a namespace of its own).
final class LoopbackDownTests: XCTestCase {
    static let runs = 200
    static let message = "Could not create wakeup socket pair"
    nonisolated(unsafe) static var counter = 0

    /// Tally of a loop of probe runs.
    struct Tally: CustomStringConvertible {
        var runs = 0, printed = 0, hung = 0, wrong = 0
        var description: String {
            "\(runs) runs, \(printed) printed the CFSocket message, \(hung) hung past the deadline, \(wrong) wrong output or status"
        }
    }

    func testOurRunnerIsSilentAndAlwaysReturnsWithLoopbackDown() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to create a network namespace") }
        let probe = try Self.probePath()
        Self.counter += 1
        let ns = "cp-lo-\(getpid())-\(Self.counter)"
        XCTAssertEqual(try run(.init("ip", arguments: ["netns", "add", ns])).status, 0)
        defer { _ = try? ChildProcess.run(.init("ip", arguments: ["netns", "del", ns])) }
        let lo = try run(.init("ip", arguments: ["-n", ns, "-o", "link", "show", "lo"])).stdoutText
        XCTAssertTrue(lo.contains("<LOOPBACK>") && lo.contains("state DOWN"), "lo should be down: \(lo)")

        let ours = try loop(probe, runner: "ours", namespace: ns, deadline: .seconds(30))
        print("lo down, ChildProcess: \(ours)")
        XCTAssertEqual(ours.printed, 0)
        XCTAssertEqual(ours.hung, 0)
        XCTAssertEqual(ours.wrong, 0)

        // The old way in the same namespace, only reported: it shows the failure is real.
        let foundation = try loop(probe, runner: "foundation", namespace: ns, deadline: .seconds(5))
        print("lo down, Foundation Process: \(foundation)")

        // And with lo up, to show that lo is the cause.
        XCTAssertEqual(try run(.init("ip", arguments: ["-n", ns, "link", "set", "lo", "up"])).status, 0)
        let control = try loop(probe, runner: "foundation", namespace: ns, deadline: .seconds(5), runs: 20)
        print("lo up, Foundation Process: \(control)")
    }

    /// Runs the probe `runs` times in `namespace`; each run starts one child that writes to
    /// both outputs and exits 3, and the probe copies both outputs to its stdout.
    private func loop(_ probe: String, runner: String, namespace: String, deadline: Duration,
                      runs: Int = LoopbackDownTests.runs) throws -> Tally {
        var tally = Tally()
        for i in 0..<runs {
            let r = try ChildProcess.run(.init("ip", arguments: ["netns", "exec", namespace, probe, "once", runner, "--",
                                                                 "sh", "-c", "echo out \(i); echo err >&2; exit 3"],
                                              deadline: deadline, terminationGrace: .seconds(1)))
            tally.runs += 1
            if r.stderrText.contains(Self.message) { tally.printed += 1 }
            if r.timedOut {
                tally.hung += 1
            } else if r.termination != .exited(3) || r.stdoutText != "out \(i)\nerr\n" {
                tally.wrong += 1
                if runner == "ours" { XCTFail("run \(i): \(r.termination) \(r.stdoutText) \(r.stderrText)") }
            }
            if runner == "ours" && !r.stderr.isEmpty { XCTFail("run \(i) printed on stderr: \(r.stderrText)") }
        }
        return tally
    }

    struct MissingProbe: Error, CustomStringConvertible {
        var description: String
    }

    /// childprocess-probe is built beside the test bundle (`swift test` builds it).
    static func probePath() throws -> String {
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("childprocess-probe").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingProbe(description: "childprocess-probe is not built at \(path)")
        }
        return path
    }
}
