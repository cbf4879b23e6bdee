import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Reads a node's REST API (docs/openapi.yaml) with the console's bearer token: its rules
/// with counters per layer (`GET /v1/rules`) and its migration report (`GET /v1/migration`).
/// The console only reads from nodes here; members go through the database.
public final class NodeClient: Sendable {
    let http: HTTPClient
    let token: String?

    public init(token: String?, caFile: String?) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout = .init(connect: .seconds(3), read: .seconds(10))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.token = token
    }

    public func shutdown() async throws { try await http.shutdown() }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The JSON object at `path` under the node's `api_url`.
    public func get(_ base: String, _ path: String) async throws -> [String: Any] {
        let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(10))
        } catch {
            throw Failure(description: "\(url): \(error)")
        }
        let body = try await response.body.collect(upTo: 32 << 20)
        let data = Data(body.readableBytesView)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard response.status == .ok, let json else {
            let message = (json?["message"] as? String) ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw Failure(description: "\(url): \(response.status.code) \(message)")
        }
        return json
    }
}
