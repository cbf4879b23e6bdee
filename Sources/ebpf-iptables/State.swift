import Foundation
import Compiler
import IptParse

/// Where this installation keeps its pins and its state. Both move with environment
/// variables so tests and several namespaces never share state by accident.
struct Paths {
    var pinRoot: String
    var stateDir: String

    static var current: Paths {
        let env = ProcessInfo.processInfo.environment
        return Paths(pinRoot: env["EBPF_IPTABLES_BPFFS"] ?? "/sys/fs/bpf/ebpf-iptables",
                     stateDir: env["EBPF_IPTABLES_STATE"] ?? "/var/lib/ebpf-iptables")
    }

    var attachmentFile: String { stateDir + "/attachment.json" }
    var rulesFile: String { stateDir + "/rules.v4" }
    var setsFile: String { stateDir + "/ipsets.save" }
    var lockFile: String { stateDir + "/lock" }
    var optionsFile: String { stateDir + "/compile-options" }
}

/// What `attach` recorded: the interface the program runs on, decided at compile time for `-i`.
struct Attachment: Codable, Equatable {
    var interface: String
    var mode: String
}

/// The state directory: attachment, the canonical text of the running ruleset, and the sets.
/// Invocations are serialised with an exclusive lock, like `iptables -w`.
struct StateStore {
    let paths: Paths

    func ensureDirectory() throws {
        try FileManager.default.createDirectory(atPath: paths.stateDir, withIntermediateDirectories: true)
    }

    /// Runs `body` holding the state lock.
    func locked<T>(_ body: () throws -> T) throws -> T {
        try ensureDirectory()
        let fd = open(paths.lockFile, O_CREAT | O_RDWR, 0o600)
        guard fd >= 0 else { throw CLIError("cannot open lock \(paths.lockFile): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw CLIError("cannot lock \(paths.lockFile): \(String(cString: strerror(errno)))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    var attachment: Attachment? {
        guard let data = FileManager.default.contents(atPath: paths.attachmentFile) else { return nil }
        return try? JSONDecoder().decode(Attachment.self, from: data)
    }

    func save(_ a: Attachment?) throws {
        if let a {
            try JSONEncoder().encode(a).write(to: URL(fileURLWithPath: paths.attachmentFile), options: .atomic)
        } else {
            try? FileManager.default.removeItem(atPath: paths.attachmentFile)
        }
    }

    func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Written only after the data plane took the new generation, so the text always
    /// describes what runs.
    func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The options of the last restore (`--reject-as-drop`, `--input-only`); live edits
    /// compile with them so an edit never changes what the operator asked for.
    var compileOptions: CompileOptions {
        let words = (read(paths.optionsFile) ?? "").split(whereSeparator: \.isWhitespace)
        // Today's data plane decides alone: every install is --xdp-only.
        return CompileOptions(rejectAsDrop: words.contains("reject-as-drop"), xdpOnly: true)
    }

    func saveCompileOptions(_ o: CompileOptions) throws {
        let words = (o.rejectAsDrop ? ["reject-as-drop"] : []) + (o.xdpOnly ? ["xdp-only"] : [])
        try write(words.joined(separator: " ") + "\n", to: paths.optionsFile)
    }

    /// Whether the installed tables store "no rule" exceptions (nomatch members, negated
    /// prefixes or sets): appending a rule live then needs the whole path.
    var liveHasHoles: Bool { FileManager.default.fileExists(atPath: paths.stateDir + "/live-holes") }

    func setLiveHasHoles(_ holes: Bool) throws {
        let f = paths.stateDir + "/live-holes"
        if holes { try write("1\n", to: f) } else { try? FileManager.default.removeItem(atPath: f) }
    }

    func clear() {
        SetsJournal(store: self).dropJournal()
        try? setLiveHasHoles(false)
        for f in [paths.attachmentFile, paths.rulesFile, paths.setsFile, paths.optionsFile] { try? FileManager.default.removeItem(atPath: f) }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
