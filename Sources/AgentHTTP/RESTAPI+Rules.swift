import Agent
import Compiler
import Foundation
import Hummingbird
import IptParse
import Runtime

/// Rules: list with counters per layer, append/insert, delete, replace, policy.
extension RESTAPI {
    func listRules(_ req: Request) async throws -> Response {
        let family = try familyQuery(req)
        let table = try req.uri.queryParameters.get("table").map { try checkedTable(String($0)) }
        let rules = try await layeredRules(family: family, table: table)
        return JSONResponse.make(rules)
    }

    func addRule(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let body = try await JSONBody.decode(RuleBody.self, from: req, fields: RuleBody.fields)
        if let p = body.position, p < 1 { throw APIError.badField("position", "position counts rules from 1") }
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: body.position == nil ? .append : .insert, table: table, chain: chain,
                                     number: body.position, rule: body.rule, family: family,
                                     userChains: try await userChains(family, table, for: body.rule))
        return try await edit(argv, family: family, created: true)
    }

    func deleteRuleBySpec(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let body = try await JSONBody.decode(DeleteRuleBody.self, from: req, fields: DeleteRuleBody.fields)
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: .delete, table: table, chain: chain, number: nil, rule: body.rule,
                                     family: family, userChains: try await userChains(family, table, for: body.rule))
        return try await edit(argv, family: family)
    }

    func replaceRule(_ req: Request, _ ctx: BasicRequestContext) async throws -> Response {
        let (table, chain) = try tableChain(ctx)
        let number = try ruleNumber(ctx)
        let body = try await JSONBody.decode(ReplaceBody.self, from: req, fields: ReplaceBody.fields)
        let family = body.family ?? .ipv4
        let argv = try RuleText.argv(verb: .replace, table: table, chain: chain, number: number, rule: body.rule,
                                     family: family, userChains: try await userChains(family, table, for: body.rule))
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
}
