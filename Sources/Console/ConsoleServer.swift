import Fleet
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import PostgresNIO

/// `ebpf-iptables console`: the fleet's web console over HTTPS (docs/console.md).
public enum ConsoleServer {
    /// Serves until cancelled. Throws when the certificate or key cannot be read or the
    /// address cannot be bound. The database may be down at start: pages then say so.
    public static func run(_ config: ConsoleConfiguration, logger: Logger,
                           listening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let chain = try NIOSSLCertificate.fromPEMFile(config.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: config.keyFile, format: .pem)
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        let client = PostgresClient(configuration: config.database.clientConfiguration, backgroundLogger: logger)
        let nodes = try NodeClient(token: config.nodeToken, caFile: config.nodeCAFile)
        let router = try makeRouter(store: ConsoleStore(client: client), nodes: nodes, config: config)
        var app = Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                              configuration: .init(address: .hostname(config.host, port: config.port), serverName: "ebpf-iptables-console"),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? config.port
                                  logger.info("console listening on https://\(config.host):\(port)")
                                  listening(port)
                              },
                              logger: logger)
        app.addServices(client)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            try? await nodes.shutdown()
            throw error
        }
        try? await nodes.shutdown()
    }

    static func makeRouter(store: ConsoleStore, nodes: NodeClient, config: ConsoleConfiguration) throws -> Router<ConsoleContext> {
        let pages = try Pages()
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(middleware: ConsoleRequestLog())
        router.add(middleware: DatabaseDown(pages: pages))
        router.add(middleware: SessionMiddleware(store: store, pages: pages))
        let lifetime = Int(config.sessionLifetime.components.seconds)
        let throttle = LoginThrottle(policy: config.loginPolicy)

        router.get("/style.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: PageTemplates.stylesheet)))
        }
        router.get("/") { _, _ in Pages.redirect("/nodes") }
        // Browsers ask for it on their own: no icon, and no redirect to the login form.
        router.get("/favicon.ico") { _, _ in Response(status: .notFound) }

        // MARK: login

        router.get("/login") { request, _ in
            loginPage(pages, request: request, status: .ok, error: nil,
                      notice: request.uri.queryParameters["expired"] != nil ? "Your session has expired: log in again." : nil)
        }
        router.post("/login") { request, context in
            // Login CSRF: the form's token must equal the one in the short-lived cookie
            // set with the form (double submit), so another site cannot log a browser in.
            guard let sent = context.form["csrf"], let cookie = request.cookies[Security.loginCookie]?.value,
                  Security.constantTimeEqual(sent, cookie) else {
                context.logger.warning("login refused: login CSRF token missing or wrong")
                return loginPage(pages, request: request, status: .forbidden, error: "The login form expired or was not ours: try again.", notice: nil)
            }
            let user = context.form["user"] ?? "", password = context.form["password"] ?? ""
            // Too many failures for this name or from this address: refused before the
            // password is looked at (the right one too), for any name, known or not.
            let attempt: LoginThrottle.Attempt
            switch throttle.admit(user: user, address: context.clientAddress) {
            case .admitted(let a):
                attempt = a
            case .refused(let seconds, _):
                var r = loginPage(pages, request: request, status: .tooManyRequests,
                                  error: "Too many failed logins: try again in \(seconds) s.", notice: nil)
                r.headers[.retryAfter] = String(seconds)
                return r
            }
            var outcome: Bool? = nil
            defer {
                for key in throttle.finish(attempt, succeeded: outcome) {
                    context.logger.warning("login: \(key) locked out for \(Self.seconds(throttle.policy.window)) s after \(throttle.policy.attempts) failed logins within \(Self.seconds(throttle.policy.window)) s (last from \(context.clientAddress ?? "?"))")
                }
            }
            let hash = try await store.passwordHash(user: user)
            // bcrypt runs also for an unknown user, so timing does not tell which was wrong.
            let ok = Security.verify(password: password, hash: hash ?? Security.decoyHash) && hash != nil
            outcome = ok
            guard ok else {
                context.logger.notice("login refused for '\(user)' from \(context.clientAddress ?? "?"): wrong user name or password")
                return loginPage(pages, request: request, status: .unauthorized, error: "Wrong user name or password.", notice: nil)
            }
            let token = Security.randomToken()
            try await store.createSession(user: user, token: token, csrf: Security.randomToken(), lifetimeSeconds: lifetime)
            context.logger.info("login: \(user)")
            var r = Pages.redirect("/nodes")
            r.setCookie(Pages.sessionCookie(value: token, maxAge: lifetime))
            r.setCookie(Cookie(name: Security.loginCookie, value: "", maxAge: 0, path: "/login", secure: true, httpOnly: true, sameSite: .strict))
            return r
        }
        router.post("/logout") { _, context in
            if let t = context.sessionToken { try await store.deleteSession(token: t) }
            return Pages.redirect("/login", clearSession: true)
        }

        // MARK: nodes

        router.get("/nodes") { _, context in
            let list = try await store.nodes()
            let rows: [[String: Any]] = list.map { NodeView(node: $0).values }
            return pages.render("nodes", title: "Nodes", context: context,
                                ["nodes": rows, "maxSeq": list.first?.maxSeq ?? 0])
        }
        router.get("/nodes/{name}") { request, context in
            try await nodePage(pages, store: store, nodes: nodes, context: context, node: try context.parameters.require("name"),
                               notice: request.uri.queryParameters["done"].map(String.init))
        }
        // Rules are written through the node's REST API (the node's own iptables decides, its
        // answer is shown as it gave it); members go through the database instead.
        router.post("/nodes/{name}/rules") { _, context in
            let name = try context.parameters.require("name")
            let table = (context.form["table"] ?? "").trimmingCharacters(in: .whitespaces)
            let chain = (context.form["chain"] ?? "").trimmingCharacters(in: .whitespaces)
            let rule = (context.form["rule"] ?? "").trimmingCharacters(in: .whitespaces)
            let positionText = (context.form["position"] ?? "").trimmingCharacters(in: .whitespaces)
            var body: [String: Any] = ["rule": rule]
            if !positionText.isEmpty {
                guard let p = Int(positionText), p >= 1 else {
                    return try await nodePage(pages, store: store, nodes: nodes, context: context, node: name, status: .unprocessableContent,
                                              error: "Position '\(positionText)' is not a rule number (1 or more).")
                }
                body["position"] = p
            }
            let path = "/v1/rules/\(Pages.link(table.isEmpty ? "filter" : table))/\(Pages.link(chain))"
            return try await nodeEdit(pages, store: store, nodes: nodes, context: context, node: name, method: .post, path: path, body: body,
                                      done: "\(positionText.isEmpty ? "-A" : "-I") \(chain) \(rule)")
        }
        router.post("/nodes/{name}/rules/delete") { _, context in
            let name = try context.parameters.require("name")
            let table = context.form["table"] ?? "filter", chain = context.form["chain"] ?? ""
            guard let number = Int(context.form["number"] ?? ""), number >= 1 else {
                return try await nodePage(pages, store: store, nodes: nodes, context: context, node: name, status: .unprocessableContent,
                                          error: "No rule number given.")
            }
            return try await nodeEdit(pages, store: store, nodes: nodes, context: context, node: name, method: .delete,
                                      path: "/v1/rules/\(Pages.link(table))/\(Pages.link(chain))/\(number)", body: nil,
                                      done: "-D \(chain) \(number)")
        }

        // MARK: sets

        router.get("/sets") { _, context in
            let rows: [[String: Any]] = try await store.sets().map {
                ["name": $0.definition.name, "link": Pages.link($0.definition.name), "type": $0.definition.type,
                 "options": $0.definition.createOptions, "members": $0.members]
            }
            return pages.render("sets", title: "Sets", context: context, ["sets": rows])
        }
        router.get("/sets/{name}") { request, context in
            let name = try context.parameters.require("name")
            return try await setPage(pages, store: store, context: context, set: name,
                                     search: request.uri.queryParameters["q"].map(String.init) ?? "",
                                     notice: request.uri.queryParameters["added"].map { "Added \($0)." }
                                         ?? request.uri.queryParameters["deleted"].map { "Deleted \($0)." })
        }
        router.post("/sets/{name}/members") { _, context in
            let name = try context.parameters.require("name")
            guard let set = try await store.set(named: name) else {
                return try await setPage(pages, store: store, context: context, set: name, status: .notFound, error: "The set with the given name does not exist")
            }
            let timeoutText = (context.form["timeout"] ?? "").trimmingCharacters(in: .whitespaces)
            var timeout: Int?
            if !timeoutText.isEmpty {
                guard let t = Int(timeoutText), t >= 0 else {
                    return try await setPage(pages, store: store, context: context, set: name, status: .unprocessableContent,
                                             error: "Syntax error: '\(timeoutText)' is invalid as number")
                }
                timeout = t
            }
            let element: String, comment: String?
            switch MemberValidation.normalise(context.form["element"] ?? "", in: set, timeout: timeout) {
            case .failure(let e):
                return try await setPage(pages, store: store, context: context, set: name, status: .unprocessableContent, error: e.description)
            case .success(let e): element = e
            }
            switch MemberValidation.checkComment(context.form["comment"] ?? "") {
            case .failure(let e):
                return try await setPage(pages, store: store, context: context, set: name, status: .unprocessableContent, error: e.description)
            case .success(let c): comment = c
            }
            do {
                let seq = try await store.add(set: name, element: element, comment: comment, timeout: timeout, actor: actor(context))
                context.logger.info("\(actor(context)): add \(name) \(element) (seq \(seq))")
            } catch let e as PSQLError {
                return try await setPage(pages, store: store, context: context, set: name, status: .conflict, error: ConsoleStore.message(e))
            }
            return Pages.redirect("/sets/\(Pages.link(name))?added=\(query(element))")
        }
        router.post("/sets/{name}/members/delete") { _, context in
            let name = try context.parameters.require("name")
            let element = context.form["element"] ?? ""
            do {
                let seq = try await store.delete(set: name, element: element, actor: actor(context))
                context.logger.info("\(actor(context)): del \(name) \(element) (seq \(seq))")
            } catch let e as PSQLError {
                return try await setPage(pages, store: store, context: context, set: name, status: .conflict, error: ConsoleStore.message(e))
            }
            return Pages.redirect("/sets/\(Pages.link(name))?deleted=\(query(element))")
        }

        // MARK: import

        router.get("/import") { _, context in
            pages.render("import", title: "Import", context: context)
        }
        router.post("/import") { _, context in
            // A chosen file wins over the text area.
            let file = context.form["file"] ?? ""
            let text = (file.isEmpty ? context.form["text"] ?? "" : file).replacingOccurrences(of: "\r\n", with: "\n")
            let sets = try await store.sets().map(\.definition)
            switch SetImport.plan(text, sets: sets, members: try await store.allMembers()) {
            case .failure(let e):
                return pages.render("import", status: .unprocessableContent, title: "Import", context: context,
                                    ["text": text, "error": "Nothing imported: \(e.description)"])
            case .success(let plan):
                do {
                    try await store.apply(plan, actor: actor(context))
                } catch {
                    return pages.render("import", status: .conflict, title: "Import", context: context,
                                        ["text": text, "error": "Nothing imported: \(ConsoleStore.message(error))"])
                }
                context.logger.info("\(actor(context)): import: \(plan.creates.count) set(s), \(plan.adds.count) member(s)")
                return pages.render("import", title: "Import", context: context,
                                    ["plan": ["creates": plan.creates.count, "adds": plan.adds.count, "already": plan.alreadyThere]])
            }
        }
        return router
    }

    static func actor(_ context: ConsoleContext) -> String { "console:\(context.user ?? "?")" }

    static func query(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }

    static func seconds(_ d: Duration) -> Int64 { d.components.seconds }

    /// The login form. Its CSRF token is the login cookie's when the browser has one (a
    /// second tab, a favicon fetch or a failed attempt must not invalidate an open form),
    /// else a new one.
    static func loginPage(_ pages: Pages, request: Request, status: HTTPResponse.Status, error: String?, notice: String?) -> Response {
        let existing = request.cookies[Security.loginCookie]?.value ?? ""
        let token = existing.count == 64 && existing.allSatisfy(\.isHexDigit) ? existing : Security.randomToken()
        var values: [String: Any] = ["loginCSRF": token]
        if let error { values["error"] = error }
        if let notice { values["notice"] = notice }
        var r = pages.render("login", status: status, title: "Log in", context: nil, values)
        r.setCookie(Cookie(name: Security.loginCookie, value: token, maxAge: 3600, path: "/login", secure: true, httpOnly: true, sameSite: .strict))
        return r
    }

    /// A node's page: its rules with counters per layer and its migration report, read from
    /// its REST API at `fleet_nodes.api_url`, with the form that edits its rules.
    static func nodePage(_ pages: Pages, store: ConsoleStore, nodes: NodeClient, context: ConsoleContext, node name: String,
                         status: HTTPResponse.Status = .ok, error: String? = nil, notice: String? = nil) async throws -> Response {
        guard let node = try await store.node(named: name) else {
            return pages.render("message", status: .notFound, title: "No such node", context: context,
                                ["text": "No node '\(name)' in fleet_nodes.", "back": "/nodes", "backLabel": "Nodes"])
        }
        var values = NodeView(node: node).values
        values["api"] = node.apiURL ?? "none"
        if let error { values["ruleError"] = error }
        if let notice { values["ruleNotice"] = "Done: \(notice)" }
        if let api = node.apiURL {
            switch await attempt({ try await nodes.get(api, "/v1/rules") }) {
            case .success(let json): values.merge(RulesView.values(json)) { $1 }
            case .failure(let e): values["rulesError"] = "\(e)"
            }
            switch await attempt({ try await nodes.get(api, "/v1/migration") }) {
            case .success(let json): values["migration"] = MigrationView.values(json)
            case .failure(let e): values["migrationError"] = "\(e)"
            }
        } else {
            values["rulesError"] = "the node has no api_url in fleet_nodes"
        }
        return pages.render("node", status: status, title: "Node \(name)", context: context, values)
    }

    /// One rule edit sent to the node; its refusal (iptables' own message) is shown on the
    /// node's page with nothing changed, its success logged and redirected to the page.
    static func nodeEdit(_ pages: Pages, store: ConsoleStore, nodes: NodeClient, context: ConsoleContext, node name: String,
                         method: NodeClient.Method, path: String, body: [String: Any]?, done: String) async throws -> Response {
        guard let node = try await store.node(named: name), let api = node.apiURL else {
            return try await nodePage(pages, store: store, nodes: nodes, context: context, node: name, status: .notFound,
                                      error: "The node has no api_url in fleet_nodes.")
        }
        switch await attempt({ try await nodes.send(api, method: method, path, body: body) }) {
        case .success:
            context.logger.info("\(actor(context)): node \(name): \(done)")
            return Pages.redirect("/nodes/\(Pages.link(name))?done=\(query(done))")
        case .failure(let e):
            return try await nodePage(pages, store: store, nodes: nodes, context: context, node: name, status: .unprocessableContent,
                                      error: "\(e)")
        }
    }

    static func setPage(_ pages: Pages, store: ConsoleStore, context: ConsoleContext, set name: String,
                        search: String = "", status: HTTPResponse.Status = .ok, error: String? = nil, notice: String? = nil) async throws -> Response {
        guard let set = try await store.set(named: name) else {
            return pages.render("message", status: .notFound, title: "No such set", context: context,
                                ["text": "The set with the given name does not exist", "back": "/sets", "backLabel": "Sets"])
        }
        let (members, total) = try await store.members(of: name, search: search, limit: 1000)
        var values: [String: Any] = [
            "name": set.name, "link": Pages.link(set.name), "type": set.type, "options": set.createOptions,
            "hasTimeout": set.createOptions.split(separator: " ").contains("timeout"),
            "q": search, "searching": !search.isEmpty, "shown": members.count, "total": total,
            "members": members.map { m -> [String: Any] in
                ["element": m.element, "comment": m.comment ?? "", "timeout": m.timeout.map(String.init) ?? "", "addedAt": m.addedAt,
                 "link": Pages.link(set.name), "csrf": context.csrf ?? ""]
            },
        ]
        if let error { values["error"] = error }
        if let notice { values["notice"] = notice }
        return pages.render("set", status: status, title: "Set \(name)", context: context, values)
    }
}

/// The value or the error, so one failed call to a node does not hide the other's answer.
func attempt<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// A database that cannot be reached gives a page saying so (503), not a dropped connection.
struct DatabaseDown: RouterMiddleware {
    typealias Context = ConsoleContext
    let pages: Pages
    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as PSQLError {
            context.logger.error("\(request.method) \(request.uri.path): database: \(String(reflecting: e))")
            return pages.message(status: .serviceUnavailable, title: "Database unavailable",
                                 text: "The fleet database did not answer: \(ConsoleStore.message(e)). Nothing was changed.",
                                 back: request.uri.path, backLabel: "Retry")
        }
    }
}
