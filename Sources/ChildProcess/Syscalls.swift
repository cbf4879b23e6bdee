import Glibc

/// The only file of this module that calls into the C library directly; everything else goes
/// through these wrappers, which retry on EINTR and return errno as a value.
enum Sys {
    /// A failed call's errno.
    struct Errno: Error {
        var code: Int32
    }

    /// A pipe whose two ends are close-on-exec and numbered 3 or above. Close-on-exec keeps
    /// every child (ours or one started by other code at the same moment) from inheriting it;
    /// 3 or above keeps `dup2(end, 0/1/2)` in the child a real copy even when our own
    /// standard descriptors happen to be closed.
    static func pipe() throws(Errno) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if let pipe2 = GNUExtensions.pipe2 {
            guard pipe2(&fds, O_CLOEXEC) == 0 else { throw Errno(code: errno) }
        } else {
            // Only when glibc lacks pipe2 (never, since 2.9): a child started by another
            // thread right now could inherit these; ours close everything above 2 anyway.
            guard Glibc.pipe(&fds) == 0 else { throw Errno(code: errno) }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        do throws(Errno) {
            let r = try aboveStandard(fds[0])
            do throws(Errno) {
                return (r, try aboveStandard(fds[1]))
            } catch {
                close(r)
                throw error
            }
        } catch {
            close(fds[1])
            throw error
        }
    }

    private static func aboveStandard(_ fd: Int32) throws(Errno) -> Int32 {
        guard fd < 3 else { return fd }
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        let e = errno
        close(fd)
        guard moved >= 0 else { throw Errno(code: e) }
        return moved
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Closes `fd` unless it is already -1, and sets it to -1. EINTR is not retried: on Linux
    /// the descriptor is gone even then.
    static func close(_ fd: inout Int32) {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    static func close(_ fd: Int32) {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// `read`; 0 at end of file, nil when nothing is there yet.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            default: throw Errno(code: errno)
            }
        }
    }

    /// `write` without the SIGPIPE a closed reader would send us: the signal is blocked on
    /// this thread for the call and, if the write raised it, taken off the pending set, so
    /// only EPIPE remains. Changing the process-wide disposition instead would also change it
    /// for the program's own code and for every child that inherits it.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int? {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var saved = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        var pendingBefore = sigset_t()
        sigpending(&pendingBefore)
        let wasPending = sigismember(&pendingBefore, SIGPIPE) == 1
        while true {
            let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            let e = errno
            switch e {
            case EINTR: continue
            case EAGAIN: return nil
            case EPIPE:
                if !wasPending {
                    var now = timespec(tv_sec: 0, tv_nsec: 0)
                    while sigtimedwait(&pipeSignal, nil, &now) < 0 && errno == EINTR {}
                }
                throw Errno(code: e)
            default: throw Errno(code: e)
            }
        }
    }

    /// `poll`; EINTR counts as "nothing happened".
    static func poll(_ fds: inout [pollfd], timeoutMilliseconds: Int32) throws(Errno) {
        let n = Glibc.poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        if n < 0 && errno != EINTR { throw Errno(code: errno) }
        if n < 0 { for i in fds.indices { fds[i].revents = 0 } }
    }

    /// What `waitpid` says about the child: its raw status once it is reaped, nil while it
    /// runs (only with `block: false`).
    static func wait(_ pid: pid_t, block: Bool) throws(Errno) -> Int32? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, block ? 0 : WNOHANG)
            if r == pid { return status }
            if r == 0 { return nil }
            if errno != EINTR { throw Errno(code: errno) }
        }
    }

    /// Whether `path` names a regular file we may execute.
    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// The value of a variable of our own environment.
    static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Our own environment as `NAME=value` strings, in the order the C library keeps them.
    static func environmentEntries() -> [String] {
        var out: [String] = []
        let table: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        guard var p = table else { return out }
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }
}

/// glibc functions declared only under _GNU_SOURCE (which Swift's Glibc module is not built
/// with) or in headers that module leaves out, found at run time instead. Each is optional:
/// an older glibc lacks them, and the caller says what it does then.
enum GNUExtensions {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32

    /// pipe2 (glibc 2.9): a pipe born close-on-exec, with no moment in which another
    /// thread's child could inherit it.
    static let pipe2: Pipe2? = symbol("pipe2", as: Pipe2.self)

    /// glibc 2.34: closes every descriptor from N up in the child before exec, so it inherits
    /// nothing but 0, 1 and 2 even from code that opened descriptors without close-on-exec.
    static let addCloseFrom: AddCloseFrom? =
        symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)
    /// glibc 2.29: the child's working directory, changed after fork and before exec.
    static let addChdir: AddChdir? =
        symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)
    /// glibc 2.36 (the system call exists since Linux 5.3): a descriptor that polls readable
    /// when the child exits, so we learn of the exit without SIGCHLD (process-wide, and other
    /// code may own it) and without waking up on a timer.
    static let pidfdOpen: PidfdOpen? = symbol("pidfd_open", as: PidfdOpen.self)

    private static func symbol<F>(_ name: String, as type: F.Type) -> F? {
        // dlsym(RTLD_DEFAULT, …): RTLD_DEFAULT is the null handle in glibc.
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: type)
    }
}
