import Foundation
import IptParse
import Logging
import PostgresNIO

/// One row of `fleet_sets` with its members, as read in one transaction.
public struct FleetSetRow: Sendable, Equatable {
    public var name: String
    public var type: String
    public var createOptions: String
    public var members: [FleetMemberRow]
    /// The kernel slot ipset would have given it (nil: created by plain SQL; placed last).
    public var slot: Int? = nil

    /// `create NAME TYPE OPTIONS`, the line `ipset save` prints.
    public var createLine: String { "create \(name) \(type)" + (createOptions.isEmpty ? "" : " \(createOptions)") }
}

/// One row of `fleet_members`; `expiresAt` (ms since the epoch) from `added_at + timeout`.
public struct FleetMemberRow: Sendable, Equatable {
    public var element: String
    public var comment: String?
    public var timeout: Int?
    public var extras: String
    public var expiresAt: Int64?

    /// The words `ipset -exist add SET` takes after the set name, the remaining timeout at `now`.
    public func addWords(now: Int64, comment withComment: Bool = true) -> [String] {
        var w = [element]
        if let d = expiresAt { w += ["timeout", String(max(1, (d - now + 999) / 1000))] } else if timeout == 0 { w += ["timeout", "0"] }
        w += extras.split(separator: " ").map(String.init)
        if withComment, let c = comment, !c.isEmpty { w += ["comment", c] }
        return w
    }
}

/// Reading the database's sets into our ipset engine's state, and turning engine entries back
/// into rows: the element in ipset's save form, the other words of its add line.
public enum FleetSets {
    /// Every set (or the named ones) with its live members, in creation order (members in the
    /// order they were added). Members whose timeout ran out are left out, as the kernel does.
    public static func read(_ c: PostgresConnection, names: [String]? = nil, logger: Logger) async throws -> [FleetSetRow] {
        var sets: [FleetSetRow] = []
        var index: [String: Int] = [:]
        for try await (name, type, options, slot) in try await c.query("select name, type, create_options, slot from fleet_sets order by slot nulls last, created_at, name", logger: logger)
            .decode((String, String, String, Int?).self) {
            if let names, !names.contains(name) { continue }
            index[name] = sets.count
            sets.append(FleetSetRow(name: name, type: type, createOptions: options, members: [], slot: slot))
        }
        let rows = try await c.query("""
            select set_name, element, comment, timeout, extras,
                   case when timeout is not null and timeout > 0
                        then (extract(epoch from added_at + make_interval(secs => timeout)) * 1000)::bigint end,
                   (extract(epoch from now()) * 1000)::bigint
            from fleet_members order by set_name, added_seq nulls first, added_at, element
            """, logger: logger)
        for try await (set, element, comment, timeout, extras, expires, now) in rows.decode((String, String, String?, Int?, String, Int64?, Int64).self) {
            guard let k = index[set] else { continue }
            if let e = expires, e <= now { continue }
            sets[k].members.append(FleetMemberRow(element: element, comment: comment, timeout: timeout, extras: extras, expiresAt: expires))
        }
        return sets
    }

    /// The rows as an `ipset restore` text our parser reads into the engine's state.
    public static func restoreText(_ sets: [FleetSetRow], now: Int64) -> String {
        var out = ""
        // list:set sets last, as `ipset save` prints them: their members name other sets.
        for s in sets.filter({ $0.type != "list:set" }) + sets.filter({ $0.type == "list:set" }) {
            out += s.createLine + "\n"
            let options = Set(s.createOptions.split(separator: " "))
            for var m in s.members {
                // What plain SQL may have given a set that cannot keep it (a comment on a set
                // created without `comment`, a timeout without `timeout`): the kernel would refuse it.
                if !options.contains("timeout") { m.timeout = nil; m.expiresAt = nil }
                out += "add \(s.name) " + m.addWords(now: now, comment: false).joined(separator: " ")
                if options.contains("comment"), let c = m.comment, !c.isEmpty { out += " comment \"\(c)\"" }
                out += "\n"
            }
        }
        return out
    }

    /// The engine's state for the rows; member deadlines are the database's.
    public static func state(_ sets: [FleetSetRow], now: Int64) throws -> IpsetState {
        let script = try IpsetParser.parse(restoreText(sets, now: now), file: "<fleet database>")
        var slots: [IpsetSet?] = []
        var unplaced: [IpsetSet] = []
        for var s in script.sets {
            guard let row = sets.first(where: { $0.name == s.name }) else { continue }
            for i in s.entries.indices where i < row.members.count {
                s.entries[i].expiresAt = row.members[i].expiresAt
            }
            if let k = row.slot, k >= 0, k < 65536 {
                while slots.count <= k { slots.append(nil) }
                if slots[k] == nil { slots[k] = s; continue }
            }
            unplaced.append(s)
        }
        return IpsetState(slots: slots + unplaced.map { Optional($0) })
    }

    /// The options of a create line after `create NAME TYPE` (initval included: the set keeps
    /// the one it was created with on every node).
    public static func createOptions(_ c: IpsetCreate) -> String {
        let line = IpsetPrinter.createLine(c)
        let head = "create \(c.name) \(c.type.rawValue)"
        return line.hasPrefix(head + " ") ? String(line.dropFirst(head.count + 1)) : ""
    }

    /// An engine entry as a row; `now` turns a deadline back into a timeout.
    public static func row(_ e: IpsetEntry, in c: IpsetCreate, now: Int64) -> FleetMemberRow {
        let element = e.elements.map { IpsetPrinter.element($0, family: c.family) }.joined(separator: ",")
        var bare = c
        bare.timeout = nil
        bare.counters = false
        bare.comment = false
        var plain = e
        plain.comment = nil
        let line = IpsetPrinter.addLine(plain, in: bare)
        let head = "add \(c.name) \(element)"
        let extras = line.hasPrefix(head + " ") ? String(line.dropFirst(head.count + 1)) : ""
        var timeout: Int? = nil
        if c.timeout != nil {
            if let d = e.expiresAt { timeout = Int(max(1, (d - now + 999) / 1000)) } else { timeout = 0 }
        }
        return FleetMemberRow(element: element, comment: c.comment ? e.comment : nil, timeout: timeout, extras: extras, expiresAt: e.expiresAt)
    }
}
