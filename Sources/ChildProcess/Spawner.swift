import Glibc

/// posix_spawn with the pipes, file actions and attributes a `Command` asks for.
enum Spawner {
    /// PATH when the environment has none (the same default as glibc's execvp, with sbin
    /// directories first since the tools we run live there).
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Tests turn this off to run the waitpid-on-a-timer path that glibc < 2.36 and kernels
    /// < 5.3 take.
    nonisolated(unsafe) static var usePidfd = true

    static func resolve(_ name: String, path: String?) -> String? {
        if name.contains("/") { return name }
        guard !name.isEmpty else { return nil }
        let search = path.flatMap { $0.isEmpty ? nil : $0 } ?? defaultPath
        for dir in search.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            if Sys.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// The child's environment as `NAME=value` strings; nil: pass ours through untouched.
    static func entries(_ environment: ChildProcess.Environment) -> [String]? {
        switch environment {
        case .inherit:
            return nil
        case .exactly(let vars):
            return vars.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        case .inheritAdding(let vars):
            var out = Sys.environmentEntries().filter { entry in
                let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                return vars[String(name)] == nil
            }
            out += vars.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return out
        }
    }

    static func start(_ command: ChildProcess.Command) throws(ChildProcessError) -> ChildProcess.Running {
        let name = command.executable
        let environment = entries(command.environment)
        let childPath = environment.map { vars in
            vars.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
        } ?? Sys.environmentValue("PATH")
        guard let path = resolve(name, path: childPath) else {
            throw ChildProcessError(.lookUp, name, errno: ENOENT)
        }

        // Every descriptor made here is closed on every path out: the child's ends right
        // after posix_spawn, ours by the handle (or here, when starting fails).
        var pipes = Pipes()
        do {
            if case .bytes = command.stdin { pipes.stdin = try Sys.pipe() }
            if command.stdin == .pipe { pipes.stdin = try Sys.pipe() }
            if command.stdout == .capture { pipes.stdout = try Sys.pipe() }
            if command.stderr == .capture { pipes.stderr = try Sys.pipe() }
        } catch {
            pipes.closeAll()
            throw ChildProcessError(.pipe, name, errno: error.code)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var problem: Int32 = 0
        func check(_ result: Int32) { if problem == 0 && result != 0 { problem = result } }

        switch command.stdin {
        case .null: check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0))
        case .inherit: break
        case .bytes, .pipe: if let p = pipes.stdin { check(posix_spawn_file_actions_adddup2(&actions, p.read, 0)) }
        }
        for (output, fd, pipe) in [(command.stdout, Int32(1), pipes.stdout), (command.stderr, Int32(2), pipes.stderr)] {
            switch output {
            case .discard: check(posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0))
            case .inherit: break
            case .capture: if let p = pipe { check(posix_spawn_file_actions_adddup2(&actions, p.write, fd)) }
            }
        }
        if let dir = command.workingDirectory {
            if let addChdir = GNUExtensions.addChdir { check(addChdir(&actions, dir)) } else { check(ENOSYS) }
        }
        // Without closefrom (glibc < 2.34) close-on-exec on our own descriptors still holds.
        if let addCloseFrom = GNUExtensions.addCloseFrom { check(addCloseFrom(&actions, 3)) }

        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if command.newProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            check(posix_spawnattr_setpgroup(&attributes, 0))
        }
        // A caller that blocks or ignores signals (we block SIGPIPE around writes) must not
        // pass that on: tools expect the defaults.
        var none = sigset_t()
        sigemptyset(&none)
        check(posix_spawnattr_setsigmask(&attributes, &none))
        var all = sigset_t()
        sigfillset(&all)
        check(posix_spawnattr_setsigdefault(&attributes, &all))
        check(posix_spawnattr_setflags(&attributes, Int16(flags)))

        var pid: pid_t = 0
        if problem == 0 {
            let argv = [command.argv0 ?? name] + command.arguments
            problem = withCStrings(argv) { argvC in
                if let environment {
                    return withCStrings(environment) { envC in posix_spawn(&pid, path, &actions, &attributes, argvC, envC) }
                }
                return posix_spawn(&pid, path, &actions, &attributes, argvC, environ)
            }
        }
        pipes.closeChildEnds()
        guard problem == 0 else {
            pipes.closeAll()
            throw ChildProcessError(.spawn, name, errno: problem)
        }

        let ours = pipes.parentEnds()
        for fd in [ours.stdin, ours.stdout, ours.stderr] where fd >= 0 { Sys.setNonBlocking(fd) }
        var initialInput: [UInt8] = []
        if case .bytes(let b) = command.stdin { initialInput = b }
        return ChildProcess.Running(
            pid: pid, name: name, command: command, stdin: ours.stdin, stdout: ours.stdout,
            stderr: ours.stderr, pidfd: (usePidfd ? GNUExtensions.pidfdOpen.map { $0(pid, 0) } : nil) ?? -1,
            input: initialInput, closeStdinWhenDrained: command.stdin != .pipe)
    }

    /// The three pipes of a child, each nil when that stream is not captured.
    private struct Pipes {
        var stdin: (read: Int32, write: Int32)?
        var stdout: (read: Int32, write: Int32)?
        var stderr: (read: Int32, write: Int32)?

        mutating func closeChildEnds() {
            if let p = stdin { Sys.close(p.read); stdin = (-1, p.write) }
            if let p = stdout { Sys.close(p.write); stdout = (p.read, -1) }
            if let p = stderr { Sys.close(p.write); stderr = (p.read, -1) }
        }

        func closeAll() {
            for p in [stdin, stdout, stderr] {
                if let p { Sys.close(p.read); Sys.close(p.write) }
            }
        }

        func parentEnds() -> (stdin: Int32, stdout: Int32, stderr: Int32) {
            (stdin?.write ?? -1, stdout?.read ?? -1, stderr?.read ?? -1)
        }
    }

    /// A NULL-terminated array of C strings, alive for the call of `body`; ENOMEM when
    /// copying them failed.
    private static func withCStrings(_ strings: [String],
                                     _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Int32) -> Int32 {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        defer { for p in copies { free(p) } }
        guard !copies.dropLast().contains(nil) else { return ENOMEM }
        return copies.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return EINVAL }
            return body(base)
        }
    }
}
