import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Who may see what. `/login` and `/style.css` are open; everything else needs a live
/// session: a GET without one is sent to the login page (303), a POST is refused (401),
/// since replaying a form after a login would act on stale intent. Every POST then must
/// carry the session's CSRF token in its `csrf` field (403 otherwise): the cookie alone,
/// which a browser attaches by itself, never authorises a change.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = ConsoleContext
    let store: ConsoleStore
    let pages: Pages

    static let open: Set<String> = ["/login", "/style.css", "/favicon.ico"]

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var request = request
        var context = context
        if request.method == .post {
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            if let boundary = MultipartBody.boundary(contentType: request.headers[.contentType] ?? "") {
                context.form = MultipartBody.parse(String(buffer: body), boundary: boundary)
            } else {
                context.form = FormBody.parse(String(buffer: body))
            }
        }
        if Self.open.contains(request.uri.path) { return try await next(request, context) }
        let token = request.cookies[Security.sessionCookie]?.value
        let session: (user: String, csrf: String)?
        if let token { session = try await store.session(token: token) } else { session = nil }
        guard let session, let token else {
            let why = token == nil ? "no session" : "session unknown or expired"
            context.logger.notice("\(request.method) \(request.uri.path): \(why)")
            if request.method == .get || request.method == .head {
                return Pages.redirect(token == nil ? "/login" : "/login?expired=1", clearSession: token != nil)
            }
            return pages.message(status: .unauthorized, title: "Not logged in",
                                 text: "Your session has expired or you are not logged in: nothing was changed. Log in again.",
                                 back: "/login", backLabel: "Log in", clearSession: token != nil)
        }
        context.user = session.user
        context.csrf = session.csrf
        context.sessionToken = token
        if request.method != .get && request.method != .head {
            guard let sent = context.form["csrf"], Security.constantTimeEqual(sent, session.csrf) else {
                context.logger.warning("\(request.method) \(request.uri.path) by \(session.user): CSRF token \(context.form["csrf"] == nil ? "missing" : "wrong")")
                return pages.message(status: .forbidden, title: "Refused",
                                     text: "The form's CSRF token is missing or wrong: nothing was changed. Reload the page and try again.",
                                     back: "/nodes", backLabel: "Back", user: session.user, csrf: session.csrf)
            }
        }
        return try await next(request, context)
    }
}

/// Headers on every page: no caching of pages that show the firewall, no framing, no
/// script or asset from anywhere but this server, no referrer leaking set names.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {
    /// Fields HTTPTypes has no constant for.
    static var more: [(HTTPField.Name, String)] {
        [("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")].compactMap { n, v in HTTPField.Name(n).map { ($0, v) } }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var r = try await next(request, context)
        r.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        r.headers[.strictTransportSecurity] = "max-age=31536000"
        r.headers[.xContentTypeOptions] = "nosniff"
        for (name, value) in Self.more { r.headers[name] = value }
        if r.headers[.cacheControl] == nil { r.headers[.cacheControl] = "no-store" }
        return r
    }
}

/// One log line per request: method, path, status, user, duration.
struct ConsoleRequestLog: RouterMiddleware {
    typealias Context = ConsoleContext
    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let r = try await next(request, context)
        context.logger.info("\(request.method) \(request.uri.path) \(r.status.code) \(ContinuousClock.now - start)")
        return r
    }
}
