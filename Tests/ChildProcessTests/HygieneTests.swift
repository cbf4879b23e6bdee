import ChildProcess
import Foundation
import XCTest

/// What runs leave behind: descriptors, zombies, descriptors inherited by children.
final class HygieneTests: XCTestCase {
    /// 200 runs with every stream piped (and a few started children dropped unwaited) leave
    /// our descriptor table and our list of children as they were.
    func testManyRunsLeakNoDescriptorAndNoZombie() throws {
        let before = ProcFS.openDescriptors()
        let childrenBefore = ProcFS.children().map(\.pid)
        for i in 0..<200 {
            let r = try run(.init("sh", arguments: ["-c", "cat; echo \(i) >&2"], stdin: .text("in \(i)\n")))
            XCTAssertEqual(r.stdoutText, "in \(i)\n")
            XCTAssertEqual(r.stderrText, "\(i)\n")
        }
        for _ in 0..<20 {
            let dropped = try ChildProcess.spawn(.init("sleep", arguments: ["100"], stdin: .pipe))
            _ = dropped.pid
        }
        for _ in 0..<20 {
            // Thrown errors close what was opened, too.
            XCTAssertThrowsError(try ChildProcess.run(.init("/dev/null", stdin: .pipe)))
        }
        XCTAssertEqual(ProcFS.openDescriptors(), before)
        let left = ProcFS.children().filter { !childrenBefore.contains($0.pid) }
        XCTAssertTrue(left.isEmpty, "children left: \(left)")
    }

    /// A descriptor of ours that is not close-on-exec (as other code may open them) does not
    /// reach the child: it gets 0, 1 and 2 only.
    func testTheChildInheritsOnlyItsStandardDescriptors() throws {
        let stray = dup2(1, 77)
        XCTAssertEqual(stray, 77)
        defer { close(77) }
        let r = try run(.init("ls", arguments: ["/proc/self/fd"]))
        let fds = Set(r.stdoutText.split(separator: "\n").map(String.init))
        // ls itself has the directory it lists open (3).
        XCTAssertTrue(fds.isSubset(of: ["0", "1", "2", "3"]), "the child had \(fds.sorted())")
        XCTAssertTrue(fds.isSuperset(of: ["0", "1", "2"]))
    }

    /// Our ends of a child's pipes (and its pidfd) are close-on-exec: a child started by
    /// other code while this one runs cannot hold them open.
    func testOurDescriptorsAreCloseOnExec() throws {
        let before = ProcFS.openDescriptors()
        var child = try ChildProcess.spawn(.init("cat", stdin: .pipe))
        let ours = ProcFS.openDescriptors().subtracting(before).compactMap(Int32.init)
        XCTAssertGreaterThanOrEqual(ours.count, 3, "stdin, stdout and stderr pipes")
        for fd in ours {
            XCTAssertNotEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0, "descriptor \(fd) would be inherited")
            XCTAssertGreaterThan(fd, 2)
        }
        try child.write(Array("x\n".utf8))
        let r = try child.wait(deadline: .seconds(30))
        XCTAssertEqual(r.stdoutText, "x\n")
        XCTAssertFalse(r.timedOut)
    }
}
