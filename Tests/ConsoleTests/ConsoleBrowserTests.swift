import Foundation
import TestSupport
import XCTest

/// The console end to end (issue 14, "Must show"): headless Chromium, driven over the
/// DevTools protocol, logs in, adds a member and sees it listed (and in the database, with
/// its change-log row), reads a node's rules and sees a counter move after packets were
/// sent in the node's namespace; a wrong password, a POST without (or with a wrong) CSRF
/// token, and an expired session are refused, and nothing is written. Screenshots go to a
/// temp dir; with EBPF_IPTABLES_RECORD=1 also to docs/console/ (committed pictures).
final class ConsoleBrowserTests: XCTestCase {
    var lab: ConsoleLab?

    override func setUpWithError() throws {
        if let why = ConsoleLab.unavailableReason { throw XCTSkip(why) }
    }

    override func tearDown() {
        lab?.close()
        lab = nil
    }

    func testConsoleInChromium() throws {
        let started = ContinuousClock.now
        let lab = try ConsoleLab()
        self.lab = lab
        let shots = FileManager.default.temporaryDirectory.appendingPathComponent("console-shots-\(getpid())").path
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let record = ProcessInfo.processInfo.environment["EBPF_IPTABLES_RECORD"] == "1"
        func screenshot(_ name: String) throws {
            _ = try lab.browser(["screenshot", "\(shots)/\(name).png"])
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(shots)/\(name).png")[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size, 5000, "screenshot \(name) is (nearly) empty")
            if record {
                let docs = Fixtures.packageRoot.appendingPathComponent("docs/console").path
                try FileManager.default.createDirectory(atPath: docs, withIntermediateDirectories: true)
                try? FileManager.default.removeItem(atPath: "\(docs)/\(name).png")
                try FileManager.default.copyItem(atPath: "\(shots)/\(name).png", toPath: "\(docs)/\(name).png")
            }
        }
        let base = lab.consoleURL

        // Not logged in: pages send the browser to the login form; plain HTTP gets nothing.
        let anonymous = lab.curl(["\(base)/sets"])
        XCTAssertEqual(anonymous.status, 303)
        XCTAssertTrue(anonymous.headers.lowercased().contains("location: /login"), anonymous.headers)
        XCTAssertNotEqual(lab.curl(["http://127.0.0.1:\(lab.consolePort)/login"]).status, 200, "plain HTTP must not be served")

        // A wrong password: refused in the browser (still the login page, the message shown)…
        var page = try lab.browser(["goto", "\(base)/login"])
        XCTAssertTrue(page.text.contains("Log in"), page.text)
        try screenshot("login")
        page = try lab.browser(["submit", "form.login", #"{"user": "admin", "password": "not the password"}"#])
        XCTAssertTrue(page.url.hasSuffix("/login"), page.url)
        XCTAssertTrue(page.text.contains("Wrong user name or password."), page.text)
        XCTAssertEqual(try lab.sql("select count(*) from console_sessions"), "0", "a refused login made a session")
        // …and with a 401 (curl: the login form's own CSRF cookie and field, wrong password).
        let jar = lab.work + "/cookies"
        let form = lab.curl(["-c", jar, "\(base)/login"])
        let loginCSRF = try XCTUnwrap(Self.hidden("csrf", in: form.body))
        XCTAssertEqual(lab.curl(["-b", jar, "-c", jar, "--data-urlencode", "csrf=\(loginCSRF)", "--data-urlencode", "user=admin",
                                 "--data-urlencode", "password=wrong-password", "\(base)/login"]).status, 401)
        XCTAssertEqual(lab.curl(["-b", jar, "-c", jar, "--data-urlencode", "user=admin", "--data-urlencode", "password=\(lab.password)",
                                 "\(base)/login"]).status, 403, "a login without the form's CSRF token was taken")

        // The right password: a session cookie with HttpOnly, Secure and SameSite=Strict.
        let login = lab.curl(["-b", jar, "-c", jar, "--data-urlencode", "csrf=\(loginCSRF)", "--data-urlencode", "user=admin",
                              "--data-urlencode", "password=\(lab.password)", "\(base)/login"])
        XCTAssertEqual(login.status, 303)
        let setCookie = login.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: ebpf_console_session=") } ?? ""
        for flag in ["HttpOnly", "Secure", "SameSite=Strict"] { XCTAssertTrue(setCookie.contains(flag), "cookie lacks \(flag): \(setCookie)") }

        // The browser logs in and lands on the nodes page (edge1's row is its own heartbeat).
        _ = try lab.browser(["goto", "\(base)/login"])
        page = try lab.browser(["submit", "form.login", #"{"user": "admin", "password": "\#(lab.password)"}"#])
        XCTAssertTrue(page.url.hasSuffix("/nodes"), page.url)
        XCTAssertTrue(page.text.contains("edge1"), page.text)
        XCTAssertTrue(page.text.contains("edge2"), page.text)
        let edge1 = Self.row("edge1", in: page.text)
        XCTAssertEqual(edge1.count, 7, "edge1's row: \(edge1)")
        if edge1.count == 7 {
            XCTAssertEqual(edge1[2], "up")
            XCTAssertEqual(edge1[4], "0", "edge1 applied every change: lag 0")
            XCTAssertEqual(edge1[5], "100%", "edge1's one dropping rule runs in XDP")
        }
        let edge2 = Self.row("edge2", in: page.text)
        if edge2.count == 7 { XCTAssertEqual(edge2[2], "down") } else { XCTFail("edge2's row: \(edge2)") }
        try screenshot("nodes")

        // Add a member: listed on the page, in the database in normalised form, logged.
        _ = try lab.browser(["goto", "\(base)/sets/peers"])
        page = try lab.browser(["submit", "#add", #"{"element": "198.18.0.1/32", "comment": "edge peer (console test)"}"#])
        XCTAssertTrue(page.text.contains("Added 198.18.0.1."), page.text)
        XCTAssertTrue(page.text.contains("edge peer (console test)"), page.text)
        XCTAssertEqual(try lab.sql("select element || '|' || comment from fleet_members where set_name = 'peers' and element like '198.18.%'"),
                       "198.18.0.1|edge peer (console test)")
        XCTAssertEqual(try lab.sql("select op || ' ' || element || ' ' || actor from fleet_changes order by seq desc limit 1"),
                       "add 198.18.0.1 console:admin")
        // Search finds it by comment; a bad element gets ipset's refusal and writes nothing.
        page = try lab.browser(["goto", "\(base)/sets/peers?q=CONSOLE"])
        XCTAssertTrue(page.text.contains("1 of 1 matching member(s) shown."), page.text)
        let changes = try lab.sql("select count(*) from fleet_changes")
        page = try lab.browser(["submit", "#add", #"{"element": "198.18.0.300", "comment": ""}"#])
        XCTAssertTrue(page.html.contains(#"id="error""#), page.text)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_changes"), changes, "a refused element was written")
        page = try lab.browser(["submit", "#add", #"{"element": "198.18.0.1", "comment": ""}"#])
        XCTAssertTrue(page.text.contains("already added"), page.text)
        _ = try lab.browser(["goto", "\(base)/sets/peers"])
        try screenshot("set-members")

        // The node follows the member the console added: datagrams from 198.18.0.1, which
        // XDP's copy of the DROP rule would drop, are now accepted by the kernel through the
        // `peers` rule; seen on the node's page, counters per layer.
        page = try lab.browser(["goto", "\(base)/nodes/edge1"])
        XCTAssertTrue(page.text.contains("Migration report"), page.text)
        XCTAssertTrue(page.text.contains("Installable: yes"), page.text)
        let followed = ContinuousClock.now + .seconds(30)
        while lab.cli(["test", "peers", ConsoleLab.peerAddress], tool: "ebpf-ipset").status != 0 {
            if ContinuousClock.now > followed { XCTFail("the node did not follow the console's add within 30 s:\n\(lab.logOf("serve"))"); break }
            usleep(50_000)
        }
        let before = Self.port5060Counters(page.text)
        lab.sendUDP(count: 25)
        page = try lab.browser(["goto", "\(base)/nodes/edge1"])
        let after = Self.port5060Counters(page.text)
        if let b = before, let a = after {
            XCTAssertGreaterThanOrEqual(a.accept.kernel - b.accept.kernel, 25, "the peers rule did not take the datagrams: \(b) -> \(a)")
            XCTAssertEqual(a.drop.kernel + a.drop.xdp, b.drop.kernel + b.drop.xdp, "a member the console added was still dropped: \(b) -> \(a)")
        } else {
            XCTFail("no counters for the port-5060 rules: \(page.text)")
        }
        try screenshot("node-rules")

        // Rules are written through the node's REST API: a DROP for the peer inserted first
        // decides its datagrams on the node (XDP drops them, counted on that rule), a rule the
        // node's iptables refuses shows iptables' message and changes nothing, and the row's
        // Delete button removes the rule again.
        let drop = "-A INPUT -s \(ConsoleLab.peerAddress)/32 -p udp -m udp --dport 5060 -j DROP"
        page = try lab.browser(["submit", "#rule", #"{"chain": "INPUT", "position": "1", "rule": "-s \#(ConsoleLab.peerAddress) -p udp --dport 5060 -j DROP"}"#])
        XCTAssertTrue(page.text.contains("Done: -I INPUT"), page.text)
        XCTAssertEqual(lab.cli(["-S", "INPUT"]).stdout.split(separator: "\n").dropFirst().first.map(String.init), drop)
        lab.sendUDP(count: 10)
        page = try lab.browser(["goto", "\(base)/nodes/edge1"])
        let first = page.text.split(separator: "\n").first { $0.hasPrefix("1\t") && $0.contains("-s \(ConsoleLab.peerAddress)/32") }
            .map { $0.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let cells = first, cells.count >= 6, let xdp = Int(cells[4]) {
            XCTAssertGreaterThanOrEqual(xdp, 10, "the inserted DROP did not take the peer's datagrams in XDP: \(cells)")
        } else {
            XCTFail("the inserted rule is not rule 1 of INPUT on the node page: \(page.text)")
        }
        let rulesBefore = lab.cli(["-S"]).stdout
        page = try lab.browser(["submit", "#rule", #"{"chain": "INPUT", "position": "", "rule": "-p udp --dport 5060 -j NOSUCHTARGET"}"#])
        XCTAssertTrue(page.html.contains(#"id="error""#) && page.text.contains("NOSUCHTARGET"), page.text)
        XCTAssertEqual(lab.cli(["-S"]).stdout, rulesBefore, "a refused rule changed the node")
        page = try lab.browser(["submit", #"form[action$="/rules/delete"]"#, #"{"table": "filter", "chain": "INPUT", "number": "1"}"#])
        XCTAssertTrue(page.text.contains("Done: -D INPUT 1"), page.text)
        XCTAssertFalse(lab.cli(["-S", "INPUT"]).stdout.contains(drop), "the rule was not deleted")

        // Import: a bad line refuses the whole file, located; a good one creates and adds.
        _ = try lab.browser(["goto", "\(base)/import"])
        let members = try lab.sql("select count(*) from fleet_members")
        page = try lab.browser(["submit", "#import", #"{"text": "create blocked hash:net family inet hashsize 1024 maxelem 65536\nadd blocked 203.0.113.0/24\nadd blocked 203.0.113.999/24\n"}"#])
        XCTAssertTrue(page.text.contains("Nothing imported: line 3:"), page.text)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_members"), members)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_sets where name = 'blocked'"), "0")
        // The good file is chosen in the file input (multipart upload), as an operator would.
        let file = lab.work + "/fleet.save"
        try "create blocked hash:net family inet hashsize 1024 maxelem 65536\nadd blocked 203.0.113.0/24\nadd peers 198.51.100.7\nadd peers 198.51.100.8\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        _ = try lab.browser(["goto", "\(base)/import"])
        _ = try lab.browser(["upload", "#file", file])
        page = try lab.browser(["click", "#import-button"])
        XCTAssertTrue(page.text.contains("Imported: 1 set(s) created, 2 member(s) added, 1 already there."), page.text)
        XCTAssertEqual(try lab.sql("select string_agg(set_name || ' ' || element, ',' order by set_name, element) from fleet_members"),
                       "blocked 203.0.113.0/24,peers 198.18.0.1,peers 198.51.100.7,peers 198.51.100.8")

        // Delete through the page's button.
        _ = try lab.browser(["goto", "\(base)/sets/peers?q=198.51.100.8"])
        page = try lab.browser(["click", "#members button"])
        XCTAssertTrue(page.text.contains("Deleted 198.51.100.8."), page.text)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_members where element = '198.51.100.8'"), "0")

        // A POST without the CSRF token, or with a wrong one, is refused (403), nothing written.
        let sessionForm = lab.curl(["-b", jar, "\(base)/sets/peers"])
        XCTAssertEqual(sessionForm.status, 200)
        let csrf = try XCTUnwrap(Self.hidden("csrf", in: sessionForm.body))
        let count = try lab.sql("select count(*) from fleet_changes")
        XCTAssertEqual(lab.curl(["-b", jar, "--data-urlencode", "element=192.0.2.1", "\(base)/sets/peers/members"]).status, 403)
        XCTAssertEqual(lab.curl(["-b", jar, "--data-urlencode", "csrf=\(String(csrf.reversed()))", "--data-urlencode", "element=192.0.2.1",
                                 "\(base)/sets/peers/members"]).status, 403)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_changes"), count, "a POST without a valid CSRF token was applied")
        // The same POST with the token goes through (the refusals were the token's doing).
        XCTAssertEqual(lab.curl(["-b", jar, "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "element=192.0.2.1",
                                 "\(base)/sets/peers/members"]).status, 303)

        // Expired sessions (set in the past in SQL): the browser is sent to the login page,
        // a POST is refused with 401 and writes nothing.
        try lab.sql("update console_sessions set expires_at = now() - interval '1 minute'")
        page = try lab.browser(["goto", "\(base)/sets/peers"])
        XCTAssertTrue(page.url.contains("/login"), page.url)
        XCTAssertTrue(page.text.contains("Your session has expired"), page.text)
        let count2 = try lab.sql("select count(*) from fleet_changes")
        XCTAssertEqual(lab.curl(["-b", jar, "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "element=192.0.2.2",
                                 "\(base)/sets/peers/members"]).status, 401)
        XCTAssertEqual(try lab.sql("select count(*) from fleet_changes"), count2)

        // Log in again, then out: the session row goes, and its cookie opens nothing.
        page = try lab.browser(["submit", "form.login", #"{"user": "admin", "password": "\#(lab.password)"}"#])
        XCTAssertTrue(page.url.hasSuffix("/nodes"), page.url)
        XCTAssertEqual(try lab.sql("select count(*) from console_sessions where expires_at > now()"), "1")
        page = try lab.browser(["click", "form.logout button"])
        XCTAssertTrue(page.url.hasSuffix("/login"), page.url)
        XCTAssertEqual(try lab.sql("select count(*) from console_sessions where expires_at > now()"), "0")
        page = try lab.browser(["goto", "\(base)/nodes"])
        XCTAssertTrue(page.url.hasSuffix("/login"), page.url)

        print("console test: \(ContinuousClock.now - started), screenshots in \(shots)")
    }

    /// A hidden input's value in a page.
    static func hidden(_ name: String, in html: String) -> String? {
        guard let r = html.range(of: #"name="\#(name)" value=""#) else { return nil }
        let rest = html[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// The cells of the table row (innerText: tab-separated) that starts with `first`.
    static func row(_ first: String, in text: String) -> [String] {
        for line in text.split(separator: "\n") {
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.first == first { return cells }
        }
        return []
    }

    /// Kernel and XDP packets of INPUT's two `--dport 5060` rules on the node page: the
    /// ACCEPT for `peers`, then the DROP.
    static func port5060Counters(_ text: String) -> (accept: (kernel: Int, xdp: Int), drop: (kernel: Int, xdp: Int))? {
        var rows: [(kernel: Int, xdp: Int)] = []
        for line in text.split(separator: "\n") where line.contains("--dport 5060") {
            let cells = line.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) }
            // Rule rows: number, rule, kernel packets, kernel bytes, XDP packets, XDP bytes
            // (the migration report's rows have words there and are passed over).
            guard cells.count == 6, let k = Int(cells[2]), let x = Int(cells[4]) else { continue }
            rows.append((k, x))
        }
        return rows.count == 2 ? (rows[0], rows[1]) : nil
    }
}
