import ChildProcess
import Foundation
import XCTest

/// Deadlines and descendants: `run` returns however the child and its descendants behave.
final class DeadlineTests: XCTestCase {
    func testAChildThatIgnoresSIGTERMIsKilled() throws {
        let r = try run(.init("sh", arguments: ["-c", "trap '' TERM; echo ready; sleep 100"],
                              deadline: .milliseconds(300), terminationGrace: .milliseconds(300)))
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.termination, .signaled(SIGKILL))
        XCTAssertEqual(r.stdoutText, "ready\n", "output from before the deadline is kept")
    }

    func testAChildThatHonoursSIGTERMEndsWithIt() throws {
        let r = try run(.init("sleep", arguments: ["100"], deadline: .milliseconds(200)))
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.termination, .signaled(SIGTERM))
        XCTAssertEqual(r.status, 128 + SIGTERM)
    }

    /// The deadline signals the child's whole process group: the grandchild holding the
    /// output pipe dies with it, so the pipe closes and `run` returns.
    func testTheDeadlineKillsAGrandchildHoldingThePipe() throws {
        let r = try run(.init("sh", arguments: ["-c", "sleep 100 & echo $!; wait"],
                              deadline: .milliseconds(300), terminationGrace: .seconds(5)))
        XCTAssertTrue(r.timedOut)
        XCTAssertEqual(r.termination, .signaled(SIGTERM))
        let grandchild = try XCTUnwrap(Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(ProcFS.isDead(grandchild), "the grandchild \(grandchild) outlived the deadline")
    }

    /// The child exits at once but leaves a background job holding its stdout. Without a
    /// deadline `run` still returns: the job gets the grace period, then its group is killed.
    func testABackgroundJobHoldingThePipeGetsOnlyTheGrace() throws {
        let r = try run(.init("sh", arguments: ["-c", "sleep 100 & echo $!"], terminationGrace: .milliseconds(300)))
        XCTAssertFalse(r.timedOut, "the child itself ended in time")
        XCTAssertEqual(r.termination, .exited(0))
        let job = try XCTUnwrap(Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(ProcFS.isDead(job), "the background job \(job) was left running")
    }

    /// Without a process group of its own, a background job is out of our reach: `run`
    /// still returns after the grace, and the job runs on (the test kills it).
    func testWithoutItsOwnGroupTheJobIsLeftAlone() throws {
        let r = try run(.init("sh", arguments: ["-c", "sleep 100 & echo $!"], terminationGrace: .milliseconds(300),
                              newProcessGroup: false))
        XCTAssertEqual(r.termination, .exited(0))
        let job = try XCTUnwrap(Int32(r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(ProcFS.stat(job)?.state, "S", "the job should still be sleeping")
        kill(job, SIGKILL)
        XCTAssertTrue(ProcFS.isDead(job))
    }

    func testTheChildLeadsItsOwnProcessGroup() throws {
        let own = try run(.init("sh", arguments: ["-c", "echo $$ $(ps -o pgid= -p $$)"]))
        let f = own.stdoutText.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(f.count, 2)
        XCTAssertEqual(f.first, f.last, "pid and process group differ: \(own.stdoutText)")
        let shared = try run(.init("sh", arguments: ["-c", "ps -o pgid= -p $$"], newProcessGroup: false))
        XCTAssertEqual(Int32(shared.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)), getpgrp())
    }
}
