import Agent
import ArgumentParser
import Foundation
import Glibc
import IptParse
import Logging
import Runtime

/// `ebpf-iptables apply FILE [--timeout S]`: iptables-apply for both layers. Saves the
/// running ruleset (and, with `--ipset`, the sets the files name), applies FILE with the
/// same all-or-nothing restore as `ebpf-iptables-restore`, asks on the terminal whether
/// NEW connections still work, and rolls both layers back when no `y` comes within S
/// seconds (or the session dies: SIGHUP, SIGINT, SIGTERM roll back too, where
/// iptables-apply would leave the new rules in place). Exit statuses are iptables-apply's:
/// 0 confirmed, 255 rolled back, 2 a file not readable, 1 a bad timeout, 4 the running
/// ruleset could not be saved, 5 FILE was refused (nothing applied), 9 `--write` failed.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply a ruleset, wait for confirmation, roll back both layers without it (as iptables-apply).",
        discussion: """
            After a confirmation the saved files under the configuration directory \
            (EBPF_IPTABLES_CONFIG, default /etc/ebpf-iptables) are rewritten when they are in \
            use (a saved ruleset is there) or with --persist; before it they keep the old \
            ruleset, so a reboot while waiting brings the old one back.
            """)

    @OptionGroup var input: RulesetInput

    @Option(name: [.customShort("t"), .customLong("timeout")], help: "Seconds to wait for the answer (default 10, as iptables-apply).")
    var timeout: String = "10"

    @Option(name: [.customShort("w"), .customLong("write")], help: "After a confirmation, write the applied ruleset (iptables-save text) to this file.")
    var write: String?

    @Flag(help: "After a confirmation, write the saved ruleset under the configuration directory even if none is there yet.")
    var persist = false

    func run() throws {
        guard let seconds = Int(timeout), seconds >= 0 else {
            Self.err("Error: timeout must be a positive number")
            throw ExitCode(1)
        }
        let fileName = input.file ?? "-"
        guard let text = Self.read(input.file) else {
            Self.err("Error: rulesfile not readable: \(fileName)")
            throw ExitCode(2)
        }
        var setFiles: [(name: String, text: String)] = []
        for f in input.ipsetFiles {
            guard let t = Self.read(f) else {
                Self.err("Error: ipset file not readable: \(f)")
                throw ExitCode(2)
            }
            setFiles.append((name: f, text: t))
        }
        if let write, FileManager.default.fileExists(atPath: write), !FileManager.default.isWritableFile(atPath: write) {
            Self.err("Error: savefile not writable: \(write)")
            throw ExitCode(8)
        }
        // The answer comes from standard input; the rules file cannot be read from it too.
        if input.file == nil {
            Self.err("Error: apply reads the answer from standard input: give the rules file by name")
            throw ExitCode(2)
        }
        let family = input.family
        let firewall = CLI.firewall()
        let plan = ApplyPlan(firewall: firewall, family: family, source: fileName, text: text, setFiles: setFiles)
        let status = try plan.run(seconds: seconds) { ok in
            guard ok else { return 0 }
            if let write {
                let saved = try? firewall.save(family: family, counters: false, table: nil)
                guard let saved, saved.ok, (try? Data(saved.stdout.utf8).write(to: URL(fileURLWithPath: write))) != nil else {
                    Self.err("Error: unknown error writing successfully applied rules: \(write)")
                    return 9
                }
                Self.out("Writing successfully applied rules to '\(write)'...\n")
            }
            let persistence = Persistence(directory: firewall.store.paths.configDir)
            let files = persistence.files
            if persist || [files.rulesV4, files.rulesV6, files.sets].contains(where: files.exists) {
                do {
                    let summary = try persistence.saveAll(firewall: firewall, logger: Logger(label: "ebpf-iptables"))
                    Self.out(summary + "\n")
                } catch {
                    Self.err("Error: writing the saved ruleset to \(persistence.directory) failed: \(error)")
                    return 9
                }
            }
            return 0
        }
        if status != 0 { throw ExitCode(status) }
    }

    static func read(_ path: String?) -> String? {
        guard let path, let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func out(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }
    static func err(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

/// One apply: what runs now, kept for the rollback; the new ruleset; the question.
struct ApplyPlan {
    let firewall: Firewall
    let family: Family
    let source: String
    let text: String
    let setFiles: [(name: String, text: String)]

    /// Runs the apply; `confirmed(true)` after a yes returns the exit status (0, or 9 when
    /// writing failed). Returns the exit status.
    func run(seconds: Int, confirmed: (Bool) throws -> Int32) throws -> Int32 {
        // What runs now: the rules of this family, and the sets the files will replace.
        let old = try firewall.save(family: family, counters: false, table: nil)
        guard old.ok else {
            Apply.err("Error: unknown error saving old iptables rules: \(old.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            return 4
        }
        let names = Set(setFiles.flatMap { f in
            f.text.split(separator: "\n").compactMap { line -> String? in
                let w = line.split(separator: " ")
                return w.count >= 2 && w[0] == "create" ? String(w[1]) : nil
            }
        })
        var oldSets = ""
        var existed: Set<String> = []
        if !names.isEmpty {
            let s = try firewall.ipset(["save"], stdin: nil)
            guard s.ok else {
                Apply.err("Error: unknown error saving old sets: \(s.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
                return 4
            }
            for line in s.stdout.split(separator: "\n") {
                let w = line.split(separator: " ")
                guard w.count >= 2, names.contains(String(w[1])) else { continue }
                if w[0] == "create" { existed.insert(String(w[1])) }
                oldSets += line + "\n"
            }
        }
        let options = firewall.store.compileOptions

        Apply.out("Applying new iptables rules from '\(source)'... ")
        var req = RestoreRequest(family: family, text: text, source: source, setFiles: setFiles)
        req.options = options
        let applied = try firewall.restore(req)
        guard applied.ok else {
            Apply.out("failed.\n")
            FileHandle.standardError.write(Data(applied.stderr.utf8))
            // All or nothing: the restore refused, the old ruleset never left.
            Apply.err("Error: unknown error applying new iptables rules: \(source)")
            return 5
        }
        Apply.out("done.\n")
        if !applied.stderr.isEmpty { FileHandle.standardError.write(Data(applied.stderr.utf8)) }

        Apply.out("Can you establish NEW connections to the machine? (y/N) ")
        let answer = Answer.read(seconds: seconds)
        Apply.out("\n")
        switch answer {
        case .yes:
            let status = try confirmed(true)
            if status == 0 { Apply.out("... then my job is done. See you next time.\n") }
            return status
        case .timeout:
            Apply.out("Timeout! Something happened (or did not). Better play it safe...\n")
        case .no:
            Apply.out("No affirmative response! Better play it safe...\n")
        case let .signal(n):
            Apply.out("Interrupted (signal \(n))! Better play it safe...\n")
        }
        Apply.out("Reverting to old iptables rules... ")
        var back = RestoreRequest(family: family, text: old.stdout, source: "<the ruleset before apply>",
                                  setFiles: oldSets.isEmpty ? [] : [(name: "<the sets before apply>", text: oldSets)])
        back.options = options
        let reverted = try firewall.restore(back)
        guard reverted.ok else {
            Apply.out("failed.\n")
            FileHandle.standardError.write(Data(reverted.stderr.utf8))
            Apply.err("Error: rolling back failed; the new rules from \(source) are still in place")
            return 255
        }
        // Sets the files created: no rule of the old ruleset names them.
        for name in names.subtracting(existed).sorted() { _ = try? firewall.ipset(["destroy", name], stdin: nil) }
        Apply.out("done.\n")
        return 255
    }
}

/// The operator's answer on standard input, within a deadline; a signal that would end the
/// session (SIGHUP when the connection drops, SIGINT, SIGTERM) counts as no answer.
enum Answer: Equatable {
    case yes, no, timeout
    case signal(Int32)

    nonisolated(unsafe) static var pipeFDs: [Int32] = [-1, -1]
    nonisolated(unsafe) static var caught: Int32 = 0

    static func read(seconds: Int) -> Answer {
        if pipeFDs[0] < 0 { _ = pipe(&pipeFDs) }
        for s in [SIGHUP, SIGINT, SIGTERM] {
            Glibc.signal(s) { n in
                Answer.caught = n
                var b: UInt8 = 1
                _ = Glibc.write(Answer.pipeFDs[1], &b, 1)
            }
        }
        defer { for s in [SIGHUP, SIGINT, SIGTERM] { Glibc.signal(s, SIG_DFL) } }
        var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0), pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)]
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds) * 1_000_000_000
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return .timeout }
            let left = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
            let n = poll(&fds, 2, left)
            if n < 0 {
                if errno == EINTR { if caught != 0 { return .signal(caught) }; continue }
                return .timeout
            }
            if n == 0 { return .timeout }
            if fds[1].revents != 0 { return .signal(caught) }
            var b: UInt8 = 0
            // End of input: nobody will answer.
            guard Glibc.read(0, &b, 1) == 1 else { return .timeout }
            // iptables-apply reads one character: the first one decides (Enter alone is no).
            return b == 10 ? .no : decide([b])
        }
    }

    static func decide(_ bytes: [UInt8]) -> Answer {
        guard let first = bytes.first else { return .no }
        return first == UInt8(ascii: "y") || first == UInt8(ascii: "Y") ? .yes : .no
    }
}
