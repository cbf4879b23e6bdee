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

    // MARK: metrics

    func metricsText() async throws -> Response {
        guard let metrics else { throw APIError(.notFound, "not-found", "metrics are off") }
        let text = try await metrics.scrape(service)
        return JSONResponse.raw(Data(text.utf8), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }
}
