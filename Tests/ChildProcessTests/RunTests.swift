import ChildProcess
import Foundation
import XCTest

/// `ChildProcess.run`: statuses, streams, environment and the errors of starting.
final class RunTests: XCTestCase {
    func testExitCodesAreReportedAsTheyAre() throws {
        for code: Int32 in [0, 1, 42, 255] {
            let r = try run(.init("sh", arguments: ["-c", "exit \(code)"]))
            XCTAssertEqual(r.termination, .exited(code))
            XCTAssertEqual(r.status, code)
            XCTAssertFalse(r.timedOut)
        }
    }

    func testADeathBySignalIs128PlusTheSignal() throws {
        let usr1 = try run(.init("sh", arguments: ["-c", "kill -USR1 $$"]))
        XCTAssertEqual(usr1.termination, .signaled(SIGUSR1))
        XCTAssertEqual(usr1.status, 128 + SIGUSR1)
        let killed = try run(.init("sh", arguments: ["-c", "kill -KILL $$"]))
        XCTAssertEqual(killed.termination, .signaled(SIGKILL))
        XCTAssertEqual(killed.status, 137)
    }

    func testStdoutAndStderrAreKeptApart() throws {
        let r = try run(.init("sh", arguments: ["-c", "echo out; echo err >&2; echo more"]))
        XCTAssertEqual(r.stdoutText, "out\nmore\n")
        XCTAssertEqual(r.stderrText, "err\n")
    }

    /// 50 MB in while 50 MB come back on each output: any order of blocking reads and
    /// writes would deadlock on the 64 KiB pipes.
    func testFiftyMegabytesInWhileFiftyComeOutOnBothStreams() throws {
        let input = pseudoRandomBytes(50_000_000)
        let r = try run(.init("tee", arguments: ["/dev/stderr"], stdin: .bytes(input)))
        XCTAssertEqual(r.termination, .exited(0), r.stderrText.prefix(200).description)
        XCTAssertEqual(r.stdout.count, input.count)
        XCTAssertEqual(r.stderr.count, input.count)
        XCTAssertTrue(r.stdout == input, "stdout differs from the input")
        XCTAssertTrue(r.stderr == input, "stderr differs from the input")
    }

    /// A child that stops reading early: we get EPIPE (not a SIGPIPE that would kill the
    /// test runner), drop the rest, and still collect its output and status.
    func testAChildThatClosesItsInputEarlyDoesNotKillUs() throws {
        let r = try run(.init("head", arguments: ["-c", "10"], stdin: .bytes(pseudoRandomBytes(20_000_000))))
        XCTAssertEqual(r.termination, .exited(0))
        XCTAssertEqual(r.stdout.count, 10)
        // The SIGPIPE we blocked around the write is neither left blocked nor pending.
        var mask = sigset_t(), pending = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &mask)
        sigpending(&pending)
        XCTAssertEqual(sigismember(&mask, SIGPIPE), 0)
        XCTAssertEqual(sigismember(&pending, SIGPIPE), 0)
    }

    func testStdinDefaultsToDevNull() throws {
        let r = try run(.init("cat"))
        XCTAssertEqual(r.termination, .exited(0))
        XCTAssertEqual(r.stdout, [])
        let shown = try run(.init("sh", arguments: ["-c", "readlink /proc/$$/fd/0"]))
        XCTAssertEqual(shown.stdoutText, "/dev/null\n")
    }

    func testDiscardedOutputGoesToDevNull() throws {
        // $(…) runs in a subshell, so /proc/$$ is the shell itself, not a redirected copy.
        let r = try run(.init("sh", arguments: ["-c", "echo out; echo err >&2; x=$(readlink /proc/$$/fd/1); echo $x >&2"],
                              stdout: .discard))
        XCTAssertEqual(r.stdout, [])
        XCTAssertEqual(r.stderrText, "err\n/dev/null\n")
    }

    func testEnvironmentAdditionsKeepTheRest() throws {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let r = try run(.init("sh", arguments: ["-c", "printf '%s|%s' \"$CHILDPROCESS_TEST\" \"$PATH\""],
                              environment: .inheritAdding(["CHILDPROCESS_TEST": "a b=c"])))
        XCTAssertEqual(r.stdoutText, "a b=c|\(path)")
    }

    func testAnExactEnvironmentHasNothingElse() throws {
        let r = try run(.init("env", environment: .exactly(["ONLY": "1", "ALSO": "x y"])))
        XCTAssertEqual(r.stdoutText, "ALSO=x y\nONLY=1\n")
    }

    /// The child's PATH, not ours, decides where a bare name is found.
    func testTheChildsPathIsSearched() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("childprocess-path-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = dir.appendingPathComponent("childprocess-only-here")
        try "#!/bin/sh\necho found\n".write(to: tool, atomically: true, encoding: .utf8)
        chmod(tool.path, 0o755)
        let r = try run(.init("childprocess-only-here", environment: .inheritAdding(["PATH": dir.path + ":/usr/bin:/bin"])))
        XCTAssertEqual(r.stdoutText, "found\n")
        XCTAssertNil(ChildProcess.lookUp("childprocess-only-here"))
        XCTAssertEqual(ChildProcess.lookUp("childprocess-only-here", path: dir.path), tool.path)
    }

    func testArgv0CanDifferFromTheProgram() throws {
        let r = try run(.init("/bin/sh", arguments: ["-c", "cat /proc/$$/cmdline"], argv0: "renamed-sh"))
        XCTAssertEqual(r.stdoutText.split(separator: "\0").first, "renamed-sh")
        let plain = try run(.init("/bin/sh", arguments: ["-c", "cat /proc/$$/cmdline"]))
        XCTAssertEqual(plain.stdoutText.split(separator: "\0").first, "/bin/sh")
    }

    func testWorkingDirectory() throws {
        let r = try run(.init("pwd", workingDirectory: "/usr/share"))
        XCTAssertEqual(r.stdoutText, "/usr/share\n")
    }

    func testAMissingProgramIsALookUpErrorWithErrno() {
        let name = "no-such-program-\(getpid())"
        XCTAssertThrowsError(try ChildProcess.run(.init(name))) { error in
            guard let e = error as? ChildProcessError else { return XCTFail("\(error)") }
            XCTAssertEqual(e, ChildProcessError(.lookUp, name, errno: ENOENT))
            XCTAssertEqual(e.description, "find \(name) in PATH: no such file or directory (ENOENT)")
        }
    }

    func testAProgramThatCannotBeExecutedIsASpawnError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("childprocess-noexec-\(getpid())")
        try "#!/bin/sh\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        chmod(file.path, 0o644)
        XCTAssertThrowsError(try ChildProcess.run(.init(file.path))) { error in
            guard let e = error as? ChildProcessError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.stage, .spawn)
            XCTAssertEqual(e.errno, EACCES)
            XCTAssertEqual(e.description, "start \(file.path): permission denied (EACCES)")
        }
        XCTAssertThrowsError(try ChildProcess.run(.init("pwd", workingDirectory: "/no/such/dir"))) { error in
            XCTAssertEqual((error as? ChildProcessError)?.errno, ENOENT)
        }
    }

    /// Signals we ignore or block are not passed on: tools expect the defaults.
    func testTheChildGetsDefaultSignalDispositions() throws {
        let old = signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, old) }
        var block = sigset_t(), saved = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &block, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        // grep reads its own status (a shell's may show the signals it blocks around fork).
        let r = try run(.init("grep", arguments: ["-E", "^Sig(Blk|Ign)", "/proc/self/status"]))
        for line in r.stdoutText.split(separator: "\n") {
            let mask = UInt64(line.split(separator: "\t").last ?? "", radix: 16) ?? .max
            // Bit n-1 is signal n: neither SIGINT ignored nor SIGUSR2 blocked came along.
            // (glibc's posix_spawn leaves its internal signals 32 and 33 ignored.)
            XCTAssertEqual(mask & (1 << UInt64(SIGINT - 1) | 1 << UInt64(SIGUSR2 - 1)), 0, String(line))
        }
        XCTAssertEqual(r.stdoutText.split(separator: "\n").count, 2)
    }
}
