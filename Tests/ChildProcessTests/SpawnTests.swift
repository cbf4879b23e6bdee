import ChildProcess
import Foundation
import XCTest

/// `ChildProcess.spawn`: a child that stays up, fed line by line.
final class SpawnTests: XCTestCase {
    func testALongLivedChildAnswersLineByLine() throws {
        var child = try ChildProcess.spawn(.init("sed", arguments: ["-u", "s/^/ok /"], stdin: .pipe))
        for i in 0..<100 {
            try child.write(Array("line \(i)\n".utf8), deadline: .seconds(30))
            let line = try child.readLine(deadline: .seconds(30))
            XCTAssertEqual(line.map { String(decoding: $0, as: UTF8.self) }, "ok line \(i)")
        }
        XCTAssertNil(try child.checkExit())
        child.closeStdin()
        XCTAssertNil(try child.readLine(deadline: .seconds(30)), "end of file after the input ended")
        let r = try child.wait(deadline: .seconds(30))
        XCTAssertEqual(r.termination, .exited(0))
        XCTAssertEqual(r.stdout, [])
    }

    /// A write bigger than the pipes in both directions: output is read while we write.
    func testALargeWriteToAChildThatEchoesDoesNotDeadlock() throws {
        var child = try ChildProcess.spawn(.init("cat", stdin: .pipe))
        let input = pseudoRandomBytes(5_000_000)
        try child.write(input, deadline: .seconds(60))
        child.closeStdin()
        let r = try child.wait(deadline: .seconds(60))
        XCTAssertTrue(r.stdout == input)
    }

    func testReadLineGivesUpAtItsDeadline() throws {
        let pid: pid_t
        do {
            var child = try ChildProcess.spawn(.init("sleep", arguments: ["100"]))
            pid = child.pid
            XCTAssertThrowsError(try child.readLine(deadline: .milliseconds(100))) { error in
                XCTAssertEqual(error as? ChildProcessError, ChildProcessError(.read, "sleep", errno: ETIMEDOUT))
            }
        }
        // Dropping the handle killed and reaped it.
        XCTAssertNil(ProcFS.stat(pid), "sleep \(pid) is still there")
    }

    func testWritingToAChildThatExitedIsEPIPE() throws {
        var child = try ChildProcess.spawn(.init("true", stdin: .pipe))
        XCTAssertEqual(try child.checkExit(waitingUpTo: .seconds(30)), .exited(0))
        XCTAssertThrowsError(try child.write(Array("late\n".utf8))) { error in
            XCTAssertEqual(error as? ChildProcessError, ChildProcessError(.write, "true", errno: EPIPE))
        }
        XCTAssertEqual(try child.wait().termination, .exited(0))
    }

    func testCheckExitSeesTheExitOnceItHappens() throws {
        var child = try ChildProcess.spawn(.init("sh", arguments: ["-c", "read x; exit 7"], stdin: .pipe))
        XCTAssertNil(try child.checkExit())
        try child.write(Array("go\n".utf8))
        XCTAssertEqual(try child.checkExit(waitingUpTo: .seconds(30)), .exited(7))
        XCTAssertEqual(try child.wait().status, 7)
    }

    func testKillSignalsTheChild() throws {
        var child = try ChildProcess.spawn(.init("sleep", arguments: ["100"]))
        child.kill(SIGUSR1)
        let r = try child.wait(deadline: .seconds(30))
        XCTAssertEqual(r.termination, .signaled(SIGUSR1))
        XCTAssertFalse(r.timedOut)
    }

    /// With inherited streams there are no pipes: only the exit wakes us.
    func testAChildWithoutPipesIsWaitedFor() throws {
        var child = try ChildProcess.spawn(.init("sh", arguments: ["-c", "exit 3"], stdout: .discard, stderr: .discard))
        XCTAssertEqual(try child.wait(deadline: .seconds(30)).termination, .exited(3))
    }
}
