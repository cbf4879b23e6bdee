import Foundation
import IptParse
import XCTest

/// Names in rules, offline, with what every Debian machine resolves the same way
/// (`localhost` in /etc/hosts, `link-local` in netbase's /etc/networks) and names that
/// resolve nowhere (`.invalid` is reserved). The kernel's agreement is checked by
/// conformance script 64 and HostNameTests; here the parser's own results and diagnostics.
final class HostNameParsingTests: XCTestCase {
    func rules(_ body: String, table: String = "filter", family: Family = .ipv4) throws -> [String] {
        let r = try RestoreParser.parse("*\(table)\n\(body)\nCOMMIT\n", options: .init(family: family, file: "t.rules"))
        return SavePrinter.save(r).split(separator: "\n").filter { $0.hasPrefix("-A") }.map(String.init)
    }

    func diagnostic(_ body: String, table: String = "filter", family: Family = .ipv4) -> Diagnostic? {
        do {
            _ = try RestoreParser.parse("*\(table)\n\(body)\nCOMMIT\n", options: .init(family: family, file: "t.rules"))
            return nil
        } catch {
            return error.diagnostics.first
        }
    }

    func testLocalhostAndNetworkNames() throws {
        let localhost = HostNamesProbe.ipv4("localhost")
        try XCTSkipIf(localhost.isEmpty, "localhost does not resolve here")
        // One rule per address getaddrinfo gives (duplicates kept), masked, in its order.
        let got = try rules("-A INPUT -s localhost/8 -d localhost -j ACCEPT")
        XCTAssertEqual(got.count, localhost.count * localhost.count)
        XCTAssertTrue(got.allSatisfy { $0 == "-A INPUT -s 127.0.0.0/8 -d 127.0.0.1/32 -j ACCEPT" }, "\(got)")
        XCTAssertEqual(try rules("-A INPUT -s link-local/16 -j DROP"), ["-A INPUT -s 169.254.0.0/16 -j DROP"])
        // A zero mask: the name is not looked up at all ("any/0").
        XCTAssertEqual(try rules("-A INPUT -s nothing.invalid/0 -j DROP"), ["-A INPUT -j DROP"])
        // Numbers as xtables reads them: missing parts are zeros on the right.
        XCTAssertEqual(try rules("-A INPUT -s 127.1 -j DROP"), ["-A INPUT -s 127.1.0.0/32 -j DROP"])
    }

    func testNamesInConntrackTeeAndNetmap() throws {
        try XCTSkipIf(HostNamesProbe.ipv4("localhost").count != 1, "localhost must have one IPv4 address here")
        // conntrack keeps the address unmasked; getaddrinfo reads `1.2.3` as inet_aton does.
        XCTAssertEqual(try rules("-A INPUT -m conntrack --ctorigdst localhost/24 --ctorigsrc 1.2.3 -j ACCEPT"),
                       ["-A INPUT -m conntrack --ctorigsrc 1.2.0.3 --ctorigdst 127.0.0.1/24 -j ACCEPT"])
        XCTAssertEqual(try rules("-A PREROUTING -j TEE --gateway localhost\n-A PREROUTING -j TEE --gateway 010.1.1.1", table: "mangle"),
                       ["-A PREROUTING -j TEE --gateway 127.0.0.1", "-A PREROUTING -j TEE --gateway 8.1.1.1"])
        XCTAssertEqual(try rules("-A PREROUTING -j NETMAP --to localhost/24\n-A PREROUTING -j NETMAP --to 10.1.2.3", table: "nat"),
                       ["-A PREROUTING -j NETMAP --to 127.0.0.0/24", "-A PREROUTING -j NETMAP --to 10.1.2.3/32"])
    }

    /// -I of several rules: each at the same number, so the last written comes first.
    func testInsertOfSeveralRulesPutsTheLastFirst() throws {
        XCTAssertEqual(try rules("-A INPUT -j DROP\n-I INPUT 1 -s 198.18.0.1,198.18.0.2 -d 198.18.1.1,198.18.1.2 -j ACCEPT"), [
            "-A INPUT -s 198.18.0.2/32 -d 198.18.1.2/32 -j ACCEPT",
            "-A INPUT -s 198.18.0.2/32 -d 198.18.1.1/32 -j ACCEPT",
            "-A INPUT -s 198.18.0.1/32 -d 198.18.1.2/32 -j ACCEPT",
            "-A INPUT -s 198.18.0.1/32 -d 198.18.1.1/32 -j ACCEPT",
            "-A INPUT -j DROP",
        ])
    }

    func testNamesOfNothingAreLocated() {
        let d = diagnostic("-A INPUT -s 198.18.0.1,nothing.invalid/24 -j DROP")
        XCTAssertEqual(d?.id, "hostname")
        XCTAssertEqual(d?.location, SourceLocation(file: "t.rules", line: 2, column: 24, length: 18))
        XCTAssertEqual(diagnostic("-A INPUT -s nothing.invalid/33 -j DROP")?.id, "bad-prefix", "the mask is read first, as iptables does")
        XCTAssertEqual(diagnostic("-A INPUT -s 1.2.3.4.5 -j DROP")?.id, "bad-address")
        XCTAssertEqual(diagnostic("-A INPUT -s ::1 -j DROP")?.id, "bad-address")
        XCTAssertEqual(diagnostic("-A INPUT -s 127.0.0.1 -j DROP", family: .ipv6)?.id, "bad-address")
        XCTAssertEqual(diagnostic("-A PREROUTING -j TEE --gateway nothing.invalid", table: "mangle")?.id, "hostname")
    }
}

/// What getaddrinfo says here, to state expectations that hold on any machine.
enum HostNamesProbe {
    static func ipv4(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_RAW.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &res) == 0 else { return [] }
        defer { freeaddrinfo(res) }
        var out: [String] = []
        var p = res
        while let ai = p {
            out.append("\(ai.pointee.ai_family)")
            p = ai.pointee.ai_next
        }
        return out
    }
}
