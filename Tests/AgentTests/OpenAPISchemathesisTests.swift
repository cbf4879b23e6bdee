import Foundation
import TestSupport
import XCTest

/// schemathesis (PyPI) generates requests from docs/openapi.yaml — valid and invalid ones —
/// and sends them to the running daemon: no 5xx, and every status, content type, header and
/// body must be what the document says. The number of generated cases is printed.
final class OpenAPISchemathesisTests: XCTestCase {
    /// Examples per operation for the fuzzing phase; the coverage phase adds its own cases.
    static let maxExamples = 50

    func testSchemathesisFindsNoServerErrorAndNoSchemaMismatch() throws {
        if let reason = AgentUnderTest.unavailableReason { throw XCTSkip(reason) }
        guard Run.has("schemathesis") else { throw XCTSkip("schemathesis is not installed (scripts/setup installs it: pip install schemathesis)") }
        let agent = try AgentUnderTest(prefix: "st")
        defer { agent.close() }
        // Something to find: a set and a rule, so that reads answer with content.
        XCTAssertEqual(agent.request("POST", "/v1/sets", body: #"{"name":"s1","type":"hash:ip"}"#).status, 201)
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-s 198.18.0.1 -p icmp -j DROP"}"#).status, 201)
        let report = agent.work + "/schemathesis.ndjson"
        // Every chain is FORWARD: a generated DROP policy or rule on INPUT or OUTPUT would cut
        // the test's own connection on lo (bad chain names are RESTEndpointTests' business).
        try "[parameters]\n\"path.chain\" = \"FORWARD\"\n".write(toFile: agent.work + "/schemathesis.toml", atomically: true, encoding: .utf8)
        // In the test's directory: schemathesis and hypothesis keep caches in the working directory.
        // Bounded by the examples per operation (a --max-time would make fuzzing repeat until
        // it is spent) and, should anything hang, by the deadline.
        let r = Run.run(["ip", "netns", "exec", agent.ns.name, "sh", "-c", "cd \"$0\" && exec env HOME=\"$0\" \"$@\"", agent.work, "schemathesis", "--config-file", agent.work + "/schemathesis.toml", "run", OpenAPIDocument.path,
                              "--url", "https://127.0.0.1:\(agent.port)",
                              "--header", "Authorization: Bearer \(agent.fullToken)",
                              "--tls-verify", agent.tls + "/ca.pem",
                              "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
                              "--phases", "examples,coverage,fuzzing",
                              "--max-examples", String(Self.maxExamples), "--seed", "11", "--request-timeout", "20",
                              "--generation-database", "none", "--no-color",
                              "--report", "ndjson", "--report-ndjson-path", report], deadline: .seconds(900))
        XCTAssertFalse(r.timedOut, "schemathesis ran past 900 s")
        let cases = Self.generatedCases(r.stdout)
        print(r.stdout.split(separator: "\n").suffix(40).joined(separator: "\n"))
        print("schemathesis: \(cases.map(String.init) ?? "?") generated cases against docs/openapi.yaml; exit \(r.status)")
        XCTAssertEqual(r.status, 0, "schemathesis found failures:\n\(r.stdout.suffix(20000))\n\(r.stderr.suffix(4000))")
        XCTAssertGreaterThan(cases ?? 0, 100, r.stdout.suffix(3000).description)
        // Its requests went through the same service: the daemon is alive and its state consistent.
        let status = agent.request("GET", "/v1/status")
        XCTAssertEqual(status.status, 200, status.body + "\n" + agent.log.suffix(3000))
        XCTAssertFalse((status.json?["text"] as? String ?? "warning").contains("warning"), status.body)
    }

    /// "Test cases: 1234 generated, ..." in schemathesis 4's summary.
    static func generatedCases(_ out: String) -> Int? {
        guard let r = out.range(of: #"(\d+) generated"#, options: .regularExpression) else { return nil }
        return Int(out[r].split(separator: " ").first ?? "")
    }
}
