import Agent
import Compiler
import Foundation
import Hummingbird
import IptParse
import Runtime

/// Running a request through the service, the tools' refusals as HTTP, and the checks of
/// what a request names (tables, chains, sets, words) before anything runs.
extension RESTAPI {
    func run(_ request: FirewallRequest) async throws -> ToolResult {
        try await busyAs503 { try await service.perform(request) }
    }

    /// Every rule with its counters per layer, read on the service's queue under the lock.
    func layeredRules(family: Family, table: String?) async throws -> LayeredRules {
        try await busyAs503 { try await service.read { try $0.layeredRules(family: family, table: table) } }
    }

    /// A state lock that stayed busy is 503 (iptables' own status for it, 4, in the body).
    func busyAs503<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as RuntimeError {
            if case .lockBusy = e {
                var a = APIError(.serviceUnavailable, "busy", "\(e)")
                a.exitStatus = 4
                throw a
            }
            throw e
        }
    }

    /// The tool said no: 404 for a set that does not exist, 409 for a state conflict
    /// (exists already, not there, in use), 422 for anything else it refused.
    func refusal(_ command: [String], _ r: ToolResult) -> APIError {
        var e = APIError.refused(command, status: r.status, stderr: r.stderr)
        let s = r.stderr
        if s.contains("does not exist") && command.first == "ipset" {
            e.status = 404
            e.error = "not-found"
        } else if s.contains("already") || s.contains("it's not added") || s.contains("in use") || s.contains("Chain already exists") {
            e.status = 409
            e.error = "conflict"
        }
        return e
    }

    func tableChain(_ ctx: BasicRequestContext) throws -> (String, String) {
        let table = try checkedTable(ctx.parameters.get("table") ?? "")
        let chain = ctx.parameters.get("chain") ?? ""
        guard Self.isName(chain, maxLength: 28, extra: "") else {
            throw APIError.badField("chain", "bad chain name '\(chain)': 1 to 28 of letters, digits, '_', '.', '-' (not first)")
        }
        return (table, chain)
    }

    /// The names this API takes for chains and sets (docs/openapi.yaml, the path parameters).
    static func isName(_ s: String, maxLength: Int, extra: String) -> Bool {
        guard !s.isEmpty, s.count <= maxLength, !s.hasPrefix("-") else { return false }
        return s.unicodeScalars.allSatisfy { c in
            (c.isASCII && (CharacterSet.alphanumerics.contains(c))) || "_.-".unicodeScalars.contains(c) || extra.unicodeScalars.contains(c)
        }
    }

    func ruleNumber(_ ctx: BasicRequestContext) throws -> Int {
        let s = ctx.parameters.get("number") ?? ""
        guard let n = Int(s), n >= 1, n < Int(Int32.max) else { throw APIError.badField("number", "rule number counts from 1, got '\(s)'") }
        return n
    }

    func checkedTable(_ t: String) throws -> String {
        guard Self.tables.contains(t) else {
            throw APIError.badField("table", "unknown table '\(t)' (one of \(Self.tables.sorted().joined(separator: ", ")))")
        }
        return t
    }

    func checkedInterface(_ s: String) throws -> String {
        guard !s.isEmpty, s.count < 16, s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" }) else {
            throw APIError.badField("interface", "bad interface name '\(s)'")
        }
        return s
    }

    func setName(_ ctx: BasicRequestContext) throws -> String {
        let name = ctx.parameters.get("name") ?? ""
        try checkSetName(name, field: "name")
        return name
    }

    func checkSetName(_ name: String, field: String) throws {
        guard Self.isName(name, maxLength: 31, extra: ":") else {
            throw APIError.badField(field, "bad set name '\(name)': 1 to 31 of letters, digits, '_', '.', ':', '-' (not first)")
        }
    }

    /// One word of ipset's: no blanks or control characters (they would split it, or start a
    /// new command in a restore), and no leading dash (it would read as an option).
    func checkWord(_ w: String, field: String, dashOK: Bool = false) throws {
        guard !w.isEmpty else { throw APIError.badField(field, "'\(field)' is empty") }
        if let bad = w.unicodeScalars.first(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            throw APIError.badField(field, "'\(field)' holds a blank or control character (U+\(String(bad.value, radix: 16, uppercase: true)))")
        }
        if !dashOK, w.hasPrefix("-") { throw APIError.badField(field, "'\(field)' may not start with '-'") }
    }

    func familyQuery(_ req: Request) throws -> Family {
        guard let s = req.uri.queryParameters.get("family") else { return .ipv4 }
        guard let f = Family(rawValue: String(s)) else { throw APIError.badField("family", "family is ipv4 or ipv6, got '\(s)'") }
        return f
    }

    func boolQuery(_ req: Request, _ name: String) throws -> Bool? {
        guard let s = req.uri.queryParameters.get(name) else { return nil }
        switch s {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badField(name, "'\(name)' is true or false, got '\(s)'")
        }
    }

    /// The user chains of `table`: `-j NAME` jumps to one of them, anything else is a target.
    /// Read only when the rule jumps to a name that is not a verdict (`-j ACCEPT`, the common
    /// case, needs no chain list: verdicts cannot be chain names).
    func userChains(_ family: Family, _ table: String, for rule: String) async throws -> Set<String> {
        let words = rule.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let jumps = words.indices.filter { ["-j", "--jump", "-g", "--goto"].contains(words[$0]) && $0 + 1 < words.count }
        let joined = words.contains { $0.hasPrefix("--jump=") || $0.hasPrefix("--goto=") || $0.hasPrefix("--j") && $0.contains("=") }
        if !joined, jumps.allSatisfy({ ["ACCEPT", "DROP", "RETURN", "QUEUE"].contains(words[$0 + 1]) }) { return [] }
        let r = try await run(.save(family: family, counters: false, table: table))
        guard r.ok else { return [] }
        var out: Set<String> = []
        for line in r.stdout.split(separator: "\n") where line.hasPrefix(":") {
            let words = line.dropFirst().split(separator: " ")
            if words.count >= 2, words[1] == "-" { out.insert(String(words[0])) }
        }
        return out
    }
}
