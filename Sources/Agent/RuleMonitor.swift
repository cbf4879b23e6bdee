import Foundation

/// A long-lived `xtables-monitor -e` (iptables-nft's own event printer): every nftables
/// transaction as the rules it added, in `iptables-save` syntax (the tool prints both with the
/// same function), followed by `NEWGEN: GENID=g PID=p`. After an append of ours commits, the
/// transaction of generation g+1 by our child, holding exactly that one rule, says what the
/// kernel stored; the rules text of generation g plus that line is what `iptables-save` would
/// print at g+1 (AgentKernel), without starting it. Anything else (no monitor, no such
/// transaction in time, more than one event) leaves the real `iptables-save` to answer.
final class RuleMonitor: @unchecked Sendable {
    private let cond = NSCondition()
    private var pid: pid_t = 0
    private var output: Int32 = -1
    /// Event lines since the last NEWGEN.
    private var pending: [String] = []
    private var overflow = false
    /// The last transactions: generation, committing pid, event lines (nil: too many to keep).
    private var transactions: [(generation: UInt32, pid: Int32, events: [String]?)] = []
    private var ended = false

    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let stdbufPaths: [String] = ["/usr/bin/stdbuf", "/bin/stdbuf"]
        let dirs = (environment["EBPF_IPTABLES_TOOLS_PATH"] ?? "/usr/sbin:/sbin:/usr/bin:/bin").split(separator: ":").map(String.init)
        guard let monitor = dirs.map({ $0 + "/xtables-monitor" }).first(where: { access($0, X_OK) == 0 }),
              let stdbuf = stdbufPaths.first(where: { access($0, X_OK) == 0 }) else { return nil }
        var outPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for fd in outPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        // Line-buffered: its stdout is a pipe, which stdio would otherwise fill in 4 KB blocks.
        let argv = ["stdbuf", "-oL", monitor, "-e"]
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, stdbuf, &actions, nil, &cargs, environ)
        close(outPipe[1])
        guard rc == 0 else { close(outPipe[0]); return nil }
        _ = fcntl(outPipe[0], F_SETFD, FD_CLOEXEC)
        pid = child
        output = outPipe[0]
        let fd = output
        Thread.detachNewThread { [weak self] in Self.readLoop(fd: fd, into: self) }
    }

    deinit { stop() }

    private static func readLoop(fd: Int32, into monitor: RuleMonitor?) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var partial: [UInt8] = []
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0, let monitor else { monitor?.end(); return }
            partial += buffer[0..<n]
            var lines: [String] = []
            while let nl = partial.firstIndex(of: 10) {
                lines.append(String(decoding: partial[..<nl], as: UTF8.self))
                partial.removeSubrange(...nl)
            }
            if !lines.isEmpty { monitor.take(lines) }
        }
    }

    private func end() {
        cond.lock(); ended = true; cond.broadcast(); cond.unlock()
    }

    private func take(_ lines: [String]) {
        cond.lock()
        for line in lines {
            if line.hasPrefix("NEWGEN: ") {
                var gen: UInt32?, who: Int32?
                for w in line.split(separator: " ") {
                    if w.hasPrefix("GENID=") { gen = UInt32(w.dropFirst(6)) }
                    if w.hasPrefix("PID=") { who = Int32(w.dropFirst(4)) }
                }
                if let gen, let who { transactions.append((gen, who, overflow ? nil : pending)) }
                if transactions.count > 64 { transactions.removeFirst(transactions.count - 64) }
                pending = []
                overflow = false
            } else if !line.isEmpty, !overflow {
                pending.append(line)
                if pending.count > 16 { pending = []; overflow = true }
            }
        }
        cond.broadcast()
        cond.unlock()
    }

    /// The event lines of generation `generation` if `pid` committed it, waiting up to
    /// `timeout` for the monitor to print it.
    func transaction(generation: UInt32, pid who: Int32, timeout: TimeInterval) -> [String]? {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            if let t = transactions.last(where: { $0.generation == generation }) { return t.pid == who ? t.events : nil }
            if transactions.contains(where: { $0.generation > generation }) || ended { return nil }
            if !cond.wait(until: deadline) { return nil }
        }
    }

    func stop() {
        if pid > 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            pid = 0
        }
        if output >= 0 { close(output); output = -1 }
    }

    /// `iptables-save` text with `event` (` EVENT: -4 -t filter -A CHAIN …`) as the last rule
    /// of CHAIN in *filter; nil unless the chain already has a rule there to follow (then its
    /// place in the text is certain).
    static func appended(_ event: String, to text: String) -> String? {
        let prefix = "EVENT: -4 -t filter -A "
        let e = event.drop(while: { $0 == " " })
        guard e.hasPrefix(prefix) else { return nil }
        let rule = "-A " + e.dropFirst(prefix.count)
        let words = rule.split(separator: " ")
        guard words.count >= 3 else { return nil }
        let chainPrefix = "-A \(words[1]) "
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "*filter"),
              let commit = lines[start...].firstIndex(of: "COMMIT"),
              let last = lines[start..<commit].lastIndex(where: { $0.hasPrefix(chainPrefix) }) else { return nil }
        lines.insert(Substring(rule), at: last + 1)
        return lines.joined(separator: "\n")
    }
}
