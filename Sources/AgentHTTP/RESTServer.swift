import Agent
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL

/// The REST API over HTTPS and `/metrics` (docs/openapi.yaml).
public enum RESTServer {
    /// Serves until the task is cancelled. Throws when the certificate, key, CA or tokens
    /// cannot be read, or the address cannot be bound. `listening` is called once the
    /// address is bound (the agent reports itself ready only then).
    public static func run(_ config: HTTPSConfiguration, service: FirewallService, logger: Logger,
                           listening: @escaping @Sendable () -> Void = {}) async throws {
        let tokens = try BearerTokens.load(config.tokensFile)
        if let mode = (try? FileManager.default.attributesOfItem(atPath: config.tokensFile))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            logger.warning("tokens file \(config.tokensFile) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
        }
        let tls = try tlsConfiguration(config)
        let router = makeRouter(service: service, tokens: tokens, metrics: Metrics(service: service))
        let app = Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                              configuration: .init(address: .hostname(config.host, port: config.port), serverName: "ebpf-iptables"),
                              onServerRunning: { _ in
                                  logger.info("REST API listening on https://\(config.host):\(config.port)\(config.clientCAFile == nil ? "" : " (client certificates required)"), \(tokens.entries.count) token(s)")
                                  listening()
                              },
                              logger: logger)
        try await app.runService(gracefulShutdownSignals: [])
    }

    /// The server's certificate chain and key; with a client CA, mutual TLS: a client that
    /// presents no certificate, or one that CA did not sign, fails the handshake.
    public static func tlsConfiguration(_ config: HTTPSConfiguration) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(config.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: config.keyFile, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        if let ca = config.clientCAFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }

    /// Every route behind the error middleware (JSON bodies for every failure) and the
    /// bearer-token check. Public for the test that keeps docs/openapi.yaml true.
    public static func makeRouter(service: FirewallService, tokens: BearerTokens, metrics: Metrics?) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let table = RouteTable()
        router.add(middleware: ErrorMiddleware(routes: table))
        router.add(middleware: RequestLog())
        router.add(middleware: BearerAuth(tokens: tokens))
        RESTAPI(service: service, metrics: metrics).register(on: router)
        table.fill(router.routes.map { (method: $0.method.rawValue, path: $0.path.description) })
        return router
    }

    /// The routes as `METHOD /path/{param}`, for the OpenAPI test.
    public static func routes(service: FirewallService) -> [String] {
        makeRouter(service: service, tokens: BearerTokens(entries: []), metrics: nil).routes
            .map { "\($0.method.rawValue) \($0.path)" }
    }
}


/// `Authorization: Bearer TOKEN` on every request, /metrics included (rule texts and
/// counters tell an attacker what gets through): 401 with `WWW-Authenticate: Bearer` when
/// missing or unknown; 403 when a read-only token asks for a change (anything but GET/HEAD).
struct BearerAuth<Context: RequestContext>: RouterMiddleware {
    let tokens: BearerTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("missing Authorization header: expected 'Authorization: Bearer TOKEN'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Self.unauthorized("Authorization is not a bearer token: expected 'Authorization: Bearer TOKEN'")
        }
        guard let access = tokens.access(for: parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw Self.unauthorized("unknown token")
        }
        if access == .readOnly, request.method != .get, request.method != .head {
            throw APIError(.forbidden, "forbidden", "this token is read-only: \(request.method.rawValue) \(request.uri.path) changes the firewall")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String) -> AuthFailure { AuthFailure(error: APIError(.unauthorized, "unauthorized", message)) }
}

/// A 401: the JSON body and the `WWW-Authenticate` header RFC 6750 asks for.
struct AuthFailure: Error, HTTPResponseError {
    var error: APIError
    var status: HTTPResponse.Status { .unauthorized }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var r = error.response()
        r.headers[.wwwAuthenticate] = #"Bearer realm="ebpf-iptables""#
        return r
    }
}

/// One log line per request: method, path, status, duration.
struct RequestLog<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let r = try await next(request, context)
            context.logger.info("\(request.method) \(request.uri.path) \(r.status.code) \(ContinuousClock.now - start)")
            return r
        } catch let e as APIError {
            context.logger.info("\(request.method) \(request.uri.path) \(e.status) \(e.error) \(ContinuousClock.now - start)")
            throw e
        } catch {
            context.logger.info("\(request.method) \(request.uri.path) failed \(ContinuousClock.now - start)")
            throw error
        }
    }
}
