import Foundation

/// Who holds the state lock: written into the lock file by the holder, read by a waiter
/// that gives up, so the message can name the process that is stuck.
public struct LockHolder: Equatable, Sendable {
    public var pid: Int32
    /// Seconds since the epoch; nil for a holder that is not one of us (it wrote nothing).
    public var since: Int64?
    public var command: String

    var line: String { "\(pid) \(since ?? 0) \(command)\n" }

    init(pid: Int32, since: Int64?, command: String) {
        self.pid = pid
        self.since = since
        self.command = command
    }

    init?(line: Substring) {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let pid = Int32(parts[0]), let since = Int64(parts[1]) else { return nil }
        self.init(pid: pid, since: since, command: parts.count > 2 ? String(parts[2]) : "")
    }
}

/// The exclusive lock every command of one installation takes, like `iptables -w`. The wait
/// is bounded: a command never hangs behind a stuck holder; it gives up and says who holds
/// the lock, since when, and whether that process still exists. flock(2) is released by the
/// kernel when its holder exits, and the descriptor is close-on-exec, so a child process
/// (iptables, ipset) can never keep it after we are gone.
public struct StateLock: Sendable {
    public let path: String
    public let wait: Duration

    public init(path: String, wait: Duration) {
        self.path = path
        self.wait = wait
    }

    /// `EBPF_IPTABLES_LOCK_WAIT` seconds (fractions allowed), else 30 s.
    public static func defaultWait(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Duration {
        if let s = env["EBPF_IPTABLES_LOCK_WAIT"], let v = Double(s), v >= 0 { return .milliseconds(Int64(v * 1000)) }
        return .seconds(30)
    }

    /// Runs `body` holding the lock; `command` is what a waiter will be told we are.
    public func withLock<T>(command: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError.io("open lock \(path)", errno) }
        defer { close(fd) }
        let start = ContinuousClock.now
        var pause = Duration.milliseconds(1)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR else { throw RuntimeError.io("lock \(path)", e) }
            let waited = ContinuousClock.now - start
            // The message names the setting it gave up by (EBPF_IPTABLES_LOCK_WAIT), not the
            // few milliseconds of the last nap beyond it.
            if waited >= wait { throw RuntimeError.lockBusy(holder: Self.holder(fd: fd), waited: wait) }
            let nap = min(pause, wait - waited)
            let ms = nap.components.seconds * 1000 + nap.components.attoseconds / 1_000_000_000_000_000
            usleep(useconds_t(max(ms, 1) * 1000))
            pause = min(pause * 2, .milliseconds(100))
        }
        defer { flock(fd, LOCK_UN) }
        Self.record(fd: fd, LockHolder(pid: getpid(), since: Int64(time(nil)), command: command))
        return try body()
    }

    static func record(fd: Int32, _ holder: LockHolder) {
        let bytes = Array(holder.line.utf8)
        _ = ftruncate(fd, 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Who holds the lock on `fd`'s file. The file says who took it last among us; the kernel
    /// (/proc/locks) says who holds it now. They differ when the holder is not one of us
    /// (`flock(1)`, a backup script) or when the last of us left the file behind: then the
    /// kernel's holder is named, with its command line.
    static func holder(fd: Int32) -> LockHolder? {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let recorded = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first.flatMap { LockHolder(line: $0) } : nil
        guard let pid = kernelHolder(fd: fd) else { return recorded }
        if let recorded, recorded.pid == pid { return recorded }
        return LockHolder(pid: pid, since: nil, command: commandLine(pid) ?? "?")
    }

    /// The pid /proc/locks gives for the flock on `fd`'s file (device and inode), if any.
    static func kernelHolder(fd: Int32) -> Int32? {
        var st = stat()
        guard fstat(fd, &st) == 0, let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let dev = UInt64(st.st_dev)
        let major = (dev >> 8) & 0xfff | (dev >> 32) & ~UInt64(0xfff)
        let minor = dev & 0xff | (dev >> 12) & ~UInt64(0xff)
        let id = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(st.st_ino))
        for line in locks.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 4818 fe:00:16237290 0 EOF"; waiters read "1: -> FLOCK ...".
            let f = line.split(separator: " ")
            guard f.count >= 6, f[1] == "FLOCK", f[5] == Substring(id), let pid = Int32(f[4]), pid > 0 else { continue }
            return pid
        }
        return nil
    }

    static func commandLine(_ pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    static func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }
}
