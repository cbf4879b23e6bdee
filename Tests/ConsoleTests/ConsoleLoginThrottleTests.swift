import Console
import Foundation
import TestSupport
import XCTest

/// The console's failed-login limit (docs/console.md): 5 failures for one user name or from
/// one client address within the window lock that name or address for one window; locked,
/// every attempt gets 429 with `Retry-After`, the right password included; a success clears
/// the user name's count. First the rules on `LoginThrottle` with a hand-moved clock, then
/// the running console over HTTPS (curl from several loopback addresses, no browser), with
/// the window shortened to 30 s by EBPF_IPTABLES_CONSOLE_LOGIN_WINDOW.
final class ConsoleLoginThrottleTests: XCTestCase {
    var lab: ConsoleLab?

    override func tearDown() {
        lab?.close()
        lab = nil
    }

    func testThrottleRules() {
        let t = LoginThrottle(policy: .init(attempts: 5, window: .seconds(900)))
        let t0 = ContinuousClock.now
        func attempt(_ user: String, _ address: String, at seconds: Int, ok: Bool) -> (admitted: Bool, retry: Int, locked: [LoginThrottle.Key]) {
            switch t.admit(user: user, address: address, now: t0 + .seconds(seconds)) {
            case .admitted(let a): return (true, 0, t.finish(a, succeeded: ok, now: t0 + .seconds(seconds)))
            case .refused(let r, _): return (false, r, [])
            }
        }
        // Four failures, a success (the user's count cleared), four more: never locked.
        for k in 0..<4 { XCTAssertTrue(attempt("alice", "10.0.0.\(k)", at: k, ok: false).admitted) }
        XCTAssertTrue(attempt("alice", "10.0.1.1", at: 4, ok: true).admitted)
        for k in 0..<4 { XCTAssertEqual(attempt("alice", "10.0.2.\(k)", at: 5 + k, ok: false).locked, []) }
        // The fifth since the success locks alice for one window from then (t = 9).
        XCTAssertEqual(attempt("alice", "10.0.3.1", at: 9, ok: false).locked, [.user("alice")])
        var r = attempt("alice", "10.0.3.2", at: 10, ok: true)
        XCTAssertFalse(r.admitted, "the right password while locked")
        XCTAssertEqual(r.retry, 899)
        // Refused attempts do not extend it; other users are not affected.
        r = attempt("alice", "10.0.3.2", at: 908, ok: false)
        XCTAssertEqual(r.retry, 1)
        XCTAssertTrue(attempt("bob", "10.0.3.2", at: 10, ok: true).admitted)
        // Window over: afresh.
        XCTAssertTrue(attempt("alice", "10.0.3.2", at: 909, ok: true).admitted)
        // Failures older than the window do not count: five spread over more than 900 s.
        for k in 0..<5 { XCTAssertEqual(attempt("carol", "10.0.4.\(k)", at: 1000 + k * 300, ok: false).locked, []) }
        // One address, five names (unknown ones count too): the address is locked.
        for k in 0..<4 { XCTAssertEqual(attempt("u\(k)", "10.9.9.9", at: 3000 + k, ok: false).locked, []) }
        XCTAssertEqual(attempt("u4", "10.9.9.9", at: 3004, ok: false).locked, [.address("10.9.9.9")])
        r = attempt("bob", "10.9.9.9", at: 3005, ok: true)
        XCTAssertFalse(r.admitted)
        XCTAssertEqual(r.retry, 899)
        XCTAssertTrue(attempt("bob", "10.9.9.8", at: 3005, ok: true).admitted)
        // In flight counts: five admitted at once and not yet answered fill the count.
        var inFlight: [LoginThrottle.Attempt] = []
        for _ in 0..<5 {
            guard case .admitted(let a) = t.admit(user: "dave", address: nil, now: t0 + .seconds(5000)) else { return XCTFail("admit") }
            inFlight.append(a)
        }
        guard case .refused(let wait, let keys) = t.admit(user: "dave", address: nil, now: t0 + .seconds(5000)) else { return XCTFail("a sixth at once was admitted") }
        XCTAssertEqual(wait, 1)
        XCTAssertEqual(keys, [.user("dave")])
        XCTAssertEqual(inFlight.map { t.finish($0, succeeded: false, now: t0 + .seconds(5001)) }.flatMap { $0 }, [.user("dave")])
        // A name is kept by its first 256 bytes: two long names with that prefix share a count.
        let long = String(repeating: "x", count: 256)
        for k in 0..<4 { XCTAssertEqual(attempt(long + "\(k)", "10.5.0.\(k)", at: 6000 + k, ok: false).locked, []) }
        XCTAssertEqual(attempt(long + String(repeating: "y", count: 100_000), "10.5.0.9", at: 6004, ok: false).locked, [.user(long)])
        // The table forgets what the window no longer needs.
        for k in 0..<3000 { _ = attempt("spray\(k)", "10.8.\(k / 250).\(k % 250)", at: 10_000 + k, ok: false) }
        XCTAssertLessThan(t.trackedKeys, 6100)
        _ = attempt("late", "10.7.0.1", at: 20_000, ok: false)
        for k in 0..<1100 { _ = attempt("again\(k)", "10.6.\(k / 250).\(k % 250)", at: 20_001, ok: false) }
        XCTAssertLessThan(t.trackedKeys, 2300, "keys older than the window were not swept")
    }

    func testLockoutOverHTTPS() throws {
        if let why = NetworkNamespace.unavailableReason { throw XCTSkip(why) }
        if ConsoleLab.pgBin == nil { throw XCTSkip("PostgreSQL's server is not installed (apt-get install postgresql; scripts/setup does)") }
        for tool in ["psql", "runuser", "openssl", "curl"] where !Run.has(tool) { throw XCTSkip("'\(tool)' is not installed (scripts/setup installs it)") }
        let window = 30
        let lab = try ConsoleLab(node: false, browser: false, consoleEnv: ["EBPF_IPTABLES_CONSOLE_LOGIN_WINDOW": String(window)])
        self.lab = lab
        let bob = "bob", bobPassword = "another long passphrase"
        let add = lab.cli(["console", "adduser", bob, "--database", lab.databaseURL], stdin: bobPassword + "\n")
        XCTAssertEqual(add.status, 0, add.stderr)

        /// One login POST from `address` (a loopback address in the namespace), with a valid
        /// login-CSRF pair (the double-submit cookie and field).
        func login(_ user: String, _ password: String, from address: String) -> (status: Int, retryAfter: Int?, body: String) {
            let token = Security.randomToken()
            let r = lab.curl(["--interface", address, "-b", "\(Security.loginCookie)=\(token)",
                              "--data-urlencode", "csrf=\(token)", "--data-urlencode", "user=\(user)",
                              "--data-urlencode", "password=\(password)", lab.consoleURL + "/login"])
            let retry = r.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("retry-after:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
            return (r.status, retry, r.body)
        }
        let started = ContinuousClock.now
        // admin: 4 failures, a success (count cleared), 4 failures: all answered as usual.
        for k in 0..<4 { XCTAssertEqual(login(lab.user, "wrong \(k)", from: "127.0.0.2").status, 401) }
        XCTAssertEqual(login(lab.user, lab.password, from: "127.0.0.3").status, 303)
        for k in 0..<4 { XCTAssertEqual(login(lab.user, "wrong \(k)", from: "127.0.0.4").status, 401, "after a success the count starts afresh") }
        // The fifth since the success: refused as wrong, and admin is locked.
        XCTAssertEqual(login(lab.user, "wrong 5", from: "127.0.0.5").status, 401)
        let locked = login(lab.user, lab.password, from: "127.0.0.6")
        let elapsed = ContinuousClock.now - started
        XCTAssertLessThan(elapsed, .seconds(window), "the machine was too slow for the window: the failures spread over more than \(window) s")
        XCTAssertEqual(locked.status, 429, "the right password while locked")
        XCTAssertTrue(locked.body.contains("Too many failed logins"), locked.body)
        let retry = try XCTUnwrap(locked.retryAfter, "no Retry-After")
        XCTAssertTrue((1...window).contains(retry), "Retry-After \(retry)")
        XCTAssertEqual(login(lab.user, "wrong again", from: "127.0.0.6").status, 429)
        // Another user from the same (clean) address is not affected.
        XCTAssertEqual(login(bob, bobPassword, from: "127.0.0.6").status, 303)

        // One address, five names (unknown ones too): the address is locked, bob included.
        for k in 0..<5 { XCTAssertEqual(login("nobody\(k)", "guess", from: "127.0.0.7").status, 401) }
        let fromLocked = login(bob, bobPassword, from: "127.0.0.7")
        XCTAssertEqual(fromLocked.status, 429)
        XCTAssertNotNil(fromLocked.retryAfter)
        XCTAssertEqual(login(bob, bobPassword, from: "127.0.0.8").status, 303)

        // Both lockouts logged, once each.
        let log = lab.logOf("console")
        XCTAssertEqual(log.components(separatedBy: "login: user 'admin' locked out for \(window) s").count - 1, 1, log)
        XCTAssertEqual(log.components(separatedBy: "login: address 127.0.0.7 locked out").count - 1, 1, log)

        // After the window: both may log in again.
        let waitFor = max(retry, fromLocked.retryAfter ?? window)
        Thread.sleep(forTimeInterval: Double(waitFor) + 1)
        XCTAssertEqual(login(lab.user, lab.password, from: "127.0.0.6").status, 303, "still locked after Retry-After")
        XCTAssertEqual(login(bob, bobPassword, from: "127.0.0.7").status, 303, "address still locked after Retry-After")
    }
}
