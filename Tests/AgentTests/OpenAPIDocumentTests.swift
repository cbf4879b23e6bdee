import Agent
import AgentHTTP
import Foundation
import Logging
import Runtime
import TestSupport
import XCTest

/// docs/openapi.yaml describes exactly the routes the server registers; the document is
/// valid OpenAPI 3 (schemathesis's loader reads it in OpenAPISchemathesisTests).
final class OpenAPIDocumentTests: XCTestCase {
    func testEveryRegisteredRouteIsDocumentedAndViceVersa() throws {
        guard Run.has("python3"), Run.run(["python3", "-c", "import yaml"]).status == 0 else {
            throw XCTSkip("python3 with PyYAML is needed to read docs/openapi.yaml (scripts/setup installs schemathesis, which brings it)")
        }
        let r = Run.run(["python3", "-c", """
            import sys, yaml
            doc = yaml.safe_load(open(sys.argv[1]))
            assert doc["openapi"].startswith("3."), doc["openapi"]
            for path, item in doc["paths"].items():
                for method in item:
                    if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                        print(method.upper(), path)
            """, OpenAPIDocument.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let documented = Set(r.stdout.split(separator: "\n").map(String.init))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-routes-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = Paths(pinRoot: dir + "/pins", stateDir: dir + "/state", configDir: dir + "/config")
        let firewall = Firewall(paths: paths, kernel: SystemKernel(runner: ChildProcessRunner()), host: PinnedXDPHost(pinRoot: paths.pinRoot))
        let service = FirewallService(firewall: firewall, paths: paths, logger: .init(label: "test"))
        let registered = Set(RESTServer.routes(service: service).map { route in
            // Hummingbird prints captures as {name}, as OpenAPI does.
            route.replacingOccurrences(of: ":", with: "")
        })
        XCTAssertEqual(registered.subtracting(documented).sorted(), [], "registered, not in docs/openapi.yaml")
        XCTAssertEqual(documented.subtracting(registered).sorted(), [], "in docs/openapi.yaml, not registered")
        XCTAssertGreaterThanOrEqual(registered.count, 19)
    }
}
