import Foundation
import IptParse
import Runtime
import XCTest

/// The request model crosses the control socket and the REST API as JSON: every case must
/// come back equal.
final class FirewallRequestTests: XCTestCase {
    func testEveryCaseRoundTripsThroughJSON() throws {
        var restore = RestoreRequest(family: .ipv4, text: "*filter\nCOMMIT\n", source: "<stdin>", setFiles: [(name: "s", text: "create s hash:ip\n")])
        restore.noflush = true
        restore.options.xdpOnly = true
        let all: [FirewallRequest] = [
            .iptables(argv: ["-A", "INPUT", "-j", "DROP"], family: .ipv4),
            .ipset(argv: ["add", "s", "1.2.3.4"], stdin: nil),
            .ipset(argv: ["restore"], stdin: "create t hash:net\n"),
            .restore(restore),
            .save(family: .ipv6, counters: true, table: "filter"),
            .status(verbose: true),
            .attach(interface: "eth0", mode: "native"),
            .detach(interface: "eth0"),
        ]
        for r in all {
            let data = try JSONEncoder().encode(r)
            XCTAssertEqual(try JSONDecoder().decode(FirewallRequest.self, from: data), r, String(decoding: data, as: UTF8.self))
        }
        XCTAssertThrowsError(try JSONDecoder().decode(FirewallRequest.self, from: Data(#"{"reboot":{}}"#.utf8)))
    }
}
