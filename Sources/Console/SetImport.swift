import IptParse

/// What an `ipset save` file adds to the fleet, checked whole before anything is written.
public struct ImportPlan: Sendable, Equatable {
    public struct Create: Sendable, Equatable {
        public var name: String
        public var type: String
        public var options: String
    }
    public struct Add: Sendable, Equatable {
        public var set: String
        public var element: String
        public var comment: String?
        public var timeout: Int?
    }
    /// Sets the file creates that the database does not have, in file order.
    public var creates: [Create] = []
    /// Members not yet in the database, in file order.
    public var adds: [Add] = []
    /// `add` lines for members the database already holds (left alone, as `ipset restore -exist`).
    public var alreadyThere = 0
}

/// Reads an `ipset save` file against the fleet's sets with the restore parser, as
/// `ipset restore -exist` would run it on a machine holding exactly the database's sets:
/// every line is checked, the first bad one refuses the whole file (ipset's message, its
/// line), and nothing is written. Only `create` and `add` lines (what `ipset save` prints)
/// and comments are taken: an import never deletes, flushes or destroys.
public enum SetImport {
    public static func plan(_ text: String, sets: [FleetSetDefinition], members: [String: [String]]) -> Result<ImportPlan, MemberInputError> {
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard let first = line.split(separator: " ").first else { continue }
            if first.hasPrefix("#") || first == "create" || first == "add" || first == "-N" || first == "-A" || first == "COMMIT" { continue }
            return .failure(MemberInputError(line: k + 1, message: "only 'create' and 'add' lines can be imported, not '\(first)'"))
        }
        let state: IpsetState
        switch MemberValidation.definitions(sets, members: members) {
        case .success(let s): state = s
        case .failure(let e): return .failure(e)
        }
        let run = IpsetRun.run(text.hasSuffix("\n") ? text : text + "\n", file: "import", on: state, exist: true,
                               references: [:], touching: nil, recordChanges: true)
        if let d = run.error {
            let family = run.state.script.sets.first.map { $0.create.family }
            return .failure(MemberInputError(line: d.location.line, message: IpsetMessages.message(for: d, family: family).message))
        }
        var plan = ImportPlan()
        let known = Set(sets.map(\.name))
        for s in run.state.script.sets where !known.contains(s.name) {
            let line = IpsetPrinter.createLine(s.create)
            let rest = line.dropFirst("create \(s.name) \(s.create.type.rawValue)".count).trimmingCharacters(in: .whitespaces)
            plan.creates.append(.init(name: s.name, type: s.create.type.rawValue, options: rest))
        }
        // Each added member with its comment/timeout as the run left them; with -exist an add
        // of a member already there is recorded too, and left out here.
        let existing = members.mapValues { Set($0) }
        for change in run.memberChanges ?? [] where change.added {
            guard let set = run.state.set(named: change.set) else { continue }
            let element = MemberValidation.elementText(change.elements, family: set.create.family)
            if existing[change.set]?.contains(element) ?? false { continue }
            // A member the file adds twice (taken by -exist) is added once.
            if plan.adds.contains(where: { $0.set == change.set && $0.element == element }) { continue }
            let entry = set.entries.first { $0.elements == change.elements }
            plan.adds.append(.init(set: change.set, element: element, comment: entry?.comment,
                                   timeout: entry?.timeout.map { Int($0) }))
        }
        let addLines = text.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("add ") }.count
        plan.alreadyThere = max(0, addLines - plan.adds.count)
        return .success(plan)
    }
}

import Foundation
