import Compiler
import Foundation

/// What `attach` recorded: the interface the program runs on (`-i` is decided at compile
/// time for it) and the XDP mode.
public struct Attachment: Codable, Equatable, Sendable {
    public var interface: String
    public var mode: String
    public init(interface: String, mode: String) {
        self.interface = interface
        self.mode = mode
    }
}

/// The state directory's files, read and written whole (writes are atomic renames), so a
/// crash leaves either the old or the new file, never half of one.
public struct StateStore: Sendable {
    public let paths: Paths

    public init(paths: Paths) { self.paths = paths }

    public func ensureDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: paths.stateDir, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError.state("create state directory \(paths.stateDir): \(error.localizedDescription)")
        }
    }

    public func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    public func write(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw RuntimeError.state("write \(path): \(error.localizedDescription)")
        }
    }

    public func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    public var attachment: Attachment? {
        guard let data = FileManager.default.contents(atPath: paths.attachmentFile) else { return nil }
        return try? JSONDecoder().decode(Attachment.self, from: data)
    }

    public func save(_ a: Attachment?) throws {
        guard let a else { return remove(paths.attachmentFile) }
        let data = (try? JSONEncoder().encode(a)) ?? Data()
        try write(String(decoding: data, as: UTF8.self), to: paths.attachmentFile)
    }

    /// How the running ruleset is compiled; live edits keep what the last restore asked for.
    public var compileOptions: CompileOptions {
        let words = (read(paths.optionsFile) ?? "").split(whereSeparator: \.isWhitespace)
        return CompileOptions(rejectAsDrop: words.contains("reject-as-drop"), xdpOnly: words.contains("xdp-only"))
    }

    public func saveCompileOptions(_ o: CompileOptions) throws {
        let words = (o.rejectAsDrop ? ["reject-as-drop"] : []) + (o.xdpOnly ? ["xdp-only"] : [])
        try write(words.joined(separator: " ") + "\n", to: paths.optionsFile)
    }

    /// Appends one line to the events log, with the time; never fails a command.
    public func event(_ line: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        let data = Data("\(stamp) \(line)\n".utf8)
        if let h = FileHandle(forWritingAtPath: paths.eventsFile) {
            defer { try? h.close() }
            _ = try? h.seekToEnd()
            try? h.write(contentsOf: data)
        } else {
            try? data.write(to: URL(fileURLWithPath: paths.eventsFile), options: .atomic)
        }
    }

    /// Forgets everything that describes an attached program (after `detach`, or when its
    /// pins are found gone); the kernel layer is untouched.
    public func clearAttachment() {
        for f in [paths.attachmentFile, paths.kernelRulesFile, paths.kernelSetsFile, paths.kernelSetsJournal,
                  paths.retiredCountersFile] { remove(f) }
    }
}
