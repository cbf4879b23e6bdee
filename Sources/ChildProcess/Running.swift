import Glibc

extension ChildProcess {
    /// A started child and our ends of its pipes. It owns the child: dropping the handle
    /// before `wait` has reaped it closes the pipes, SIGKILLs the child (its group, when it
    /// has one) and reaps it. Everything happens on the calling thread, in `poll` rounds that
    /// write pending input and read whatever output is there, so a child never blocks on a
    /// full pipe while we wait for something else.
    public struct Running: ~Copyable, Sendable {
        /// The child's process id (and process-group id, with `newProcessGroup`).
        public let pid: pid_t
        let name: String
        let ownGroup: Bool
        let grace: Duration
        let deadline: ContinuousClock.Instant?

        var stdin: Int32
        var stdout: Int32
        var stderr: Int32
        /// Readable once the child exited; -1 without pidfd_open (then we ask waitpid).
        var pidfd: Int32

        /// Input not written yet: `input[inputOffset...]`.
        var input: [UInt8]
        var inputOffset = 0
        var closeStdinWhenDrained: Bool
        /// The child closed its input before reading all we had for it.
        var inputRefused = false
        /// Output read but not consumed yet: `output[outputOffset...]`.
        var output: [UInt8] = []
        var outputOffset = 0
        var errors: [UInt8] = []

        /// Set once waitpid has reaped the child.
        var termination: Termination?
        /// waitpid said ECHILD: someone else reaped it (SIGCHLD ignored), its status is lost.
        var lost = false
        var timedOut = false
        /// Milliseconds to the next waitpid check when there is no pidfd (see `step`).
        var reapInterval: Int32 = 1

        init(pid: pid_t, name: String, command: Command, stdin: Int32, stdout: Int32, stderr: Int32,
             pidfd: Int32, input: [UInt8], closeStdinWhenDrained: Bool) {
            self.pid = pid
            self.name = name
            ownGroup = command.newProcessGroup
            grace = command.terminationGrace
            deadline = command.deadline.map { ContinuousClock.now.advanced(by: $0) }
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.pidfd = pidfd
            self.input = input
            self.closeStdinWhenDrained = closeStdinWhenDrained
            if input.isEmpty && closeStdinWhenDrained { Sys.close(&self.stdin) }
        }

        deinit {
            Sys.close(stdin)
            Sys.close(stdout)
            Sys.close(stderr)
            Sys.close(pidfd)
            if termination == nil && !lost {
                Glibc.kill(ownGroup ? -pid : pid, SIGKILL)
                _ = try? Sys.wait(pid, block: true)
            }
        }

        /// Whether the child has been reaped (or reaped by someone else).
        var exited: Bool { termination != nil || lost }

        /// Writes `bytes` to the child's input, reading its output meanwhile. Throws EPIPE
        /// when the child has closed its input (or exited), ETIMEDOUT when `deadline` passes
        /// first, EBADF when its input is not `.pipe` or was closed.
        public mutating func write(_ bytes: some Collection<UInt8>, deadline: Duration? = nil) throws(ChildProcessError) {
            guard stdin >= 0 else { throw ChildProcessError(.write, name, errno: inputRefused ? EPIPE : EBADF) }
            input.append(contentsOf: bytes)
            let end = deadline.map { ContinuousClock.now.advanced(by: $0) }
            while stdin >= 0 && inputOffset < input.count {
                if let end, ContinuousClock.now >= end { throw ChildProcessError(.write, name, errno: ETIMEDOUT) }
                try step(until: end)
            }
            if inputRefused { throw ChildProcessError(.write, name, errno: EPIPE) }
        }

        /// Ends the child's input: it reads end of file once it has read what was written.
        public mutating func closeStdin() {
            input = []
            inputOffset = 0
            Sys.close(&stdin)
        }

        /// The next line of the child's output, without its newline; the unterminated rest at
        /// end of file; nil once all is read. Throws ETIMEDOUT when `deadline` passes first.
        public mutating func readLine(deadline: Duration? = nil) throws(ChildProcessError) -> [UInt8]? {
            let end = deadline.map { ContinuousClock.now.advanced(by: $0) }
            while true {
                if let newline = output[outputOffset...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(output[outputOffset..<newline])
                    outputOffset = newline + 1
                    compactOutput()
                    return line
                }
                if stdout < 0 {
                    guard outputOffset < output.count else { return nil }
                    let rest = Array(output[outputOffset...])
                    outputOffset = output.count
                    return rest
                }
                if let end, ContinuousClock.now >= end { throw ChildProcessError(.read, name, errno: ETIMEDOUT) }
                try step(until: end)
            }
        }

        /// How the child ended if it has (waiting up to `timeout` for it), nil while it runs.
        /// Pipes are serviced meanwhile; nothing is signalled.
        public mutating func checkExit(waitingUpTo timeout: Duration = .zero) throws(ChildProcessError) -> Termination? {
            let end = ContinuousClock.now.advanced(by: timeout)
            while !exited {
                try reapIfExited()
                if exited || ContinuousClock.now >= end { break }
                try step(until: end)
            }
            if lost { throw ChildProcessError(.wait, name, errno: ECHILD) }
            return termination
        }

        /// Sends `signal` to the child, or to its process group when it leads one (that
        /// reaches descendants too, even after the child itself has been reaped).
        public func kill(_ signal: Int32 = SIGTERM) {
            if ownGroup {
                // The group id stays reserved while any member lives, so after the child is
                // reaped this reaches only its own descendants (or, group empty, no one).
                Glibc.kill(-pid, signal)
            } else if !exited {
                Glibc.kill(pid, signal)
            }
        }

        /// Ends the child's input (after what is pending), collects its output and reaps it.
        /// `deadline` counts from now; nil: the command's deadline, counted from the start.
        /// When it passes: SIGTERM, SIGKILL `terminationGrace` later (to the group, when the
        /// child leads one). The output is what `readLine` has not consumed.
        public mutating func wait(deadline: Duration? = nil) throws(ChildProcessError) -> Result {
            closeStdinWhenDrained = true
            if inputOffset >= input.count { closeStdin() }
            let end = deadline.map { ContinuousClock.now.advanced(by: $0) } ?? self.deadline
            var killAt: ContinuousClock.Instant?
            var killed = false
            var releaseBy: ContinuousClock.Instant?
            while true {
                let now = ContinuousClock.now
                if exited {
                    // Nobody reads the rest of its input now.
                    closeStdin()
                    if stdout < 0 && stderr < 0 { break }
                    // Descendants hold the output pipes: they get the grace, then go.
                    let by = releaseBy ?? now.advanced(by: grace)
                    releaseBy = by
                    if now >= by {
                        if ownGroup { kill(SIGKILL) }
                        Sys.close(&stdout)
                        Sys.close(&stderr)
                        break
                    }
                } else if let end, now >= end, killAt == nil {
                    timedOut = true
                    kill(SIGTERM)
                    killAt = now.advanced(by: grace)
                } else if let k = killAt, now >= k, !killed {
                    kill(SIGKILL)
                    killed = true
                }
                let wake = exited ? releaseBy : (killAt == nil ? end : (killed ? nil : killAt))
                try step(until: wake)
            }
            guard let termination else { throw ChildProcessError(.wait, name, errno: ECHILD) }
            let result = Result(termination: termination, stdout: Array(output[outputOffset...]),
                                stderr: errors, timedOut: timedOut)
            output = []
            outputOffset = 0
            errors = []
            return result
        }

        private mutating func compactOutput() {
            if outputOffset == output.count {
                output.removeAll(keepingCapacity: true)
                outputOffset = 0
            } else if outputOffset > 65536 && outputOffset > output.count / 2 {
                output.removeFirst(outputOffset)
                outputOffset = 0
            }
        }
    }
}
