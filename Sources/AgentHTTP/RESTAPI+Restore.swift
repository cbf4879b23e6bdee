import Agent
import Compiler
import Foundation
import Hummingbird
import IptParse
import Runtime

/// A whole ruleset restored, and the migration report of what runs or of a given ruleset.
extension RESTAPI {
    func restore(_ req: Request) async throws -> Response {
        let body = try await JSONBody.decode(RestoreBody.self, from: req, fields: RestoreBody.fields)
        var request = RestoreRequest(family: body.family ?? .ipv4, text: body.rules, source: "rules",
                                     setFiles: body.ipsets.map { [(name: "ipsets", text: $0)] } ?? [])
        request.noflush = body.noflush ?? false
        request.test = body.test ?? false
        let r = try await run(.restore(request))
        guard r.ok else {
            // Our parsers' diagnostics name the field (`rules:3:18: error: ...`, `ipsets:...`).
            if let located = Self.locatedDiagnostic(r.stderr) {
                var e = APIError(.badRequest, "bad-ruleset", located.message, field: located.field)
                e.position = located.position
                e.diagnostics = [r.stderr.trimmingCharacters(in: .newlines)]
                e.exitStatus = r.status
                e.stderr = r.stderr
                throw e
            }
            throw refusal(["iptables-restore"], r)
        }
        return JSONResponse.make(Outcome(command: ["iptables-restore"] + (request.noflush ? ["--noflush"] : []) + (request.test ? ["--test"] : []),
                                         status: r.status, stdout: r.stdout, stderr: r.stderr))
    }

    static func locatedDiagnostic(_ stderr: String) -> (field: String, position: ErrorPosition, message: String)? {
        let pattern = #"^(rules|ipsets):(\d+):(\d+)(?:-(\d+))?: error: (.*)$"#
        guard let re = try? NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines]) else { return nil }
        let ns = stderr as NSString
        guard let m = re.firstMatch(in: stderr, range: NSRange(location: 0, length: ns.length)) else { return nil }
        func group(_ i: Int) -> String? { m.range(at: i).location == NSNotFound ? nil : ns.substring(with: m.range(at: i)) }
        let line = Int(group(2) ?? "") ?? 0, col = Int(group(3) ?? "") ?? 0
        let end = group(4).flatMap { Int($0) } ?? col
        return (group(1) ?? "rules", ErrorPosition(line: line, column: col, word: nil, length: end - col + 1), group(5) ?? "")
    }


    func migrationOfRunning(_ req: Request) async throws -> Response {
        let rules = try await run(.save(family: .ipv4, counters: false, table: nil))
        guard rules.ok else { throw refusal(["iptables-save"], rules) }
        let sets = try await run(.ipset(argv: ["save"], stdin: nil))
        guard sets.ok else { throw refusal(["ipset", "save"], sets) }
        let interface = try req.uri.queryParameters.get("interface").map { s in try checkedInterface(String(s)) }
            ?? service.firewall.store.attachment?.interface ?? "eth0"
        let options = service.firewall.store.compileOptions
        return try migration(rules: rules.stdout, ipsets: sets.stdout, source: "<kernel>", interface: interface, options: options)
    }

    func migrationOf(_ req: Request) async throws -> Response {
        let body = try await JSONBody.decode(MigrationBody.self, from: req, fields: MigrationBody.fields)
        let interface = try body.interface.map { try checkedInterface($0) } ?? "eth0"
        return try migration(rules: body.rules, ipsets: body.ipsets, source: "rules", interface: interface,
                             options: CompileOptions(rejectAsDrop: body.rejectAsDrop ?? false, xdpOnly: body.xdpOnly ?? false))
    }

    /// `migrate --format json`, as a function of the texts (docs/migrate-json.md).
    func migration(rules: String, ipsets: String?, source: String, interface: String, options: CompileOptions) throws -> Response {
        var script: IpsetScript? = nil
        if let ipsets, !ipsets.isEmpty {
            do { script = try IpsetParser.parse(ipsets, file: "ipsets") } catch { throw Self.parseError(error, field: "ipsets") }
        }
        let names = script.map { Set($0.sets.map(\.create.name)) }
        var check: (@Sendable (String) -> Bool)? = nil
        if let names { check = { names.contains($0) } }
        let ruleset: Ruleset
        do {
            ruleset = try RestoreParser.parse(rules, options: .init(family: .ipv4, file: "rules", setExists: check))
        } catch { throw Self.parseError(error, field: "rules") }
        let result = Compiler.compile(ruleset, sets: script, interface: interface, options: options)
        let report = MigrationReport(source: source, ruleset: ruleset, result: result)
        return JSONResponse.raw(Data(report.json().utf8))
    }

    static func parseError(_ e: IptParseError, field: String) -> APIError {
        let first = e.diagnostics.first
        var a = APIError(.badRequest, "bad-ruleset", first?.message ?? "\(e)", field: field)
        if let l = first?.location { a.position = ErrorPosition(line: l.line, column: l.column, word: nil, length: l.length) }
        a.diagnostics = e.diagnostics.map(\.description)
        return a
    }
}
