import Foundation
import Loader

/// A long-lived `iptables-restore --noflush` the agent feeds one-rule changes to, instead of
/// starting `iptables` for each (a process start is most of `iptables -A`'s time).
/// xtables-restore commits each `COMMIT` as it reads it; the commit is known by nftables'
/// NEWGEN notification carrying our child's pid, a failure by the child exiting (it stops at
/// the first error). Nothing else is taken as an answer: the caller runs the real `iptables`
/// only after a failure, when nothing was committed, so no rule is ever applied twice.
final class RestoreSession {
    private let path: String
    private var pid: pid_t = 0
    private var input: Int32 = -1
    private var errors: Int32 = -1

    /// What one change came to.
    enum Outcome: Equatable {
        /// Committed by our child (with whatever it wrote on stderr, normally nothing).
        case committed(stderr: String)
        /// The child refused (or could not run): nothing was committed.
        case refused
        /// No answer in time: the commit may or may not have happened.
        case unknown(String)
    }

    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let dirs = (environment["EBPF_IPTABLES_TOOLS_PATH"] ?? "/usr/sbin:/sbin:/usr/bin:/bin").split(separator: ":")
        let candidates: [String] = dirs.map { String($0) + "/iptables-restore" }
        guard let p = candidates.first(where: { access($0, X_OK) == 0 }),
              Self.isELF(p) else { return nil }
        path = p
    }

    deinit { stop() }

    /// A wrapper script (the benchmark's timers) would commit under another pid.
    static func isELF(_ p: String) -> Bool {
        guard let r = realpath(p, nil) else { return false }
        defer { free(r) }
        let fd = open(r, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        return read(fd, &magic, 4) == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]
    }

    /// `argv` as one line of a restore file, when every word survives xtables-restore's
    /// tokenizer unchanged (no blanks, quotes or comment marks) and the command is a plain
    /// `-A CHAIN …` on the filter table without options only the iptables command takes.
    static func line(for argv: [String]) -> String? {
        guard argv.count >= 3, argv[0] == "-A", !argv[1].hasPrefix("-") else { return nil }
        let refused: Set<String> = ["-t", "--table", "-w", "--wait", "-W", "--wait-interval", "-v", "--verbose", "-n",
                                    "--numeric", "-x", "--exact", "--line-numbers", "-4", "--ipv4", "-6", "--ipv6",
                                    "-M", "--modprobe", "-h", "--help", "-c", "--set-counters", "-A", "--append"]
        for (i, w) in argv.enumerated() {
            if w.isEmpty || w.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "#" || $0 == "\\" }) { return nil }
            if i > 0, refused.contains(w) { return nil }
            if w.hasPrefix("--") && w.contains("=") { return nil }
        }
        return argv.joined(separator: " ")
    }

    /// Appends through the child: `*filter`, the line, `COMMIT`.
    func run(line: String, timeout: Int32 = 10_000) -> Outcome {
        guard ensureRunning() else { return .refused }
        // Listen for nftables' notifications before writing: the NEWGEN of our commit.
        let monitor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12)
        guard monitor >= 0 else { return .refused }
        defer { close(monitor) }
        var size: Int32 = 4 << 20
        setsockopt(monitor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var addr = [UInt8](repeating: 0, count: 12)
        addr[0] = UInt8(AF_NETLINK)
        addr[8] = 1 << (7 - 1) // NFNLGRP_NFTABLES = 7
        let bound = addr.withUnsafeBytes { bind(monitor, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) }
        guard bound == 0 else { return .refused }
        let text = Array("*filter\n\(line)\nCOMMIT\n".utf8)
        var off = 0
        while off < text.count {
            let w = text.withUnsafeBytes { write(input, $0.baseAddress! + off, text.count - off) }
            if w < 0 {
                if errno == EINTR { continue }
                // The child is gone (EPIPE): it read nothing of this change.
                stop()
                return .refused
            }
            off += w
        }
        var stderrText: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout))
        while ContinuousClock.now < deadline {
            var fds = [pollfd(fd: monitor, events: Int16(POLLIN), revents: 0), pollfd(fd: errors, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, 100)
            if n < 0 && errno != EINTR { break }
            if fds[1].revents != 0 {
                let r = read(errors, &buf, buf.count)
                if r > 0 { stderrText += buf[0..<r] }
                if r == 0 {
                    // stderr closed: the child exited, at its first error, before any commit.
                    stop()
                    return .refused
                }
            }
            if fds[0].revents != 0 {
                let r = recv(monitor, &buf, buf.count, Int32(MSG_DONTWAIT))
                if r < 0 && errno == ENOBUFS { return .unknown("nftables notifications overflowed") }
                if r > 0, Self.newGen(in: Array(buf[0..<r]), pid: UInt32(pid)) {
                    return .committed(stderr: String(decoding: stderrText, as: UTF8.self))
                }
            }
            // An exit without a word on stderr is a refusal too.
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                stop()
                return .refused
            }
        }
        stop()
        return .unknown("iptables-restore did not answer within \(timeout / 1000) s")
    }

    /// Whether `bytes` (netlink messages) hold NFT_MSG_NEWGEN from `pid`.
    static func newGen(in bytes: [UInt8], pid: UInt32) -> Bool {
        var off = 0
        while off + 20 <= bytes.count {
            let len = Int(UInt32(bytes[off]) | UInt32(bytes[off + 1]) << 8 | UInt32(bytes[off + 2]) << 16 | UInt32(bytes[off + 3]) << 24)
            let type = UInt16(bytes[off + 4]) | UInt16(bytes[off + 5]) << 8
            guard len >= 16, off + len <= bytes.count else { return false }
            if type == (10 << 8 | 15) { // NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN
                var a = off + 20
                while a + 4 <= off + len {
                    let alen = Int(UInt16(bytes[a]) | UInt16(bytes[a + 1]) << 8)
                    let atype = (UInt16(bytes[a + 2]) | UInt16(bytes[a + 3]) << 8) & 0x3fff
                    guard alen >= 4 else { break }
                    if atype == 2, alen >= 8 { // NFTA_GEN_PROC_PID, big-endian
                        let p = UInt32(bytes[a + 4]) << 24 | UInt32(bytes[a + 5]) << 16 | UInt32(bytes[a + 6]) << 8 | UInt32(bytes[a + 7])
                        if p == pid { return true }
                    }
                    a += (alen + 3) & ~3
                }
            }
            off += (len + 3) & ~3
        }
        return false
    }

    private func ensureRunning() -> Bool {
        if pid > 0 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == 0 { return true }
            pid = 0
            stop()
        }
        var inPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0 else { return false }
        guard pipe(&errPipe) == 0 else { close(inPipe[0]); close(inPipe[1]); return false }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in [inPipe[0], inPipe[1], errPipe[0], errPipe[1]] { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = ["iptables-restore", "--noflush"]
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, nil, &cargs, environ)
        close(inPipe[0])
        close(errPipe[1])
        guard rc == 0 else { close(inPipe[1]); close(errPipe[0]); return false }
        _ = fcntl(inPipe[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(errPipe[0], F_SETFD, FD_CLOEXEC)
        pid = child
        input = inPipe[1]
        errors = errPipe[0]
        return true
    }

    /// Ends the child (end of input, then a kill if it lingers) and closes the pipes.
    func stop() {
        if input >= 0 { close(input); input = -1 }
        if errors >= 0 { close(errors); errors = -1 }
        if pid > 0 {
            var status: Int32 = 0
            for _ in 0..<50 where waitpid(pid, &status, WNOHANG) == 0 { usleep(2_000) }
            if waitpid(pid, &status, WNOHANG) == 0 {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
            pid = 0
        }
    }
}
