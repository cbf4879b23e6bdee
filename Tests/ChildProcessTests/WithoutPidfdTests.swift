@testable import ChildProcess
import Foundation
import XCTest

/// The same promises where pidfd_open is missing (glibc < 2.36, Linux < 5.3): the exit is
/// then learnt from waitpid on a timer.
final class WithoutPidfdTests: XCTestCase {
    override func setUp() {
        super.setUp()
        Spawner.usePidfd = false
    }

    override func tearDown() {
        Spawner.usePidfd = true
        super.tearDown()
    }

    func testStatusesAndOutput() throws {
        let r = try run(.init("sh", arguments: ["-c", "cat; echo err >&2; exit 5"], stdin: .text("in\n")))
        XCTAssertEqual(r.termination, .exited(5))
        XCTAssertEqual(r.stdoutText, "in\n")
        XCTAssertEqual(r.stderrText, "err\n")
        var quiet = try ChildProcess.spawn(.init("sh", arguments: ["-c", "exit 3"], stdout: .discard, stderr: .discard))
        XCTAssertEqual(try quiet.wait(deadline: .seconds(30)).termination, .exited(3))
    }

    func testDeadlineAndGrandchild() throws {
        let r = try run(.init("sh", arguments: ["-c", "trap '' TERM; sleep 100 & echo $!; wait"],
                              deadline: .milliseconds(200), terminationGrace: .milliseconds(200)))
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.termination, .signaled(SIGKILL))
        let grandchild = try XCTUnwrap(Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(ProcFS.isDead(grandchild))
    }

    func testNoDescriptorOrZombieLeft() throws {
        let before = ProcFS.openDescriptors()
        let childrenBefore = ProcFS.children().map(\.pid)
        for i in 0..<50 {
            XCTAssertEqual(try run(.init("sh", arguments: ["-c", "exit \(i % 3)"])).status, Int32(i % 3))
        }
        XCTAssertEqual(ProcFS.openDescriptors(), before)
        let left = ProcFS.children().filter { !childrenBefore.contains($0.pid) }
        XCTAssertTrue(left.isEmpty, "children left: \(left)")
    }
}
