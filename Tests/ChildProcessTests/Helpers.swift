import ChildProcess
import Foundation
import XCTest

/// What the tests look at in /proc: our open descriptors and our live or unreaped children.
enum ProcFS {
    static func openDescriptors() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [])
    }

    /// (pid, state) of every process whose parent is us: a zombie among them is a child
    /// nobody reaped.
    static func children() -> [(pid: Int32, state: Character)] {
        let me = getpid()
        var out: [(Int32, Character)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = self.stat(pid) else { continue }
            if stat.ppid == me { out.append((pid, stat.state)) }
        }
        return out
    }

    /// State and parent of `pid` from /proc/PID/stat; nil once it is gone.
    static func stat(_ pid: Int32) -> (state: Character, ppid: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let ppid = Int32(fields[1]) else { return nil }
        return (state, ppid)
    }

    /// Waits (bounded) until `pid` is gone or a zombie nobody of ours will reap; false if it
    /// still runs after `attempts` checks 10 ms apart.
    static func isDead(_ pid: Int32, attempts: Int = 500) -> Bool {
        for _ in 0..<attempts {
            guard let s = stat(pid) else { return true }
            if s.state == "Z" || s.state == "X" { return true }
            usleep(10_000)
        }
        return false
    }
}

extension XCTestCase {
    /// `run` that fails the test on a thrown error instead of needing `throws` everywhere.
    func run(_ command: ChildProcess.Command, file: StaticString = #filePath, line: UInt = #line) throws -> ChildProcess.Result {
        do {
            return try ChildProcess.run(command)
        } catch {
            XCTFail("\(error)", file: file, line: line)
            throw error
        }
    }

    /// Bytes that are not one repeated pattern, so a lost or reordered chunk shows.
    func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
        var state = seed
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var word = state
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: word >> 24)
                word >>= 8
                i += 1
            }
        }
        return out
    }
}
