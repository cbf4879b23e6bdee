import Foundation
import Hummingbird
import Mustache

/// Renders the templates of `PageTemplates` into responses.
struct Pages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in [("header", PageTemplates.header), ("footer", PageTemplates.footer),
                             ("login", PageTemplates.login), ("nodes", PageTemplates.nodes),
                             ("node", PageTemplates.node), ("sets", PageTemplates.sets),
                             ("set", PageTemplates.set), ("import", PageTemplates.importPage),
                             ("message", PageTemplates.message)] {
            templates[name] = try MustacheTemplate(string: text)
        }
        library = MustacheLibrary(templates: templates)
    }

    /// `values` plus the header's: title, the user and their CSRF token (for the logout form).
    func render(_ name: String, status: HTTPResponse.Status = .ok, title: String, context: ConsoleContext?,
                _ values: [String: Any] = [:], extraHeaders: HTTPFields = [:]) -> Response {
        var all = values
        all["title"] = title
        if let u = context?.user { all["user"] = u }
        if let c = context?.csrf { all["csrf"] = c }
        let html = library.render(all, withTemplate: name) ?? "template \(name) missing"
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        headers.append(contentsOf: extraHeaders)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func message(status: HTTPResponse.Status, title: String, text: String, back: String, backLabel: String,
                 user: String? = nil, csrf: String? = nil, clearSession: Bool = false) -> Response {
        var values: [String: Any] = ["text": text, "back": back, "backLabel": backLabel]
        if let user { values["user"] = user }
        if let csrf { values["csrf"] = csrf }
        var r = render("message", status: status, title: title, context: nil, values)
        if clearSession { r.setCookie(Pages.sessionCookie(value: "", maxAge: 0)) }
        return r
    }

    /// 303 See Other: after a POST, the browser GETs the target (no form re-submission).
    static func redirect(_ location: String, clearSession: Bool = false) -> Response {
        var r = Response(status: .seeOther, headers: [.location: location])
        if clearSession { r.setCookie(sessionCookie(value: "", maxAge: 0)) }
        return r
    }

    /// The session cookie: HttpOnly (no script reads it), Secure (HTTPS only),
    /// SameSite=Strict (never sent on a request another site starts), whole site.
    static func sessionCookie(value: String, maxAge: Int) -> Cookie {
        Cookie(name: Security.sessionCookie, value: value, maxAge: maxAge, path: "/", secure: true, httpOnly: true, sameSite: .strict)
    }

    /// A path segment for links (`/sets/NAME`).
    static func link(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? s
    }
}
