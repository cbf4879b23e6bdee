import Foundation
import TestSupport
import XCTest

/// The REST API end to end: `serve` in a namespace, curl as the client, the kernel's own
/// iptables-save and ipset as the oracle, ICMP from a peer namespace for the verdicts.
/// Every response is also checked against docs/openapi.yaml at the end of each test.
final class RESTEndpointTests: XCTestCase {
    var agent: AgentUnderTest!
    var responses = OpenAPIResponses()

    override func setUpWithError() throws {
        if let reason = AgentUnderTest.unavailableReason { throw XCTSkip(reason) }
        agent = try AgentUnderTest(prefix: "rest")
    }

    override func tearDown() {
        if let mismatches = responses.check() { XCTFail("responses that docs/openapi.yaml does not describe:\n\(mismatches)") }
        agent?.close()
        agent = nil
    }

    /// One request, recorded for the document check; `template` is the documented path.
    @discardableResult
    func call(_ method: String, _ path: String, template: String? = nil, body: Any? = nil, raw: String? = nil,
              token: AgentUnderTest.Credential = .full) -> AgentUnderTest.Reply {
        let text = raw ?? body.map { AgentUnderTest.json($0) }
        let r = agent.request(method, path, body: text, token: token)
        responses.record(method, template ?? path.split(separator: "?").first.map(String.init) ?? path, r)
        return r
    }

    func testAuthentication() throws {
        let before = agent.kernelRules()
        var r = call("GET", "/v1/status", token: .none)
        XCTAssertEqual(r.status, 401, r.body)
        XCTAssertTrue(r.headers.lowercased().contains("www-authenticate: bearer"), r.headers)
        XCTAssertEqual(r.json?["error"] as? String, "unauthorized")
        r = call("GET", "/v1/status", token: .token("Bearer not-a-token"))
        XCTAssertEqual(r.status, 401, r.body)
        XCTAssertEqual(r.json?["message"] as? String, "unknown token")
        r = call("GET", "/v1/status", token: .token("Basic dXNlcjpwYXNz"))
        XCTAssertEqual(r.status, 401, r.body)
        // A prefix of a good token is not a good token.
        r = call("GET", "/v1/status", token: .token("Bearer " + agent.fullToken.dropLast()))
        XCTAssertEqual(r.status, 401, r.body)
        r = call("GET", "/metrics", token: .none)
        XCTAssertEqual(r.status, 401, r.body)

        // Read-only: reads pass, writes are forbidden and change nothing.
        r = call("GET", "/v1/status", token: .readOnly)
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(r.json?["attached"] as? Bool, true)
        XCTAssertEqual(r.json?["interface"] as? String, agent.interface)
        r = call("GET", "/v1/rules", token: .readOnly)
        XCTAssertEqual(r.status, 200, r.body)
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-s 198.18.0.1 -j DROP"], token: .readOnly)
        XCTAssertEqual(r.status, 403, r.body)
        XCTAssertEqual(r.json?["error"] as? String, "forbidden")
        r = call("POST", "/v1/sets", body: ["name": "ro", "type": "hash:ip"], token: .readOnly)
        XCTAssertEqual(r.status, 403, r.body)
        r = call("POST", "/v1/restore", body: ["rules": "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"], token: .readOnly)
        XCTAssertEqual(r.status, 403, r.body)
        XCTAssertEqual(agent.kernelRules(), before)
        XCTAssertFalse(agent.kernel(["ipset", "list", "-n"]).stdout.contains("ro"))

        // Unknown route, with a token: 404 with a JSON body.
        let unknown = agent.request("GET", "/v1/nothing-here")
        XCTAssertEqual(unknown.status, 404, unknown.body)
        XCTAssertEqual(unknown.json?["error"] as? String, "not-found")
        // A route of ours with a method it does not have: 405 and the methods it has.
        let wrong = agent.request("DELETE", "/v1/status")
        XCTAssertEqual(wrong.status, 405, wrong.body)
        XCTAssertTrue(wrong.headers.lowercased().contains("allow: get"), wrong.headers)
        let wrongSet = agent.request("PATCH", "/v1/sets/s1/members")
        XCTAssertEqual(wrongSet.status, 405, wrongSet.body)
        XCTAssertTrue(wrongSet.headers.contains("GET, POST, PUT"), wrongSet.headers)
    }

    func testRuleEditsChangeVerdicts() throws {
        XCTAssertTrue(agent.pingFromPeer(), "no traffic before any rule")
        // A block rule, as the original agent's "add a block rule".
        var r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}",
                     body: ["rule": "-s \(AgentUnderTest.peerAddress) -p icmp -j DROP"])
        XCTAssertEqual(r.status, 201, r.body)
        XCTAssertEqual(r.json?["command"] as? [String], ["iptables", "-t", "filter", "-A", "INPUT", "-s", AgentUnderTest.peerAddress, "-p", "icmp", "-j", "DROP"])
        XCTAssertTrue(agent.kernel(["iptables", "-S", "INPUT"]).stdout.contains("-A INPUT -s 198.18.0.1/32 -p icmp -j DROP"))
        XCTAssertFalse(agent.pingFromPeer(), "the DROP rule must drop the echo")
        XCTAssertFalse(agent.pingFromPeer())

        // The list shows the rule with XDP's drops (the kernel never saw those packets).
        r = call("GET", "/v1/rules?table=filter")
        XCTAssertEqual(r.status, 200, r.body)
        let rule = try XCTUnwrap(Self.rules(r.json, table: "filter", chain: "INPUT").first)
        XCTAssertEqual(rule["rule"] as? String, "-A INPUT -s 198.18.0.1/32 -p icmp -j DROP")
        XCTAssertEqual(rule["number"] as? Int, 1)
        let xdp = try XCTUnwrap(rule["xdp"] as? [String: Any])
        XCTAssertEqual(xdp["packets"] as? Int, 2, "both echoes were dropped by XDP for this rule: \(r.body)")
        XCTAssertEqual((rule["kernel"] as? [String: Any])?["packets"] as? Int, 0)
        XCTAssertNotNil((r.json?["xdp"] as? [String: Any])?["dropped"])

        // A pass rule inserted before it: the echo passes again.
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}",
                 body: ["rule": "-s \(AgentUnderTest.peerAddress) -p icmp -j ACCEPT", "position": 1])
        XCTAssertEqual(r.status, 201, r.body)
        XCTAssertTrue(agent.pingFromPeer(), "the ACCEPT inserted first must let the echo through")
        // Replaced by one for another source: dropped again.
        r = call("PUT", "/v1/rules/filter/INPUT/1", template: "/v1/rules/{table}/{chain}/{number}",
                 body: ["rule": "-s 198.18.0.77 -p icmp -j ACCEPT"])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertFalse(agent.pingFromPeer(), "after -R the ACCEPT no longer matches")
        // Deleting the DROP by its text: passes.
        r = call("POST", "/v1/rules/filter/INPUT/delete", template: "/v1/rules/{table}/{chain}/delete",
                 body: ["rule": "-s \(AgentUnderTest.peerAddress) -p icmp -j DROP"])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.pingFromPeer(), "the DROP is gone")
        // And the remaining rule by its number.
        r = call("DELETE", "/v1/rules/filter/INPUT/1", template: "/v1/rules/{table}/{chain}/{number}")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(agent.kernel(["iptables", "-S", "INPUT"]).stdout, "-P INPUT ACCEPT\n")
        r = call("DELETE", "/v1/rules/filter/INPUT/1", template: "/v1/rules/{table}/{chain}/{number}")
        XCTAssertEqual(r.status, 422, "no rule 1 any more: iptables refuses: \(r.body)")
        XCTAssertEqual(r.json?["exitStatus"] as? Int, 1)

        // Policies (FORWARD: INPUT's DROP would cut the test's own connection on lo).
        r = call("PUT", "/v1/chains/filter/FORWARD/policy", template: "/v1/chains/{table}/{chain}/policy", body: ["policy": "DROP"])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.kernel(["iptables", "-S", "FORWARD"]).stdout.hasPrefix("-P FORWARD DROP"))
        r = call("PUT", "/v1/chains/filter/FORWARD/policy", template: "/v1/chains/{table}/{chain}/policy", body: ["policy": "ACCEPT"])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.kernel(["iptables", "-S", "FORWARD"]).stdout.hasPrefix("-P FORWARD ACCEPT"))
        // IPv6: the kernel's ip6tables alone (XDP is IPv4), same endpoints with family=ipv6.
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-s 2001:db8::7 -j DROP", "family": "ipv6"])
        XCTAssertEqual(r.status, 201, r.body)
        XCTAssertEqual(r.json?["command"] as? [String], ["ip6tables", "-t", "filter", "-A", "INPUT", "-s", "2001:db8::7", "-j", "DROP"])
        XCTAssertTrue(agent.kernel(["ip6tables", "-S", "INPUT"]).stdout.contains("-A INPUT -s 2001:db8::7/128 -j DROP"))
        r = call("GET", "/v1/rules?family=ipv6&table=filter")
        XCTAssertEqual(Self.rules(r.json, table: "filter", chain: "INPUT").first?["rule"] as? String, "-A INPUT -s 2001:db8::7/128 -j DROP", r.body)
        XCTAssertNil(r.json?["xdp"], "XDP does not run IPv6")
        r = call("DELETE", "/v1/rules/filter/INPUT/1?family=ipv6", template: "/v1/rules/{table}/{chain}/{number}")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(agent.kernel(["ip6tables", "-S", "INPUT"]).stdout, "-P INPUT ACCEPT\n")
        r = call("GET", "/v1/rules?family=ipv7")
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "family")

        // The daemon's status agrees with the kernel (no drift, no change left unfinished).
        r = call("GET", "/v1/status?verbose=true")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertFalse((r.json?["text"] as? String ?? "warning").contains("warning"), r.body)
    }

    func testBadRequestsApplyNothing() throws {
        _ = agent.kernel(["ipset", "create", "keep", "hash:ip"])
        _ = agent.kernel(["ipset", "add", "keep", "198.18.5.5"])
        let rulesBefore = agent.kernelRules()
        let setsBefore = agent.kernel(["ipset", "save"]).stdout
        let add = "/v1/rules/filter/INPUT", addT = "/v1/rules/{table}/{chain}"

        var r = call("POST", add, template: addT, raw: #"{"rule": "-j DROP""#)
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["error"] as? String, "bad-json")
        r = call("POST", add, template: addT, raw: "")
        XCTAssertEqual(r.status, 400, r.body)
        r = call("POST", add, template: addT, raw: #"["-j", "DROP"]"#)
        XCTAssertEqual(r.status, 400, r.body)
        r = call("POST", add, template: addT, body: ["rule": "-j DROP", "colour": "red"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "colour")
        r = call("POST", add, template: addT, body: ["rule": 7])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "rule")
        r = call("POST", add, template: addT, body: ["position": 1])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "rule")
        r = call("POST", add, template: addT, body: ["rule": "-j DROP", "position": 0])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "position")
        r = call("POST", add, template: addT, body: ["rule": "-j DROP", "family": "ipv5"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "family")

        // Rules our parser refuses: the diagnostic the CLI prints, pointed at the word.
        r = call("POST", add, template: addT, body: ["rule": "-p tcp -m tcpp --dport 22 -j DROP"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["error"] as? String, "bad-rule")
        XCTAssertEqual(r.json?["field"] as? String, "rule")
        var position = try XCTUnwrap(r.json?["position"] as? [String: Any], r.body)
        XCTAssertEqual(position["word"] as? Int, 4, "the word 'tcpp': \(r.body)")
        XCTAssertEqual(position["column"] as? Int, 11)
        XCTAssertTrue((r.json?["message"] as? String ?? "").contains("tcpp"), r.body)
        XCTAssertTrue(((r.json?["diagnostics"] as? [String])?.first ?? "").contains("^^^^"), r.body)
        r = call("POST", add, template: addT, body: ["rule": "-p tcp --dport 99999 -j DROP"])
        XCTAssertEqual(r.status, 400, r.body)
        position = try XCTUnwrap(r.json?["position"] as? [String: Any], r.body)
        XCTAssertEqual(position["word"] as? Int, 4, "the port: \(r.body)")
        r = call("POST", add, template: addT, body: ["rule": #"-m comment --comment "open -j DROP"#])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual((r.json?["position"] as? [String: Any])?["column"] as? Int, 22, r.body)
        r = call("POST", add, template: addT, body: ["rule": "-j DROP -F"])
        XCTAssertEqual(r.status, 400, "a second command inside the rule: \(r.body)")
        r = call("POST", add, template: addT, body: ["rule": ""])
        XCTAssertEqual(r.status, 400, r.body)
        r = call("POST", add, template: addT, body: ["rule": "-j DROP\n-F"])
        XCTAssertEqual(r.status, 400, r.body)
        r = call("POST", "/v1/rules/bogus/INPUT", template: addT, body: ["rule": "-j DROP"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "table")
        r = call("PUT", "/v1/rules/filter/INPUT/zero", template: "/v1/rules/{table}/{chain}/{number}", body: ["rule": "-j DROP"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "number")
        r = call("PUT", "/v1/chains/filter/INPUT/policy", template: "/v1/chains/{table}/{chain}/policy", body: ["policy": "REJECT"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "policy")

        // Rules the kernel's iptables refuses: its message and exit status, 422.
        r = call("POST", add, template: addT, body: ["rule": "-m set --match-set nosuch src -j DROP"])
        XCTAssertEqual(r.status, 422, r.body)
        XCTAssertEqual(r.json?["error"] as? String, "refused")
        XCTAssertEqual(r.json?["exitStatus"] as? Int, 2, r.body)
        XCTAssertTrue((r.json?["stderr"] as? String ?? "").contains("nosuch"), r.body)
        r = call("POST", "/v1/rules/filter/NOCHAIN", template: addT, body: ["rule": "-j DROP"])
        XCTAssertEqual(r.status, 422, r.body)
        r = call("POST", "/v1/rules/filter/INPUT/delete", template: "/v1/rules/{table}/{chain}/delete", body: ["rule": "-s 198.18.9.9 -j DROP"])
        XCTAssertEqual(r.status, 422, "no such rule: \(r.body)")

        // A restore with an error on line 4: located, nothing applied (not even the lines before).
        let bad = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 198.18.0.1 -j DROP\n-A INPUT -p tcp --dport 70000 -j DROP\nCOMMIT\n"
        r = call("POST", "/v1/restore", body: ["rules": bad])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "rules")
        XCTAssertEqual((r.json?["position"] as? [String: Any])?["line"] as? Int, 4, r.body)
        r = call("POST", "/v1/restore", body: ["rules": "*filter\nCOMMIT\n", "ipsets": "create x hash:ip\nadd x 300.1.1.1\n"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "ipsets")
        XCTAssertEqual((r.json?["position"] as? [String: Any])?["line"] as? Int, 2, r.body)
        r = call("POST", "/v1/restore", body: ["rules": 3])
        XCTAssertEqual(r.status, 400, r.body)
        r = call("POST", "/v1/migration", body: ["rules": "*filter\n-A INPUT -m tcpp -j DROP\nCOMMIT\n"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual((r.json?["position"] as? [String: Any])?["line"] as? Int, 2, r.body)

        // Sets: bad words never reach ipset; ipset's refusals are 4xx.
        r = call("POST", "/v1/sets", body: ["name": "a b", "type": "hash:ip"])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "name")
        r = call("POST", "/v1/sets", body: ["name": "x", "type": "hash:ip", "options": ["maxelem", "10\ncreate y hash:ip"]])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "options[1]")
        r = call("POST", "/v1/sets", body: ["name": "x", "type": "hash:nonsense"])
        XCTAssertEqual(r.status, 422, r.body)
        r = call("POST", "/v1/sets/keep/members", template: "/v1/sets/{name}/members", body: ["member": "-exist"])
        XCTAssertEqual(r.status, 400, r.body)
        r = call("PUT", "/v1/sets/keep/members", template: "/v1/sets/{name}/members", body: ["members": ["198.18.1.1", "1.2.3.4\nflush keep"]])
        XCTAssertEqual(r.status, 400, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "members[1]")

        XCTAssertEqual(agent.kernelRules(), rulesBefore, "a refused request changed the kernel's rules")
        XCTAssertEqual(agent.kernel(["ipset", "save"]).stdout, setsBefore, "a refused request changed the sets")
    }

    func testSetsEndToEnd() throws {
        var r = call("POST", "/v1/sets", body: ["name": "blocked", "type": "hash:ip", "options": ["family", "inet", "maxelem", "1024"]])
        XCTAssertEqual(r.status, 201, r.body)
        r = call("POST", "/v1/sets", body: ["name": "blocked", "type": "hash:ip"])
        XCTAssertEqual(r.status, 409, r.body)
        r = call("POST", "/v1/sets/blocked/members", template: "/v1/sets/{name}/members", body: ["member": AgentUnderTest.peerAddress])
        XCTAssertEqual(r.status, 201, r.body)
        r = call("POST", "/v1/sets/blocked/members", template: "/v1/sets/{name}/members", body: ["member": AgentUnderTest.peerAddress])
        XCTAssertEqual(r.status, 409, "already added: \(r.body)")
        r = call("GET", "/v1/sets/blocked/members/test?member=198.18.0.1", template: "/v1/sets/{name}/members/test")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(r.json?["present"] as? Bool, true)
        r = call("GET", "/v1/sets/blocked/members/test?member=198.18.0.99", template: "/v1/sets/{name}/members/test")
        XCTAssertEqual(r.json?["present"] as? Bool, false, r.body)
        r = call("GET", "/v1/sets/nosuch/members/test?member=198.18.0.99", template: "/v1/sets/{name}/members/test")
        XCTAssertEqual(r.status, 404, r.body)

        // A rule that uses the set: the set's members decide the verdict.
        XCTAssertTrue(agent.pingFromPeer())
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-m set --match-set blocked src -j DROP"])
        XCTAssertEqual(r.status, 201, r.body)
        XCTAssertFalse(agent.pingFromPeer(), "the peer is in the set")
        r = call("POST", "/v1/sets/blocked/members/delete", template: "/v1/sets/{name}/members/delete", body: ["member": AgentUnderTest.peerAddress])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.pingFromPeer(), "the peer left the set")
        r = call("POST", "/v1/sets/blocked/members/delete", template: "/v1/sets/{name}/members/delete", body: ["member": AgentUnderTest.peerAddress])
        XCTAssertEqual(r.status, 409, r.body)

        // Restore the members at once; a bad member leaves the old ones and no temporary set.
        r = call("PUT", "/v1/sets/blocked/members", template: "/v1/sets/{name}/members",
                 body: ["members": ["198.18.7.1", AgentUnderTest.peerAddress, "198.18.7.3"]])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertFalse(agent.pingFromPeer(), "the peer is back in the set")
        r = call("GET", "/v1/sets/blocked/members", template: "/v1/sets/{name}/members")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(Set(r.json?["members"] as? [String] ?? []), ["198.18.7.1", "198.18.0.1", "198.18.7.3"])
        XCTAssertEqual(r.json?["type"] as? String, "hash:ip")
        let before = agent.kernel(["ipset", "save"]).stdout
        r = call("PUT", "/v1/sets/blocked/members", template: "/v1/sets/{name}/members", body: ["members": ["198.18.8.1", "300.0.0.1"]])
        XCTAssertEqual(r.status, 422, r.body)
        XCTAssertEqual(r.json?["field"] as? String, "members[1]", r.body)
        XCTAssertEqual(agent.kernel(["ipset", "save"]).stdout, before, "a refused restore changed the sets")
        XCTAssertEqual(agent.kernel(["ipset", "list", "-n"]).stdout, "blocked\n")
        XCTAssertFalse(agent.pingFromPeer())

        r = call("GET", "/v1/sets")
        XCTAssertEqual(r.status, 200, r.body)
        let listed = try XCTUnwrap(r.array?.first as? [String: Any], r.body)
        XCTAssertEqual(listed["name"] as? String, "blocked")
        XCTAssertEqual(listed["members"] as? Int, 3)

        // In use by a rule: 409; after the rule goes, destroyed; then 404.
        r = call("DELETE", "/v1/sets/blocked", template: "/v1/sets/{name}")
        XCTAssertEqual(r.status, 409, r.body)
        r = call("DELETE", "/v1/rules/filter/INPUT/1", template: "/v1/rules/{table}/{chain}/{number}")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.pingFromPeer())
        r = call("DELETE", "/v1/sets/blocked", template: "/v1/sets/{name}")
        XCTAssertEqual(r.status, 200, r.body)
        r = call("DELETE", "/v1/sets/blocked", template: "/v1/sets/{name}")
        XCTAssertEqual(r.status, 404, r.body)
        XCTAssertEqual(agent.kernel(["ipset", "list", "-n"]).stdout, "")
    }

    func testRestoreAndMigrationReport() throws {
        let sets = "create web hash:ip family inet\nadd web 198.18.0.1\n"
        let rules = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :sip - [0:0]
            -A INPUT -j sip
            -A INPUT -p tcp --dport 22 -j ACCEPT
            -A sip -m set --match-set web src -p icmp -j DROP
            COMMIT

            """
        // --test first: checked, nothing applied.
        var r = call("POST", "/v1/restore", body: ["rules": rules, "ipsets": sets, "test": true])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(agent.kernel(["iptables", "-S", "INPUT"]).stdout, "-P INPUT ACCEPT\n")
        XCTAssertTrue(agent.pingFromPeer())
        r = call("POST", "/v1/restore", body: ["rules": rules, "ipsets": sets])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.kernel(["iptables", "-S"]).stdout.contains("-A sip -p icmp -m set --match-set web src -j DROP"))
        XCTAssertFalse(agent.pingFromPeer(), "the restored ruleset drops the peer's echo")
        // A rule that jumps to the restored user chain: -j NAME is read as iptables reads it.
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-p udp -j sip"])
        XCTAssertEqual(r.status, 201, r.body)
        r = call("POST", "/v1/rules/filter/INPUT/delete", template: "/v1/rules/{table}/{chain}/delete", body: ["rule": "-p udp -j sip"])
        XCTAssertEqual(r.status, 200, r.body)

        // The report of what runs, and of a ruleset given in the body: migrate --format json.
        r = call("GET", "/v1/migration")
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertEqual(r.json?["schema"] as? String, "ebpf-iptables/migrate/3")
        XCTAssertEqual(r.json?["interface"] as? String, agent.interface)
        XCTAssertEqual((r.json?["rules"] as? [Any])?.count, 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rest-migrate-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try rules.write(toFile: dir + "/rules", atomically: true, encoding: .utf8)
        try sets.write(toFile: dir + "/ipsets", atomically: true, encoding: .utf8)
        let cli = Run.run([Run.binary, "migrate", "--format", "json", "--ipset", dir + "/ipsets", dir + "/rules"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        r = call("POST", "/v1/migration", body: ["rules": rules, "ipsets": sets])
        XCTAssertEqual(r.status, 200, r.body)
        var fromCLI = try XCTUnwrap((try? JSONSerialization.jsonObject(with: Data(cli.stdout.utf8))) as? [String: Any])
        var fromAPI = try XCTUnwrap(r.json)
        XCTAssertEqual(fromAPI["source"] as? String, "rules")
        fromCLI["source"] = nil
        fromAPI["source"] = nil
        XCTAssertEqual(AgentUnderTest.json(fromAPI), AgentUnderTest.json(fromCLI), "the API's report differs from the CLI's")

        // A ruleset the kernel refuses as a whole (a set it does not have): nothing applied.
        let before = agent.kernelRules()
        r = call("POST", "/v1/restore", body: ["rules": "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set gone src -j DROP\nCOMMIT\n"])
        XCTAssertTrue([400, 422].contains(r.status), r.body)
        XCTAssertEqual(agent.kernelRules(), before)
        XCTAssertFalse(agent.pingFromPeer())

        // Back to empty through the API.
        r = call("POST", "/v1/restore", body: ["rules": "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"])
        XCTAssertEqual(r.status, 200, r.body)
        XCTAssertTrue(agent.pingFromPeer())
    }

    /// N API clients × M appends and CLI processes appending at the same time: every rule
    /// lands (the kernel holds exactly the union), XDP is compiled from what the kernel
    /// holds (status reports no drift), and the traffic verdict follows the final ruleset.
    func testConcurrentAPIAndCLIEditsLoseNothing() throws {
        let clients = 4, perClient = 8, cliWorkers = 2, perCLI = 8
        var expected: [String] = []
        for c in 0..<clients { for i in 0..<perClient { expected.append("-A INPUT -s 198.18.\(10 + c).\(i + 1)/32 -j DROP") } }
        for c in 0..<cliWorkers { for i in 0..<perCLI { expected.append("-A INPUT -s 198.18.\(50 + c).\(i + 1)/32 -j DROP") } }
        let failures = Failures()
        let agent: AgentUnderTest = self.agent
        DispatchQueue.concurrentPerform(iterations: clients + cliWorkers) { w in
            if w < clients {
                for i in 0..<perClient {
                    let r = agent.request("POST", "/v1/rules/filter/INPUT", body: AgentUnderTest.json(["rule": "-s 198.18.\(10 + w).\(i + 1) -j DROP"]))
                    if r.status != 201 { failures.add("API client \(w) edit \(i): \(r.status) \(r.body) \(r.curlError)") }
                }
            } else {
                let c = w - clients
                for i in 0..<perCLI {
                    let r = agent.cli(["-A", "INPUT", "-s", "198.18.\(50 + c).\(i + 1)", "-j", "DROP"])
                    if r.status != 0 { failures.add("CLI \(c) edit \(i): \(r.status) \(r.stderr)") }
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        let held = agent.kernel(["iptables", "-S", "INPUT"]).stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A") }
        XCTAssertEqual(held.count, expected.count, "edits lost or doubled")
        XCTAssertEqual(Set(held), Set(expected))
        // XDP follows the kernel: no drift, no unfinished change; the API's list agrees.
        let status = agent.request("GET", "/v1/status")
        XCTAssertFalse((status.json?["text"] as? String ?? "warning").contains("warning"), status.body)
        let list = agent.request("GET", "/v1/rules?table=filter")
        XCTAssertEqual(Set(Self.rules(list.json, table: "filter", chain: "INPUT").compactMap { $0["rule"] as? String }), Set(expected))
        // The peer (198.18.0.1) is in none of the ranges: it passes.
        XCTAssertTrue(agent.pingFromPeer())
        // XDP holds the rules of every writer: an echo from a source of each (an address added
        // on the peer) is dropped by XDP for exactly that rule (its xdp counter moves; the
        // reply could not come back anyway: the firewall has no route to those sources).
        let sampled = ["198.18.10.1", "198.18.13.8", "198.18.50.1", "198.18.51.8"]
        for source in sampled {
            XCTAssertEqual(agent.peer.run(["ip", "addr", "add", source + "/32", "dev", "gen0"]).status, 0)
            _ = agent.peer.run(["ping", "-c", "1", "-W", "1", "-I", source, AgentUnderTest.address])
        }
        let counted = Self.rules(agent.request("GET", "/v1/rules?table=filter").json, table: "filter", chain: "INPUT")
        for row in counted {
            let text = row["rule"] as? String ?? ""
            let dropped = (row["xdp"] as? [String: Any])?["packets"] as? Int
            let source = sampled.first { text.contains("-s \($0)/32 ") }
            XCTAssertEqual(dropped, source == nil ? 0 : 1, "XDP's drops for \(text)")
        }
        XCTAssertEqual(counted.count, expected.count)
        XCTAssertEqual(counted.compactMap { ($0["xdp"] as? [String: Any])?["packets"] as? Int }.reduce(0, +), sampled.count)
        XCTAssertEqual(agent.request("POST", "/v1/rules/filter/INPUT", body: #"{"rule":"-s 198.18.0.1 -j DROP"}"#).status, 201)
        XCTAssertFalse(agent.pingFromPeer())
    }

    func testMutualTLS() throws {
        agent.close()
        agent = try AgentUnderTest(prefix: "rest-mtls", mutualTLS: true, attach: false)
        var r = agent.request("GET", "/v1/status", certificate: AgentUnderTest.ClientCertificate.ours)
        XCTAssertEqual(r.status, 200, r.body + r.curlError)
        responses.record("GET", "/v1/status", r)
        r = agent.request("GET", "/v1/status", certificate: AgentUnderTest.ClientCertificate.none)
        XCTAssertEqual(r.status, 0, "no client certificate: the handshake must fail: \(r.body)")
        XCTAssertNotEqual(r.curl, 0)
        r = agent.request("GET", "/v1/status", certificate: AgentUnderTest.ClientCertificate.rogue)
        XCTAssertEqual(r.status, 0, "a certificate another CA signed: the handshake must fail: \(r.body)")
        XCTAssertNotEqual(r.curl, 0)
        // A good certificate does not replace the token.
        r = agent.request("GET", "/v1/status", token: .none, certificate: AgentUnderTest.ClientCertificate.ours)
        XCTAssertEqual(r.status, 401, r.body)
        // The server's certificate is checked by the client too: an unknown CA is refused.
        let plain = agent.ns.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cert", agent.tls + "/client.pem",
                                  "--key", agent.tls + "/client.key", "https://127.0.0.1:\(agent.port)/v1/status"])
        XCTAssertNotEqual(plain.status, 0, "curl trusted a certificate no system CA signed")
    }

    /// The state lock held by someone else past the daemon's wait: 503 with iptables' own
    /// status for a busy lock (4), nothing applied; once released, the same edit goes through.
    func testBusyStateLockIs503() throws {
        agent.close()
        agent = try AgentUnderTest(prefix: "rest-busy", daemonEnv: ["EBPF_IPTABLES_LOCK_WAIT": "0.5"])
        let before = agent.kernelRules()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["flock", "-x", agent.work + "/state/lock", "sleep", "3"]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() }; holder.waitUntilExit() }
        usleep(300_000)
        var r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-s 198.18.0.1 -j DROP"])
        XCTAssertEqual(r.status, 503, r.body)
        XCTAssertEqual(r.json?["error"] as? String, "busy")
        XCTAssertEqual(r.json?["exitStatus"] as? Int, 4)
        XCTAssertEqual(agent.kernelRules(), before)
        holder.waitUntilExit()
        r = call("POST", "/v1/rules/filter/INPUT", template: "/v1/rules/{table}/{chain}", body: ["rule": "-s 198.18.0.1 -j DROP"])
        XCTAssertEqual(r.status, 201, r.body)
    }

    static func rules(_ json: [String: Any]?, table: String, chain: String) -> [[String: Any]] {
        let tables = json?["tables"] as? [[String: Any]] ?? []
        let chains = tables.first { $0["name"] as? String == table }?["chains"] as? [[String: Any]] ?? []
        return chains.first { $0["name"] as? String == chain }?["rules"] as? [[String: Any]] ?? []
    }
}

/// Failures collected from concurrent workers.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
