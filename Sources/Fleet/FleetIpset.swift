import Foundation
import IptParse
import Logging
import PostgresNIO
import Runtime

/// `ebpf-ipset --database URL COMMAND ...`: ipset's command line on the fleet's sets. Our ipset
/// engine (IptParse/Ipset, the same parser, validation, messages and printers the live path
/// checks the kernel's ipset against) runs the command on the sets read from the database, and
/// what it changed is written back through the fleet_* functions, all in one transaction that
/// first takes the writers' lock: the command sees the sets as they are when it commits.
/// A refusal writes nothing. `restore` is all or nothing here (ipset keeps the lines before a
/// bad one; one transaction cannot).
public enum FleetIpset {
    public static func run(database: String, argv: [String], stdin: String?) -> ToolResult {
        let quiet = argv.contains("-q") || argv.contains("-quiet")
        let inv: IpsetInvocation
        do {
            inv = try IpsetArgv.parse(argv)
        } catch {
            let o = IpsetSession.fail(error, quiet: quiet)
            return ToolResult(status: o.status, stdout: o.stdout, stderr: o.stderr)
        }
        // Version and help need no database.
        if inv.command == .version || inv.command == .help {
            let o = IpsetSession.execute(inv, state: IpsetState(), env: environment(now: 0, stdin: stdin))
            return ToolResult(status: o.status, stdout: o.stdout, stderr: o.stderr)
        }
        let url: DatabaseURL
        do { url = try DatabaseURL(database) } catch {
            return ToolResult(status: 1, stderr: "ebpf-ipset: \(error)\n")
        }
        let actor = "ebpf-ipset (\(ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "?"))"
        do {
            return try BlockingResult.run { try await execute(inv, url: url, stdin: stdin, actor: actor) }
        } catch {
            return ToolResult(status: 1, stderr: "ebpf-ipset: \(error)\n")
        }
    }

    static func environment(now: Int64, stdin: String?) -> IpsetEnvironment {
        IpsetEnvironment(now: now, references: [:], newInitval: { UInt32.random(in: 0...UInt32.max) }, readInput: { file in
            guard let file, file != "-" else { return stdin }
            return FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
        })
    }

    /// The readers of the sets: no lock, a snapshot.
    static let reading: Set<IpsetInvocation.Command> = [.list, .save, .test]

    static func execute(_ inv: IpsetInvocation, url: DatabaseURL, stdin: String?, actor: String) async throws -> ToolResult {
        let logger = FleetConnection.quietLogger
        let conn = try await FleetConnection.connect(url, logger: logger)
        defer { Task { try? await conn.close() } }
        let readOnly = reading.contains(inv.command)
        do {
            try await conn.query(PostgresQuery(unsafeSQL: readOnly ? "begin isolation level repeatable read read only" : "begin"), logger: logger)
            if !readOnly { try await conn.query("select fleet_lock()", logger: logger) }
            var now: Int64 = 0
            for try await ms in try await conn.query("select (extract(epoch from now()) * 1000)::bigint", logger: logger).decode(Int64.self) { now = ms }
            let rows = try await FleetSets.read(conn, logger: logger)
            let before = try FleetSets.state(rows, now: now)
            let o = IpsetSession.execute(inv, state: before, env: environment(now: now, stdin: stdin))
            var result = ToolResult(status: o.status, stdout: o.stdout, stderr: o.stderr)
            if let file = o.outputFile, o.status == 0 {
                // `list -file F` / `save -file F`: ipset writes there, not to standard output.
                guard FileManager.default.createFile(atPath: file, contents: Data(o.stdout.utf8)) else {
                    try await conn.query("rollback", logger: logger)
                    return ToolResult(status: 1, stderr: "ipset v7.17: Cannot open \(file) for writing\n")
                }
                result.stdout = ""
            }
            guard !readOnly, o.status == 0, let after = o.state else {
                try await conn.query("rollback", logger: logger)
                return result
            }
            for call in FleetDiff.calls(from: before, to: after, now: now) {
                try await call.run(conn, actor: actor, logger: logger)
            }
            try await conn.query("commit", logger: logger)
            return result
        } catch let e as FleetDatabaseError {
            throw e
        } catch {
            // Refused by the server or the connection dropped: the transaction is gone, nothing was written.
            throw FleetDatabaseError("the fleet database (\(url)) refused the change, nothing written: \(FleetDatabaseError.describe(error))")
        }
    }
}

/// The fleet_* calls that turn the sets `from` into the sets `to`: a set whose create line
/// changed (swap, rename, -exist re-create with other options) is destroyed and created again
/// with its members; a set emptied is flushed; members are deleted, then added. A member whose
/// comment, timeout or flags changed (`-exist add`) is deleted and added again.
public enum FleetDiff {
    public enum Call: Equatable, Sendable {
        case create(set: String, type: String, options: String, slot: Int?)
        case destroy(set: String)
        case flush(set: String)
        case add(set: String, member: FleetMemberRow)
        case del(set: String, element: String)

        func run(_ c: PostgresConnection, actor: String, logger: Logger) async throws {
            switch self {
            case let .create(set, type, options, slot):
                try await c.query("select fleet_create(\(set), \(type), \(options), \(actor), \(slot)::int)", logger: logger)
            case let .destroy(set):
                try await c.query("select fleet_destroy(\(set), \(actor))", logger: logger)
            case let .flush(set):
                try await c.query("select fleet_flush(\(set), \(actor))", logger: logger)
            case let .add(set, m):
                let element = m.element, comment = m.comment, timeout = m.timeout, extras = m.extras
                try await c.query("select fleet_add(\(set), \(element), \(comment), \(timeout)::int, \(actor), \(extras))", logger: logger)
            case let .del(set, element):
                try await c.query("select fleet_del(\(set), \(element), \(actor))", logger: logger)
            }
        }
    }

    /// A create line without its initval: a set created by plain SQL has none, and the engine
    /// draws one for it at every command; that is no change.
    static func sameCreate(_ a: IpsetCreate, _ b: IpsetCreate) -> Bool {
        var a = a, b = b
        a.initval = nil
        b.initval = nil
        return IpsetPrinter.createLine(a) == IpsetPrinter.createLine(b)
    }

    public static func calls(from: IpsetState, to: IpsetState, now: Int64) -> [Call] {
        let old = from.script.sets, new = to.script.sets
        var out: [Call] = []
        var recreated: Set<String> = []
        for s in old {
            if let n = to.set(named: s.name), sameCreate(n.create, s.create) { continue }
            out.append(.destroy(set: s.name))
            recreated.insert(s.name)
        }
        for s in new {
            let o = from.set(named: s.name)
            if let o, !recreated.contains(s.name), sameCreate(o.create, s.create) {
                let oldRows = o.entries.map { FleetSets.row($0, in: o.create, now: now) }
                let newRows = s.entries.map { FleetSets.row($0, in: s.create, now: now) }
                if newRows.isEmpty && !oldRows.isEmpty {
                    out.append(.flush(set: s.name))
                    continue
                }
                let newByElement = Dictionary(newRows.map { ($0.element, $0) }, uniquingKeysWith: { a, _ in a })
                let oldByElement = Dictionary(oldRows.map { ($0.element, $0) }, uniquingKeysWith: { a, _ in a })
                for r in oldRows {
                    guard let n = newByElement[r.element] else { out.append(.del(set: s.name, element: r.element)); continue }
                    if !same(n, r) { out.append(.del(set: s.name, element: r.element)) }
                }
                for r in newRows {
                    if let o = oldByElement[r.element], same(o, r) { continue }
                    out.append(.add(set: s.name, member: r))
                }
            } else {
                var c = s.create
                if c.type.isHash && c.initval == nil { c.initval = UInt32.random(in: 0...UInt32.max) }
                out.append(.create(set: s.name, type: c.type.rawValue, options: FleetSets.createOptions(c),
                                   slot: to.slots.firstIndex(where: { $0?.name == s.name })))
                for e in s.entries { out.append(.add(set: s.name, member: FleetSets.row(e, in: s.create, now: now))) }
            }
        }
        return out
    }

    static func same(_ a: FleetMemberRow, _ b: FleetMemberRow) -> Bool {
        a.element == b.element && a.comment == b.comment && a.extras == b.extras && a.expiresAt == b.expiresAt && a.timeout.map { $0 == 0 } == b.timeout.map { $0 == 0 }
    }
}
