import Agent
import Compiler
import Foundation
import Hummingbird
import IptParse
import Runtime

/// Sets: list, create, destroy; members add, delete, test, list, restore at once.
extension RESTAPI {
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
}
