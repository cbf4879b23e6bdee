import IptParse
import TestSupport
import XCTest

/// `format` of each fixture ruleset against its checked-in canonical form
/// (recorded from, and checked against, the kernel by EndToEndTests).
final class GoldenFormatTests: XCTestCase {
    func testFixturesPrintTheirGoldenCanonicalForm() throws {
        let dir = Fixtures.fixtures.appendingPathComponent("rulesets")
        let files = Fixtures.files(in: dir, suffix: ".rules")
        XCTAssertGreaterThanOrEqual(files.count, 3)
        for url in files {
            let family: Family = url.lastPathComponent.hasSuffix(".v6.rules") ? .ipv6 : .ipv4
            let golden = url.deletingPathExtension().appendingPathExtension("canonical")
            let printed: String
            do {
                printed = SavePrinter.save(try RestoreParser.parse(Fixtures.text(url), options: .init(family: family, file: url.lastPathComponent)))
            } catch {
                XCTFail("\(url.lastPathComponent): \(error)")
                continue
            }
            if Fixtures.recording {
                try printed.write(to: golden, atomically: true, encoding: .utf8)
            } else {
                XCTAssertEqual(printed, Fixtures.text(golden), "\(url.lastPathComponent): re-record with EBPF_IPTABLES_RECORD=1 if the change is intended")
            }
        }
    }
}
