import Console
import Fleet
import XCTest

/// The console's pure parts, offline: member input through our ipset parser, import
/// plans, the database URL, form bodies, tokens.
final class ConsoleUnitTests: XCTestCase {
    let peers = FleetSetDefinition(name: "peers", type: "hash:ip", createOptions: "family inet hashsize 1024 maxelem 65536 comment bucketsize 12")
    let nets = FleetSetDefinition(name: "nets", type: "hash:net", createOptions: "family inet hashsize 1024 maxelem 65536 bucketsize 12")
    let ports = FleetSetDefinition(name: "svc", type: "hash:ip,port", createOptions: "family inet hashsize 1024 maxelem 65536 timeout 300 bucketsize 12")

    func testElementsAreNormalisedAsIpsetSavesThem() throws {
        XCTAssertEqual(try MemberValidation.normalise("198.18.0.1/32", in: peers).get(), "198.18.0.1")
        XCTAssertEqual(try MemberValidation.normalise(" 198.18.0.1 ", in: peers).get(), "198.18.0.1")
        XCTAssertEqual(try MemberValidation.normalise("10.1.2.3/8", in: nets).get(), "10.0.0.0/8")
        XCTAssertEqual(try MemberValidation.normalise("10.1.2.3,udp:5060", in: ports, timeout: 60).get(), "10.1.2.3,udp:5060")
    }

    func testBadElementsGetIpsetsWords() {
        for bad in ["198.18.0.300", "", "1.2.3.4 nomatch", "1.2.3.4\nadd peers 5.6.7.8", "\"x"] {
            guard case .failure(let e) = MemberValidation.normalise(bad, in: peers) else { return XCTFail("'\(bad)' was taken") }
            XCTAssertFalse(e.message.isEmpty)
        }
        // ipset's own refusal: a timeout on a set without timeouts.
        if case .failure(let e) = MemberValidation.normalise("1.2.3.4", in: peers, timeout: 5) {
            XCTAssertEqual(e.message, "Timeout cannot be used: set was created without timeout support")
        } else { XCTFail("timeout on a set without timeout support was taken") }
    }

    func testComments() {
        XCTAssertEqual(try MemberValidation.checkComment("  carrier A ").get(), "carrier A")
        XCTAssertEqual(try MemberValidation.checkComment("").get(), nil)
        XCTAssertThrowsError(try MemberValidation.checkComment("a \"quote\"").get())
        XCTAssertThrowsError(try MemberValidation.checkComment(String(repeating: "x", count: 256)).get())
    }

    func testImportPlanTakesNewSetsAndMembersOnly() throws {
        let text = """
        create peers hash:ip family inet hashsize 1024 maxelem 65536 comment bucketsize 12
        add peers 198.51.100.7
        add peers 198.51.100.8 comment "carrier B"
        create blocked hash:net family inet hashsize 1024 maxelem 65536
        add blocked 203.0.113.7/24
        add blocked 203.0.113.9/24

        """
        let plan = try SetImport.plan(text, sets: [peers], members: ["peers": ["198.51.100.7"]]).get()
        XCTAssertEqual(plan.creates.map(\.name), ["blocked"])
        XCTAssertEqual(plan.creates.first?.type, "hash:net")
        XCTAssertTrue(plan.creates.first?.options.hasPrefix("family inet hashsize 1024 maxelem 65536") ?? false, plan.creates.first?.options ?? "")
        XCTAssertEqual(plan.adds.map { "\($0.set) \($0.element) \($0.comment ?? "-")" },
                       ["peers 198.51.100.8 carrier B", "blocked 203.0.113.0/24 -"])
        XCTAssertEqual(plan.alreadyThere, 2)
    }

    func testImportRefusesTheWholeFileAtTheFirstBadLine() {
        let text = "add peers 198.51.100.9\nadd peers 198.51.100.10\nadd peers 198.51.100.300\nadd peers 198.51.100.11\n"
        guard case .failure(let e) = SetImport.plan(text, sets: [peers], members: [:]) else { return XCTFail("taken") }
        XCTAssertEqual(e.line, 3)
        let unknown = SetImport.plan("add nosuch 1.2.3.4\n", sets: [peers], members: [:])
        guard case .failure(let u) = unknown else { return XCTFail("taken") }
        XCTAssertEqual(u.line, 1)
        XCTAssertEqual(u.message, "The set with the given name does not exist")
        guard case .failure(let f) = SetImport.plan("add peers 1.2.3.4\nflush peers\n", sets: [peers], members: [:]) else { return XCTFail("flush taken") }
        XCTAssertEqual(f.line, 2)
        // A create that clashes with the database's set of another type.
        guard case .failure(let c) = SetImport.plan("create peers hash:net\n", sets: [peers], members: [:]) else { return XCTFail("taken") }
        XCTAssertEqual(c.line, 1)
    }

    func testDatabaseURL() throws {
        let socket = try DatabaseURL("postgres://postgres@/fleet?host=/tmp/pg")
        XCTAssertEqual(socket.host, "/tmp/pg")
        XCTAssertEqual(socket.user, "postgres")
        XCTAssertEqual(socket.database, "fleet")
        XCTAssertEqual(socket.clientConfiguration.unixSocketPath, "/tmp/pg/.s.PGSQL.5432")
        let tcp = try DatabaseURL("postgresql://console:s%40cret@db.example:6432/fleet?sslmode=require")
        XCTAssertEqual(tcp.host, "db.example")
        XCTAssertEqual(tcp.port, 6432)
        XCTAssertEqual(tcp.password, "s@cret")
        XCTAssertEqual(tcp.clientConfiguration.host, "db.example")
        XCTAssertThrowsError(try DatabaseURL("mysql://x/y"))
        XCTAssertThrowsError(try DatabaseURL("postgres://x/y?bogus=1"))
    }

    func testMultipartForms() {
        XCTAssertEqual(MultipartBody.boundary(contentType: "multipart/form-data; boundary=----WebKitFormBoundaryX1"), "----WebKitFormBoundaryX1")
        XCTAssertNil(MultipartBody.boundary(contentType: "application/x-www-form-urlencoded"))
        let body = "------B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n"
            + "------B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fleet.save\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            + "add peers 1.2.3.4\nadd peers 5.6.7.8\n\r\n------B--\r\n"
        let f = MultipartBody.parse(body, boundary: "----B")
        XCTAssertEqual(f["csrf"], "abc")
        XCTAssertEqual(f["file"], "add peers 1.2.3.4\nadd peers 5.6.7.8\n")
        XCTAssertEqual(f["file.filename"], "fleet.save")
    }

    func testFormsTokensAndPasswords() {
        XCTAssertEqual(FormBody.parse("a=1&b=x+y%2Fz&c=&a=2"), ["a": "2", "b": "x y/z", "c": ""])
        let t = Security.randomToken()
        XCTAssertEqual(t.count, 64)
        XCTAssertNotEqual(t, Security.randomToken())
        XCTAssertTrue(Security.constantTimeEqual(t, t))
        XCTAssertFalse(Security.constantTimeEqual(t, String(t.dropLast()) + "x"))
        let hash = Security.hash(password: "correct horse")
        XCTAssertTrue(hash.hasPrefix("$2b$12$"), hash)
        XCTAssertTrue(Security.verify(password: "correct horse", hash: hash))
        XCTAssertFalse(Security.verify(password: "correct horsf", hash: hash))
    }
}
