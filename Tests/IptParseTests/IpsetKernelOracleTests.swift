import Foundation
import XCTest
@testable import IptParse
import TestSupport

/// Compares our parse + printer against the real `ipset restore` / `ipset save`,
/// each file in its own network namespace (ipset sets are per namespace).
final class IpsetKernelOracleTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    var namespaces: [String] = []
    static let counterLock = NSLock()
    nonisolated(unsafe) static var counter = 0

    override func tearDown() {
        // Namespaces go even when a test failed half-way.
        for ns in namespaces { _ = Self.run(["ip", "netns", "del", ns]) }
        namespaces.removeAll()
        super.tearDown()
    }

    typealias Output = RunResult

    static func run(_ argv: [String], stdin: String? = nil) -> Output {
        Run.run(argv, stdin: stdin)
    }

    func requireKernel() throws {
        guard getuid() == 0 else {
            print("ipset oracle: skipped, not root")
            throw XCTSkip("kernel oracle needs root to create network namespaces")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ipset")
                || FileManager.default.isExecutableFile(atPath: "/sbin/ipset") else {
            print("ipset oracle: skipped, no ipset binary")
            throw XCTSkip("ipset binary not found in /usr/sbin or /sbin")
        }
    }

    func makeNamespace() throws -> String {
        Self.counterLock.lock()
        Self.counter += 1
        let n = Self.counter
        Self.counterLock.unlock()
        let ns = "ebpt-ipset-\(getpid())-\(n)"
        let r = Self.run(["ip", "netns", "add", ns])
        guard r.status == 0 else { throw XCTSkip("cannot create namespace \(ns): \(r.stderr)") }
        namespaces.append(ns)
        return ns
    }

    /// Restores `text` in a fresh namespace and returns (restore result, `ipset save`).
    func kernelRestore(_ text: String) throws -> (Output, String) {
        let ns = try makeNamespace()
        let r = Self.run(["ip", "netns", "exec", ns, "ipset", "restore"], stdin: text)
        let s = Self.run(["ip", "netns", "exec", ns, "ipset", "save"])
        return (r, s.stdout)
    }

    static func ipsetFiles() -> [(String, URL)] {
        var out: [(String, URL)] = []
        let fm = FileManager.default
        let corpus = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        if let names = try? fm.contentsOfDirectory(atPath: corpus.path) {
            for n in names.sorted() where n.hasSuffix(".ipset") { out.append(("corpus/\(n)", corpus.appendingPathComponent(n))) }
        } else {
            print("ipset oracle: no corpus at \(corpus.path), using fixtures only")
        }
        for dir in fixtureDirs() {
            if let names = try? fm.contentsOfDirectory(atPath: dir.path) {
                for n in names.sorted() where n.hasSuffix(".ipset") { out.append(("fixtures/\(n)", dir.appendingPathComponent(n))) }
                break
            }
        }
        return out
    }

    /// The project's fixtures; the scratch copy of this package has none of its own.
    static func fixtureDirs() -> [URL] {
        [packageRoot.appendingPathComponent("fixtures/ipset"), URL(fileURLWithPath: "/work/main/fixtures/ipset")]
    }

    /// Splits save text into sets: create line + member lines.
    static func group(_ text: String) -> [(create: String, members: [String])] {
        var out: [(String, [String])] = []
        for l in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if l.hasPrefix("create ") { out.append((String(l), [])) } else if !out.isEmpty { out[out.count - 1].1.append(String(l)) }
        }
        return out
    }

    /// Timeouts count down in the kernel between restore and save, so a member's
    /// `timeout N` may be a few seconds below ours: accept 0...5 s less, then
    /// blank the number. `timeout 0` (permanent) must match exactly.
    static func normalizeTimeout(ours: String, kernel: String) -> (String, String) {
        func split(_ s: String) -> (String, Int?, String) {
            guard let r = s.range(of: " timeout ") else { return (s, nil, "") }
            let rest = s[r.upperBound...]
            let num = rest.prefix { $0.isNumber }
            return (String(s[..<r.lowerBound]), Int(num), String(rest.dropFirst(num.count)))
        }
        let (a1, n1, a2) = split(ours), (b1, n2, b2) = split(kernel)
        guard let x = n1, let y = n2, x > 0, y <= x, x - y <= 5 else { return (ours, kernel) }
        return (a1 + " timeout * " + a2, b1 + " timeout * " + b2)
    }

    /// Differences between our save text and the kernel's, empty when they agree.
    static func compare(ours: String, script: IpsetScript, kernel: String) -> [String] {
        var diffs: [String] = []
        let a = group(ours), b = group(kernel)
        guard a.count == b.count else { return ["set count \(a.count) vs kernel \(b.count)\nours:\n\(ours)\nkernel:\n\(kernel)"] }
        for (k, (x, y)) in zip(a, b).enumerated() {
            var kc = y.create
            // initval is random per set when the file does not give it; we cannot
            // know it, so drop it from the kernel's line only in that case.
            if script.sets[k].create.initval == nil, let r = kc.range(of: #" initval 0x[0-9a-f]{8}"#, options: .regularExpression) {
                kc.removeSubrange(r)
            }
            if x.create != kc { diffs.append("create: ours '\(x.create)' kernel '\(kc)'") }
            // Members are in hash order in the kernel: compare as multisets.
            var kernelByKey: [String: [String]] = [:]
            for m in y.members { kernelByKey[m.split(separator: " ").prefix(3).joined(separator: " "), default: []].append(m) }
            var ourLines: [String] = [], kernelLines: [String] = []
            for m in x.members {
                let key = m.split(separator: " ").prefix(3).joined(separator: " ")
                if let km = kernelByKey[key]?.popLast() {
                    let (o, kk) = normalizeTimeout(ours: m, kernel: km)
                    ourLines.append(o)
                    kernelLines.append(kk)
                } else {
                    ourLines.append(m)
                }
            }
            kernelLines += kernelByKey.values.flatMap { $0 }
            let onlyOurs = ourLines.filter { !kernelLines.contains($0) }
            let onlyKernel = kernelLines.filter { !ourLines.contains($0) }
            if !onlyOurs.isEmpty || !onlyKernel.isEmpty || ourLines.count != kernelLines.count {
                diffs.append("members of \(x.create): only ours \(onlyOurs), only kernel \(onlyKernel)")
            }
        }
        return diffs
    }

    /// The comparison itself must be able to fail, or "N/N agree" means nothing.
    func testComparisonDetectsDifferences() throws {
        let text = "create a hash:ip timeout 60\nadd a 198.51.100.1 timeout 50\nadd a 198.51.100.2\n"
        let script = try IpsetParser.parse(text, file: "t")
        let ours = IpsetPrinter.save(script)
        let kernelCreate = "create a hash:ip family inet hashsize 1024 maxelem 65536 timeout 60 bucketsize 12 initval 0x1234abcd"
        // Same members in another order, clock a few seconds on: agree.
        XCTAssertEqual(Self.compare(ours: ours, script: script,
                                    kernel: "\(kernelCreate)\nadd a 198.51.100.2 timeout 58\nadd a 198.51.100.1 timeout 48\n"), [])
        // A timeout far from ours, a missing member, an extra member, another create: differ.
        XCTAssertFalse(Self.compare(ours: ours, script: script,
                                    kernel: "\(kernelCreate)\nadd a 198.51.100.2 timeout 58\nadd a 198.51.100.1 timeout 30\n").isEmpty)
        XCTAssertFalse(Self.compare(ours: ours, script: script, kernel: "\(kernelCreate)\nadd a 198.51.100.1 timeout 50\n").isEmpty)
        XCTAssertFalse(Self.compare(ours: ours, script: script,
                                    kernel: "\(kernelCreate)\nadd a 198.51.100.2 timeout 60\nadd a 198.51.100.1 timeout 50\nadd a 198.51.100.3 timeout 60\n").isEmpty)
        XCTAssertFalse(Self.compare(ours: ours, script: script,
                                    kernel: kernelCreate.replacingOccurrences(of: "hashsize 1024", with: "hashsize 2048")
                                        + "\nadd a 198.51.100.2 timeout 60\nadd a 198.51.100.1 timeout 50\n").isEmpty)
    }

    func testFilesAgreeWithKernel() throws {
        try requireKernel()
        let files = Self.ipsetFiles()
        XCTAssertFalse(files.isEmpty, "no .ipset files found")
        var agree = 0
        for (label, url) in files {
            let text = try String(contentsOf: url, encoding: .utf8)
            let (restore, kernelSave) = try kernelRestore(text)
            XCTAssertEqual(restore.status, 0, "\(label): kernel refused: \(restore.stderr)")
            let script: IpsetScript
            do {
                script = try IpsetParser.parse(text, file: label)
            } catch {
                XCTFail("\(label): we refused what the kernel took:\n\(error)")
                continue
            }
            let ours = IpsetPrinter.save(script)
            let diffs = Self.compare(ours: ours, script: script, kernel: kernelSave)
            if diffs.isEmpty { agree += 1 } else { XCTFail("\(label):\n" + diffs.joined(separator: "\n")) }
        }
        print("ipset oracle: \(agree)/\(files.count) files agree")
    }

    /// Inputs the kernel refuses; we must refuse each of them too.
    static let rejected: [(String, String)] = [
        ("timeout without timeout set", "create a hash:ip\nadd a 198.51.100.1 timeout 5\n"),
        ("comment without comment set", "create a hash:ip\nadd a 198.51.100.1 comment x\n"),
        ("nomatch on hash:ip", "create a hash:ip\nadd a 198.51.100.1 nomatch\n"),
        ("duplicate member", "create a hash:ip\nadd a 198.51.100.1\nadd a 198.51.100.1\n"),
        ("duplicate create", "create a hash:ip\ncreate a hash:ip\n"),
        ("undefined set", "add b 198.51.100.1\n"),
        ("bad address", "create a hash:ip\nadd a 198.51.100.999\n"),
        ("ipv6 in inet set", "create a hash:ip\nadd a 2001:db8::1\n"),
        ("port out of range", "create a hash:ip,port\nadd a 198.51.100.1,udp:70000\n"),
        ("missing port", "create a hash:ip,port\nadd a 198.51.100.1\n"),
        ("hash:net /0", "create a hash:net\nadd a 0.0.0.0/0\n"),
        ("unknown option", "create a hash:ip hashsiz 5\n"),
        ("unknown type", "create a hash:foo\n"),
        ("mid-line comment", "create a hash:ip\nadd a 198.51.100.1 # x\n"),
        ("empty comment", "create a hash:ip comment\nadd a 198.51.100.1 comment \"\"\n"),
        ("maxelem exceeded", "create a hash:ip maxelem 2\nadd a 198.51.100.1-198.51.100.3\n"),
        ("swap type mismatch", "create a hash:ip\ncreate b hash:net\nswap a b\n"),
        ("del missing", "create a hash:ip\ndel a 198.51.100.1\n"),
        ("gre with port", "create a hash:ip,port\nadd a 198.51.100.1,gre:5\n"),
        ("icmp bare number", "create a hash:ip,port\nadd a 198.51.100.1,icmp:8\n"),
        // Surprise: `-exist` in the middle of a run of adds to one set does not apply to that run.
        ("leading -exist on add", "create a hash:ip\nadd a 198.51.100.1\n-exist add a 198.51.100.1\n"),
        // (same, written after the entry)
        ("trailing -exist same line", "create a hash:ip\nadd a 198.51.100.1\nadd a 198.51.100.1 -exist\n"),
        ("timeout too large", "create a hash:ip timeout 10\nadd a 198.51.100.1 timeout 3000000\n"),
    ]

    func testKernelRejectsAndSoDoWe() throws {
        try requireKernel()
        var cases = Self.rejected
        for dir in Self.fixtureDirs() {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
                for n in names.sorted() where n.hasSuffix(".ipset.bad") {
                    cases.append((n, try String(contentsOf: dir.appendingPathComponent(n), encoding: .utf8)))
                }
                break
            }
        }
        XCTAssertTrue(cases.contains { $0.0.hasSuffix(".bad") }, "the deliberately bad fixture is missing")
        var agree = 0
        for (label, text) in cases {
            let (restore, _) = try kernelRestore(text)
            XCTAssertNotEqual(restore.status, 0, "\(label): the kernel accepted it")
            do {
                _ = try IpsetParser.parse(text, file: label)
                XCTFail("\(label): we accepted what the kernel refused (\(restore.stderr))")
            } catch {
                XCTAssertFalse(error.diagnostics.isEmpty)
                if restore.status != 0 { agree += 1 }
            }
        }
        print("ipset oracle: \(agree)/\(cases.count) rejected inputs rejected by both")
    }
}
