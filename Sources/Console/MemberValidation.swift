import IptParse

/// A fleet set as the database holds it: `type` and `createOptions` exactly as `ipset save`
/// prints them after `create NAME` (fleet-schema.md).
public struct FleetSetDefinition: Sendable, Equatable {
    public var name: String
    public var type: String
    public var createOptions: String

    public init(name: String, type: String, createOptions: String) {
        self.name = name
        self.type = type
        self.createOptions = createOptions
    }

    var createLine: String {
        createOptions.isEmpty ? "create \(name) \(type)" : "create \(name) \(type) \(createOptions)"
    }
}

/// A refused edit, in ipset's words, with the line of the input it came from (1-based).
public struct MemberInputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int?
    public var message: String
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

/// Member input checked by our ipset parser (the restore-line grammar ipset 7.17 reads),
/// before anything reaches the database: the database then only ever holds elements in
/// ipset's normalised save form (fleet-schema.md), so `10.1.2.3/32` and `10.1.2.3` are one.
public enum MemberValidation {
    /// The element as `ipset save` would print it after `add NAME`, or ipset's refusal.
    public static func normalise(_ element: String, in set: FleetSetDefinition, timeout: Int? = nil) -> Result<String, MemberInputError> {
        let word = element.trimmingCharacters(in: .whitespaces)
        // One word only: the form's field must not smuggle options (`1.2.3.4 nomatch`) or a
        // second line into the restore text.
        guard !word.isEmpty, !word.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\"" }) else {
            return .failure(MemberInputError(line: nil, message: word.isEmpty ? "an element is required" : "an element is one word (no spaces or quotes)"))
        }
        let state: IpsetState
        switch definitions([set]) {
        case .success(let s): state = s
        case .failure(let e): return .failure(e)
        }
        var line = "add \(set.name) \(word)"
        if let t = timeout { line += " timeout \(t)" }
        let run = IpsetRun.run(line + "\n", file: "member", on: state, exist: false, references: [:], touching: [set.name], recordChanges: true)
        if let d = run.error {
            return .failure(MemberInputError(line: nil, message: IpsetMessages.message(for: d, family: state.set(named: set.name)?.create.family).message))
        }
        guard let change = run.memberChanges?.first, let created = run.state.set(named: set.name) else {
            return .failure(MemberInputError(line: nil, message: "the element was not taken"))
        }
        return .success(elementText(change.elements, family: created.create.family))
    }

    /// A comment as ipset takes it with `comment "TEXT"`: no double quote (ipset's lexer
    /// ends the word there), at most 255 bytes (IPSET_MAX_COMMENT_SIZE).
    public static func checkComment(_ comment: String) -> Result<String?, MemberInputError> {
        let c = comment.trimmingCharacters(in: .whitespacesAndNewlines)
        if c.isEmpty { return .success(nil) }
        if c.contains("\"") || c.contains("\n") { return .failure(MemberInputError(line: nil, message: "a comment cannot hold a double quote or a line break")) }
        if c.utf8.count > 255 { return .failure(MemberInputError(line: nil, message: "Comment is longer than the maximum allowed 255 characters")) }
        return .success(c)
    }

    static func elementText(_ elements: [IpsetElement], family: IpsetFamily) -> String {
        elements.map { IpsetPrinter.element($0, family: family) }.joined(separator: ",")
    }

    /// The database's set definitions as an ipset state (no members), read by the parser.
    static func definitions(_ sets: [FleetSetDefinition], members: [String: [String]] = [:]) -> Result<IpsetState, MemberInputError> {
        var text = ""
        for s in sets {
            text += s.createLine + "\n"
            for m in members[s.name] ?? [] { text += "add \(s.name) \(m)\n" }
        }
        do {
            return .success(IpsetState(script: try IpsetParser.parse(text, file: "database")))
        } catch {
            return .failure(MemberInputError(line: nil, message: "the database's set definitions do not parse: \(error)"))
        }
    }
}

import Foundation
