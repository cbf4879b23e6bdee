import Agent
import Compiler
import Foundation
import Hummingbird
import IptParse
import Runtime

/// The endpoints (docs/openapi.yaml). Every handler decodes and checks its request, turns
/// it into `FirewallRequest`s and submits them to the `FirewallService` — the same serial
/// queue and state lock as the control socket and a CLI running alone — then encodes the
/// answer. Nothing here changes the firewall by itself.
struct RESTAPI: Sendable {
    let service: FirewallService
    let metrics: Metrics?

    static let tables: Set<String> = ["filter", "nat", "mangle", "raw", "security"]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1/status") { req, _ in try await status(req) }
        router.get("/v1/rules") { req, _ in try await listRules(req) }
        router.post("/v1/rules/{table}/{chain}") { req, ctx in try await addRule(req, ctx) }
        router.post("/v1/rules/{table}/{chain}/delete") { req, ctx in try await deleteRuleBySpec(req, ctx) }
        router.put("/v1/rules/{table}/{chain}/{number}") { req, ctx in try await replaceRule(req, ctx) }
        router.delete("/v1/rules/{table}/{chain}/{number}") { req, ctx in try await deleteRuleByNumber(req, ctx) }
        router.put("/v1/chains/{table}/{chain}/policy") { req, ctx in try await setPolicy(req, ctx) }
        router.get("/v1/sets") { _, _ in try await listSets() }
        router.post("/v1/sets") { req, _ in try await createSet(req) }
        router.delete("/v1/sets/{name}") { _, ctx in try await destroySet(ctx) }
        router.get("/v1/sets/{name}/members") { _, ctx in try await listMembers(ctx) }
        router.post("/v1/sets/{name}/members") { req, ctx in try await addMember(req, ctx) }
        router.put("/v1/sets/{name}/members") { req, ctx in try await restoreMembers(req, ctx) }
        router.post("/v1/sets/{name}/members/delete") { req, ctx in try await deleteMember(req, ctx) }
        router.get("/v1/sets/{name}/members/test") { req, ctx in try await testMember(req, ctx) }
        router.post("/v1/restore") { req, _ in try await restore(req) }
        router.get("/v1/migration") { req, _ in try await migrationOfRunning(req) }
        router.post("/v1/migration") { req, _ in try await migrationOf(req) }
        router.get("/metrics") { _, _ in try await metricsText() }
    }

    // MARK: status

    struct StatusAnswer: Encodable {
        var attached: Bool
        var interface: String?
        var text: String
    }

    func status(_ req: Request) async throws -> Response {
        let verbose = try boolQuery(req, "verbose") ?? false
        let r = try await run(.status(verbose: verbose))
        let attached = r.stdout.hasPrefix("attached to ")
        let interface = attached ? r.stdout.dropFirst("attached to ".count).split(separator: " ").first.map(String.init) : nil
        return JSONResponse.make(StatusAnswer(attached: attached, interface: interface, text: r.stdout))
    }

    // MARK: rules

    func listRules(_ req: Request) async throws -> Response {
        let family = try familyQuery(req)
        let table = try req.uri.queryParameters.get("table").map { try checkedTable(String($0)) }
        let r = try await run(.rules(family: family, table: table))
        return JSONResponse.raw(Data(r.stdout.utf8))
    }

    func addRule(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let body = try await JSONBody.decode(RuleBody.self, from: req, fields: RuleBody.fields)
        if let p = body.position, p < 1 { throw APIError.badField("position", "position counts rules from 1") }
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: body.position == nil ? .append : .insert, table: table, chain: chain,
                                     number: body.position, rule: body.rule, family: family,
                                     userChains: try await userChains(family, table))
        return try await edit(argv, family: family, created: true)
    }

    func deleteRuleBySpec(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let body = try await JSONBody.decode(DeleteRuleBody.self, from: req, fields: DeleteRuleBody.fields)
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: .delete, table: table, chain: chain, number: nil, rule: body.rule,
                                     family: family, userChains: try await userChains(family, table))
        return try await edit(argv, family: family)
    }

    func replaceRule(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let number = try ruleNumber(ctx)
        let body = try await JSONBody.decode(ReplaceBody.self, from: req, fields: ReplaceBody.fields)
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: .replace, table: table, chain: chain, number: number, rule: body.rule,
                                     family: family, userChains: try await userChains(family, table))
        return try await edit(argv, family: family)
    }

    func deleteRuleByNumber(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let number = try ruleNumber(ctx)
        let family = try familyQuery(req)
        return try await edit(["-t", table, "-D", chain, String(number)], family: family)
    }

    func setPolicy(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let body = try await JSONBody.decode(PolicyBody.self, from: req, fields: PolicyBody.fields)
        guard ["ACCEPT", "DROP"].contains(body.policy) else {
            throw APIError.badField("policy", "policy must be ACCEPT or DROP, got '\(body.policy)'")
        }
        guard BuiltinTables.isBuiltin(chain, in: table) else {
            throw APIError.badField("chain", "'\(chain)' is not a built-in chain of \(table): only built-in chains have a policy")
        }
        return try await edit(["-t", table, "-P", chain, body.policy], family: body.family ?? .ipv4)
    }

    /// One iptables command through the service: 200 (201 for a new rule) with what the tool
    /// said, or its refusal (4xx, nothing applied).
    func edit(_ argv: [String], family: Family, created: Bool = false) async throws -> Response {
        let r = try await run(.iptables(argv: argv, family: family))
        let tool = family == .ipv6 ? "ip6tables" : "iptables"
        guard r.ok else { throw refusal([tool] + argv, r) }
        return JSONResponse.make(Outcome(command: [tool] + argv, status: r.status, stdout: r.stdout, stderr: r.stderr),
                                 status: created ? .created : .ok)
    }

    // MARK: sets

    struct SetSummary: Encodable {
        var name: String
        var type: String
        var options: [String]
        var members: Int
    }

    struct SetMembers: Encodable {
        var name: String
        var type: String
        var options: [String]
        var members: [String]
    }

    func listSets() async throws -> Response {
        let r = try await run(.ipset(argv: ["save"], stdin: nil))
        guard r.ok else { throw refusal(["ipset", "save"], r) }
        let sets = IpsetSave.parse(r.stdout).map { SetSummary(name: $0.name, type: $0.type, options: $0.options, members: $0.members.count) }
        return JSONResponse.make(sets)
    }

    func createSet(_ req: Request) async throws -> Response {
        let body = try await JSONBody.decode(CreateSetBody.self, from: req, fields: CreateSetBody.fields)
        try checkSetName(body.name, field: "name")
        try checkWord(body.type, field: "type")
        for (i, o) in (body.options ?? []).enumerated() { try checkWord(o, field: "options[\(i)]", dashOK: false) }
        let argv = ["create", body.name, body.type] + (body.options ?? [])
        return try await ipsetEdit(argv, created: true)
    }

    func destroySet(_ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        return try await ipsetEdit(["destroy", name])
    }

    func listMembers(_ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        let s = try await savedSet(name)
        return JSONResponse.make(SetMembers(name: s.name, type: s.type, options: s.options, members: s.members))
    }

    func addMember(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        let body = try await JSONBody.decode(MemberBody.self, from: req, fields: MemberBody.fields)
        try checkWord(body.member, field: "member")
        for (i, o) in (body.options ?? []).enumerated() { try checkWord(o, field: "options[\(i)]", dashOK: false) }
        return try await ipsetEdit(["add", name, body.member] + (body.options ?? []), created: true)
    }

    func deleteMember(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        let body = try await JSONBody.decode(MemberBody.self, from: req, fields: ["member"])
        try checkWord(body.member, field: "member")
        return try await ipsetEdit(["del", name, body.member])
    }

    struct TestAnswer: Encodable {
        var set: String
        var member: String
        var present: Bool
    }

    func testMember(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        guard let member = req.uri.queryParameters.get("member").map({ String($0) }) else {
            throw APIError.badField("member", "missing query parameter 'member'")
        }
        try checkWord(member, field: "member")
        let argv = ["test", name, member]
        let r = try await run(.ipset(argv: argv, stdin: nil))
        // ipset test: 0 in the set; 1 with "is NOT in set" not in it; 1 otherwise an error.
        if r.ok { return JSONResponse.make(TestAnswer(set: name, member: member, present: true)) }
        if r.status == 1, r.stderr.contains("is NOT in set") { return JSONResponse.make(TestAnswer(set: name, member: member, present: false)) }
        throw refusal(["ipset"] + argv, r)
    }

    /// Replaces a set's members at once: a temporary set of the same type and options is
    /// filled, swapped in and destroyed, in one `ipset restore`. A member ipset refuses
    /// stops the restore before the swap: the set keeps its old members, the temporary goes.
    func restoreMembers(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let name = try setName(ctx)
        let body = try await JSONBody.decode(MembersBody.self, from: req, fields: MembersBody.fields)
        for (i, m) in body.members.enumerated() { try checkWord(m, field: "members[\(i)]") }
        let s = try await savedSet(name)
        let temp = "rest-\(UInt32.random(in: 0...UInt32.max))"
        var script = "create \(temp) \(s.type) \(s.options.joined(separator: " "))\n"
        for m in body.members { script += "add \(temp) \(m)\n" }
        script += "swap \(temp) \(name)\ndestroy \(temp)\n"
        let r = try await run(.ipset(argv: ["restore"], stdin: script))
        guard r.ok else {
            _ = try? await run(.ipset(argv: ["destroy", temp], stdin: nil))
            var e = refusal(["ipset", "restore"], r)
            // "Error in line N": line 1 creates, line N names member N-2.
            if let n = Self.errorLine(r.stderr), n >= 2, n - 2 < body.members.count { e.field = "members[\(n - 2)]" }
            throw e
        }
        return JSONResponse.make(Outcome(command: ["ipset", "restore"], status: r.status, stdout: r.stdout, stderr: r.stderr))
    }

    static func errorLine(_ stderr: String) -> Int? {
        guard let r = stderr.range(of: #"Error in line (\d+)"#, options: .regularExpression) else { return nil }
        return Int(stderr[r].split(separator: " ").last ?? "")
    }

    func savedSet(_ name: String) async throws -> IpsetSave.SavedSet {
        let r = try await run(.ipset(argv: ["save", name], stdin: nil))
        guard r.ok, let s = IpsetSave.parse(r.stdout).first(where: { $0.name == name }) else { throw refusal(["ipset", "save", name], r) }
        return s
    }

    func ipsetEdit(_ argv: [String], created: Bool = false) async throws -> Response {
        let r = try await run(.ipset(argv: argv, stdin: nil))
        guard r.ok else { throw refusal(["ipset"] + argv, r) }
        return JSONResponse.make(Outcome(command: ["ipset"] + argv, status: r.status, stdout: r.stdout, stderr: r.stderr),
                                 status: created ? .created : .ok)
    }

    // MARK: restore

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

    // MARK: migration report

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

    // MARK: metrics

    func metricsText() async throws -> Response {
        guard let metrics else { throw APIError(.notFound, "not-found", "metrics are off") }
        let text = try await metrics.scrape(service)
        return JSONResponse.raw(Data(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    // MARK: helpers

    func run(_ request: FirewallRequest) async throws -> ToolResult {
        do {
            return try await service.perform(request)
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
    func userChains(_ family: Family, _ table: String) async throws -> Set<String> {
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

/// `ipset save` text read as the kernel printed it: each set's create words and its members.
enum IpsetSave {
    struct SavedSet {
        var name: String
        var type: String
        var options: [String]
        var members: [String]
    }

    static func parse(_ text: String) -> [SavedSet] {
        var sets: [SavedSet] = []
        var index: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count >= 2 else { continue }
            if words[0] == "create", words.count >= 3 {
                index[words[1]] = sets.count
                sets.append(SavedSet(name: words[1], type: words[2], options: Array(words.dropFirst(3)), members: []))
            } else if words[0] == "add", let i = index[words[1]] {
                sets[i].members.append(words.dropFirst(2).joined(separator: " "))
            }
        }
        return sets
    }
}
