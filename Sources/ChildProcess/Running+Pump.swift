import Glibc

extension ChildProcess.Running {
    private enum Role { case stdin, stdout, stderr, exit }

    /// Bytes moved per read and at most per write.
    private static let chunk = 65536

    /// One poll round: waits until a pipe is ready, the child exits or `wake` comes, then
    /// writes what input the pipe takes, reads what output is there, and reaps the child if
    /// it exited. Returns at once when nothing could ever happen.
    mutating func step(until wake: ContinuousClock.Instant?) throws(ChildProcessError) {
        var fds: [pollfd] = []
        var roles: [Role] = []
        func watch(_ fd: Int32, _ events: Int32, _ role: Role) {
            fds.append(pollfd(fd: fd, events: Int16(events), revents: 0))
            roles.append(role)
        }
        if stdin >= 0 && inputOffset < input.count { watch(stdin, POLLOUT, .stdin) }
        if stdout >= 0 { watch(stdout, POLLIN, .stdout) }
        if stderr >= 0 { watch(stderr, POLLIN, .stderr) }
        if !exited && pidfd >= 0 { watch(pidfd, POLLIN, .exit) }

        var timeout = wake.map(Self.milliseconds(until:)) ?? -1
        let askWaitpid = !exited && pidfd < 0
        if askWaitpid {
            // Without a pidfd only waitpid can tell, so it is asked on a timer that backs off
            // from 1 ms (most children are done soon after their pipes close) to 32 ms.
            timeout = timeout < 0 ? reapInterval : min(timeout, reapInterval)
            reapInterval = min(reapInterval * 2, 32)
        }
        if fds.isEmpty && timeout < 0 { return }

        do {
            try Sys.poll(&fds, timeoutMilliseconds: timeout)
        } catch {
            throw ChildProcessError(.poll, name, errno: error.code)
        }
        for (i, role) in roles.enumerated() where fds[i].revents != 0 {
            switch role {
            case .stdin: try writeInput()
            case .stdout: try readOutput(into: .stdout)
            case .stderr: try readOutput(into: .stderr)
            case .exit: try reapIfExited()
            }
        }
        if askWaitpid { try reapIfExited() }
    }

    /// Reaps the child if it has exited, without blocking.
    mutating func reapIfExited() throws(ChildProcessError) {
        guard !exited else { return }
        do {
            if let status = try Sys.wait(pid, block: false) {
                termination = Self.decode(status)
                Sys.close(&pidfd)
            }
        } catch where error.code == ECHILD {
            lost = true
            Sys.close(&pidfd)
        } catch {
            throw ChildProcessError(.wait, name, errno: error.code)
        }
    }

    /// waitpid's status word (WIFEXITED/WEXITSTATUS/WTERMSIG, which Swift does not import).
    static func decode(_ status: Int32) -> ChildProcess.Termination {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    private mutating func writeInput() throws(ChildProcessError) {
        var written: Int?
        var failure: Int32 = 0
        let fd = stdin, from = inputOffset, to = min(input.count, inputOffset + Self.chunk)
        input.withUnsafeBytes { all in
            do throws(Sys.Errno) {
                written = try Sys.write(fd, UnsafeRawBufferPointer(rebasing: all[from..<to]))
            } catch {
                failure = error.code
            }
        }
        if failure == EPIPE {
            // The child closed its input (or exited): what it did not read is dropped.
            inputRefused = true
            closeStdin()
            return
        }
        if failure != 0 { throw ChildProcessError(.write, name, errno: failure) }
        guard let written else { return }
        inputOffset += written
        if inputOffset == input.count {
            input = []
            inputOffset = 0
            if closeStdinWhenDrained { closeStdin() }
        }
    }

    private enum Stream { case stdout, stderr }

    private mutating func readOutput(into stream: Stream) throws(ChildProcessError) {
        let fd = stream == .stdout ? stdout : stderr
        var count: Int?
        var failure: Int32 = 0
        withUnsafeTemporaryAllocation(byteCount: Self.chunk, alignment: 1) { buffer in
            do throws(Sys.Errno) {
                count = try Sys.read(fd, into: buffer)
            } catch {
                failure = error.code
                return
            }
            guard let n = count, n > 0 else { return }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            switch stream {
            case .stdout: output.append(contentsOf: bytes)
            case .stderr: errors.append(contentsOf: bytes)
            }
        }
        if failure != 0 { throw ChildProcessError(.read, name, errno: failure) }
        if count == 0 {
            switch stream {
            case .stdout: Sys.close(&stdout)
            case .stderr: Sys.close(&stderr)
            }
        }
    }

    /// poll's timeout for `instant`, rounded up so we never wake just before it.
    private static func milliseconds(until instant: ContinuousClock.Instant) -> Int32 {
        let left = ContinuousClock.now.duration(to: instant)
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }
}
