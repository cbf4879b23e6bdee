import Foundation
import Hummingbird
import IptParse
import NIOCore

/// Where in a rule text or a ruleset a problem lies: IptParse's own location.
public struct ErrorPosition: Codable, Sendable, Equatable {
    public var line: Int?
    public var column: Int
    /// The rule text's words counted from 1 (for a `rule` field).
    public var word: Int?
    public var length: Int
}

/// The body of every 4xx and 5xx answer (docs/openapi.yaml, `Error`).
public struct APIError: Error, Codable, Sendable {
    public var status: Int
    /// A short, stable name: unauthorized, forbidden, not-found, bad-json, bad-field, bad-rule,
    /// bad-ruleset, refused, internal.
    public var error: String
    public var message: String
    /// The request field at fault (`rule`, `rules`, `ipsets`, `policy`, `member`, ...).
    public var field: String?
    public var position: ErrorPosition?
    /// IptParse's diagnostics, rendered as the CLI prints them.
    public var diagnostics: [String]?
    /// The stood-in tool's refusal: its exit status and what it wrote to stderr.
    public var exitStatus: Int32?
    public var stderr: String?

    init(_ status: HTTPResponse.Status, _ error: String, _ message: String, field: String? = nil) {
        self.status = status.code
        self.error = error
        self.message = message
        self.field = field
    }

    static func badField(_ field: String, _ message: String) -> APIError { APIError(.badRequest, "bad-field", message, field: field) }

    /// A rule text our parser refused, pointed at in that text.
    static func badRule(_ field: String, _ d: Diagnostic, wordIndex: Int?) -> APIError {
        var e = APIError(.badRequest, "bad-rule", d.message, field: field)
        e.position = ErrorPosition(line: nil, column: d.location.column, word: wordIndex, length: d.location.length)
        e.diagnostics = [d.description]
        return e
    }

    /// The stood-in tool said no (iptables' exit 1/2, ipset's 1): nothing was applied.
    static func refused(_ command: [String], status: Int32, stderr: String) -> APIError {
        var e = APIError(.unprocessableContent, "refused",
                         stderr.split(separator: "\n").first.map(String.init) ?? "\(command.first ?? "tool") exited \(status)")
        e.exitStatus = status
        e.stderr = stderr
        return e
    }

    func response() -> Response {
        JSONResponse.make(self, status: HTTPResponse.Status(code: status))
    }
}

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"internal","message":"encoding failed","status":500}"#.utf8)
        return raw(data, status: status)
    }

    /// A body that is JSON already (migrate's report, the rule list the service encoded).
    static func raw(_ data: Data, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the JSON body: ours (`APIError`), Hummingbird's own (no route:
/// 404, a method the route lacks: 405, a body too large: 413), and anything else, which
/// is a fault of ours (500, logged).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return e.response()
        } catch let e as AuthFailure {
            return try e.response(from: request, context: context)
        } catch let e as HTTPError where e.status == .notFound && !routes.methods(for: request.uri.path).isEmpty {
            // The path is one of ours, the method is not: 405 with the methods it has.
            let allowed = routes.methods(for: request.uri.path)
            var r = APIError(.methodNotAllowed, "method-not-allowed",
                             "\(request.method) is not allowed on \(request.uri.path) (allowed: \(allowed.joined(separator: ", ")))").response()
            r.headers[.allow] = allowed.joined(separator: ", ")
            return r
        } catch let e as HTTPError {
            let name = e.status == .notFound ? "not-found" : e.status == .methodNotAllowed ? "method-not-allowed" : "bad-request"
            let message = e.status == .notFound ? "no such route: \(request.method) \(request.uri.path)" : (e.body ?? e.status.reasonPhrase)
            var r = APIError(e.status.code >= 500 ? .internalServerError : e.status, name, message).response()
            for h in e.headers { r.headers.append(h) }
            return r
        } catch {
            context.logger.error("internal error on \(request.method) \(request.uri.path): \(error)")
            return APIError(.internalServerError, "internal", "\(error)").response()
        }
    }
}

/// The routes' templates, filled once the router has them, for 405 answers.
final class RouteTable: @unchecked Sendable {
    private let lock = NSLock()
    private var templates: [(method: String, segments: [Substring])] = []

    func fill(_ routes: [(method: String, path: String)]) {
        lock.lock(); defer { lock.unlock() }
        templates = routes.map { ($0.method, $0.path.split(separator: "/")) }
    }

    /// The methods some route has for `path`, sorted.
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/")
        lock.lock(); defer { lock.unlock() }
        let hits = templates.filter { t in
            t.segments.count == parts.count && zip(t.segments, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
        return Set(hits.map(\.method)).sorted()
    }
}
