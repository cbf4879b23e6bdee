import Agent
import Logging

/// The REST API over HTTPS and `/metrics` (docs/openapi.yaml).
public enum RESTServer {
    /// Serves until the task is cancelled.
    public static func run(_ config: HTTPSConfiguration, service: FirewallService, logger: Logger) async throws {
        fatalError("RESTServer: not built yet")
    }
}
