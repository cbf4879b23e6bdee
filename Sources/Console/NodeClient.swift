import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// A node's REST API (docs/openapi.yaml) with the console's bearer token: its rules with
/// counters per layer (`GET /v1/rules`), its migration report (`GET /v1/migration`), and
/// rule edits (`POST /v1/rules/...`, `DELETE /v1/rules/.../N`). Members go through the
/// database, never here.
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
        try await send(base, method: .get, path, body: nil)
    }

    /// The methods the console uses.
    public enum Method: Sendable { case get, post, delete }

    /// One request; a JSON object back on 2xx, else the node's `message` as the failure.
    public func send(_ base: String, method: Method, _ path: String, body: [String: Any]?) async throws -> [String: Any] {
        let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
        var request = HTTPClientRequest(url: url)
        switch method {
        case .get: request.method = .GET
        case .post: request.method = .POST
        case .delete: request.method = .DELETE
        }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(10))
        } catch {
            throw Failure(description: "\(url): \(error)")
        }
        let body = try await response.body.collect(upTo: 32 << 20)
        let data = Data(body.readableBytesView)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard (200..<300).contains(response.status.code), let json else {
            let message = (json?["message"] as? String) ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw Failure(description: "\(url): \(response.status.code) \(message)")
        }
        return json
    }
}
