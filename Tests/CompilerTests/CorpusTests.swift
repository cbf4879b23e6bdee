import Compiler
import Foundation
import IptParse
import TestSupport
import XCTest

/// Every fixture ruleset and every public ruleset of the shared corpus compiles (a compile
/// never fails for a ruleset the kernel accepts), installs without --xdp-only, and says
/// how much of filter INPUT runs in XDP.
final class CorpusTests: XCTestCase {
    struct Line {
        var file: String
        var text: String
    }

    /// nil when our parser refuses the file (the corpus keeps files iptables-restore refuses too).
    func compile(_ url: URL, sets: IpsetScript?) -> Line? {
        let family: Family = url.lastPathComponent.hasSuffix(".v6.rules") ? .ipv6 : .ipv4
        guard let rs = try? RestoreParser.parse(Fixtures.text(url), options: .init(family: family, file: url.lastPathComponent)) else {
            return nil
        }
        for rejectAsDrop in [false, true] {
            let r = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: rejectAsDrop))
            XCTAssertTrue(r.installable, url.lastPathComponent)
            XCTAssertEqual(r.tables.verdicts.count, r.origins.count, url.lastPathComponent)
            XCTAssertLessThanOrEqual(r.tables.fallback.count, Int(Compiler.maxFallback), url.lastPathComponent)
            let rules = rs.tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } }
            XCTAssertEqual(r.report.rules.count, rules, "\(url.lastPathComponent): one report line per rule")
            for rule in r.report.rules where !rule.status.detail.isEmpty == false {
                XCTFail("\(url.lastPathComponent): \(rule.ref) has no detail")
            }
            let alone = Compiler.compile(rs, sets: sets, interface: "eth0", options: CompileOptions(rejectAsDrop: rejectAsDrop, xdpOnly: true))
            XCTAssertEqual(alone.installable, r.qualifiesForXdpOnly, url.lastPathComponent)
            // A REJECT split by the original's state (ReplyStateSplit: reply positions, then a
            // KERNEL one) is one KERNEL position with --xdp-only, where XDP sends no reply.
            func shape(_ c: CompileResult) -> [String] {
                var out: [String] = []
                for (v, o) in zip(c.tables.verdicts, c.origins) {
                    let item = "\(o.rule) \(v == .reject ? .kernel : v)"
                    if item != out.last || v != .reject && v != .kernel { out.append(item) }
                }
                return out
            }
            XCTAssertEqual(shape(alone), shape(r),
                           "\(url.lastPathComponent): --xdp-only changes what is allowed (a REJECT stays the kernel's), not what compiles")
            if rejectAsDrop {
                let rep = r.report
                let text = String(format: "%-40@ INPUT: %3d xdp %3d kernel %3d none; before INPUT: %2d kernel; nat check %@; --xdp-only %@",
                                  url.lastPathComponent as NSString, rep.count(.xdp, scope: .input), rep.count(.kernel, scope: .input),
                                  rep.count(nil, scope: .input), rep.beforeInputKernelRules,
                                  r.tables.natCheck ? "on " : "off", r.qualifiesForXdpOnly ? "qualifies" : "does not qualify (\(r.xdpOnlyBlockers.count))")
                return Line(file: url.lastPathComponent, text: text)
            }
        }
        return nil
    }

    func sets(for url: URL) -> IpsetScript? {
        let ipset = url.deletingPathExtension().appendingPathExtension("ipset")
        guard FileManager.default.fileExists(atPath: ipset.path) else { return nil }
        return try? IpsetParser.parse(Fixtures.text(ipset), file: ipset.lastPathComponent)
    }

    func testFixtureRulesetsCompile() throws {
        let files = Fixtures.files(in: Fixtures.fixtures.appendingPathComponent("rulesets"), suffix: ".rules")
        XCTAssertGreaterThan(files.count, 0)
        let sip = try IpsetParser.parse(Fixtures.text(Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")), file: "sip-edge.ipset")
        for url in files {
            guard let line = compile(url, sets: sip) else {
                XCTFail("\(url.lastPathComponent): the fixture does not parse")
                continue
            }
            print("fixture " + line.text)
        }
    }

    func testCorpusRulesetsCompile() throws {
        guard let corpus = Fixtures.corpus else { throw XCTSkip("../shared/corpus is absent") }
        let files = Fixtures.files(in: corpus, suffix: ".rules")
        XCTAssertGreaterThan(files.count, 0)
        var compiled = 0
        for url in files {
            guard let line = compile(url, sets: sets(for: url)) else {
                print("corpus  \(url.lastPathComponent): refused by the parser (see the corpus INDEX for iptables-restore's word)")
                continue
            }
            compiled += 1
            print("corpus  " + line.text)
        }
        print("corpus: \(compiled) of \(files.count) files parse and compile")
        XCTAssertGreaterThan(compiled, files.count / 2)
    }
}
