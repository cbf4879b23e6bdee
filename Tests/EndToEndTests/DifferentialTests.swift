import Compiler
import Foundation
import IptParse
import Loader
import TestSupport
import XCTest

/// The same packets through the real kernel's iptables and through ebpf-iptables' XDP
/// program, over veth pairs: same verdict, same deciding rule, for every probe.
///
/// Namespaces: `gen` sends raw frames (AF_PACKET) into `ref` (the ruleset restored with
/// iptables-restore and ipset) and into `xdp` (the ruleset restored with ebpf-iptables,
/// XDP attached to its veth). Both receivers own 198.18.0.2. The kernel's deciding rule is
/// the terminal rule whose counter moved (or INPUT's policy); ours is the position whose
/// per-rule counter moved. Each probe is a fresh flow and conntrack is flushed between probes.
final class DifferentialTests: XCTestCase {
    static let receiver: UInt32 = 0xC612_0002 // 198.18.0.2

    struct Lab {
        let gen: NetworkNamespace
        let ref: NetworkNamespace
        let xdp: NetworkNamespace
        let bpffs: String
        let state: String
        var env: [String: String] { ["EBPF_IPTABLES_BPFFS": bpffs + "/pins", "EBPF_IPTABLES_STATE": state] }
        let refMAC: [UInt8]
        let xdpMAC: [UInt8]
    }

    override func setUpWithError() throws {
        if let why = NetworkNamespace.unavailableReason {
            print("skipping differential test: \(why)")
            throw XCTSkip(why)
        }
    }

    func mac(_ ns: NetworkNamespace, _ dev: String) -> [UInt8] {
        let out = ns.run(["cat", "/sys/class/net/\(dev)/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return out.split(separator: ":").compactMap { UInt8($0, radix: 16) }
    }

    func makeLab() throws -> Lab {
        let gen = try NetworkNamespace(prefix: "ebpt-gen"), ref = try NetworkNamespace(prefix: "ebpt-ref"), xdp = try NetworkNamespace(prefix: "ebpt-xdp")
        // Both receivers' interfaces are called rx0, so `-i` decides alike on both sides.
        for (ns, a, b) in [(ref, "gr0", "rx0"), (xdp, "gx0", "rx0")] {
            Run.run(["ip", "link", "add", a, "netns", gen.name, "type", "veth", "peer", "name", b, "netns", ns.name])
            gen.run(["ip", "link", "set", a, "up"])
            ns.run(["ip", "addr", "add", "198.18.0.2/24", "dev", b])
            ns.run(["ip", "link", "set", b, "up"])
            ns.run(["ip", "link", "set", "lo", "up"])
            for k in ["all", "default", b] { ns.run(["sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"]) }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/bpffs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        // `ip netns exec` remounts /sys and hides /sys/fs/bpf: our own bpffs lives elsewhere.
        let m = Run.run(["mount", "-t", "bpf", "bpf", dir + "/bpffs"])
        XCTAssertEqual(m.status, 0, m.stderr)
        return Lab(gen: gen, ref: ref, xdp: xdp, bpffs: dir + "/bpffs", state: dir + "/state",
                   refMAC: mac(ref, "rx0"), xdpMAC: mac(xdp, "rx0"))
    }

    func tearDownLab(_ lab: Lab) {
        Run.run(["ip", "netns", "exec", lab.xdp.name, Run.binary, "detach", "rx0"], env: lab.env)
        Run.run(["umount", lab.bpffs])
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: lab.bpffs).deletingLastPathComponent().path)
    }

    func compare(ruleset url: URL, sets: URL?, probesWanted: Int) throws -> (compared: Int, agreed: Int) {
        let lab = try makeLab()
        defer { tearDownLab(lab) }
        let text = Fixtures.text(url)
        let ruleset = try RestoreParser.parse(text, options: .init(file: url.lastPathComponent))
        // The kernel side gets the filter table only: the other tables stay with iptables in
        // a migration (--input-only) and would change what INPUT sees.
        var filterOnly = Ruleset(family: .ipv4)
        if let f = ruleset.table("filter") { filterOnly.tables = [f] }
        let filterText = SavePrinter.save(filterOnly)
        if let sets {
            let setText = Fixtures.text(sets)
            XCTAssertEqual(lab.ref.run(["ipset", "restore"], stdin: setText).status, 0)
        } else {
            lab.ref.createSets(referencedBy: filterText)
        }
        let kr = lab.ref.run(["iptables-restore"], stdin: filterText)
        XCTAssertEqual(kr.status, 0, "\(url.lastPathComponent): \(kr.stderr)")
        guard kr.status == 0 else { return (0, 0) }
        // Conntrack runs in a namespace only while something there asks for it.
        lab.xdp.run(["iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED"])

        let attach = Run.run(["ip", "netns", "exec", lab.xdp.name, Run.binary, "attach", "rx0"], env: lab.env)
        XCTAssertEqual(attach.status, 0, attach.stderr)
        var args = ["ip", "netns", "exec", lab.xdp.name, Run.binary, "restore", "--reject-as-drop", "--input-only"]
        if let sets { args += ["--ipset", sets.path] }
        let restore = Run.run(args + [url.path], env: lab.env)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        guard attach.status == 0, restore.status == 0 else { return (0, 0) }

        let setScript = try sets.map { try IpsetParser.parse(Fixtures.text($0), file: $0.lastPathComponent) }
        let compiled = Compiler.compile(ruleset, sets: setScript, interface: "rx0", options: CompileOptions(rejectAsDrop: true, xdpOnly: true))
        let probes = ProbeGenerator(destination: Self.receiver, seed: UInt64(url.lastPathComponent.count))
            .probes(for: compiled.tables, limit: probesWanted * 3 / 4, random: probesWanted / 4)

        let dp = try Dataplane.open(pinnedAt: lab.bpffs + "/pins")
        let gen = try dp.liveGeneration()
        let positions = compiled.tables.verdicts.count
        let toRef = try FrameSender(namespace: lab.gen.name, interface: "gr0")
        let toXDP = try FrameSender(namespace: lab.gen.name, interface: "gx0")
        let filter = ruleset.table("filter") ?? Table(name: "filter")

        var kernelBefore = KernelCounters.read(namespace: lab.ref.name)
        var ourBefore = try dp.counters(generation: gen).prefix(positions + 1).map(\.packets)
        var compared = 0, agreed = 0
        for (i, probe) in probes.enumerated() {
            lab.ref.run(["conntrack", "-F"])
            lab.xdp.run(["conntrack", "-F"])
            var p = probe
            p.sourcePort = p.proto == 6 || p.proto == 17 ? (p.sourcePort == 40000 ? UInt16(20000 + i) : p.sourcePort) : p.sourcePort
            try toRef.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 1], destinationMAC: lab.refMAC, ipID: UInt16(i)))
            try toXDP.send(p.frame(sourceMAC: [2, 0, 0, 0, 0, 2], destinationMAC: lab.xdpMAC, ipID: UInt16(i)))
            // Wait (bounded) until both sides counted the packet somewhere.
            var kernel = kernelBefore, ours = ourBefore
            let deadline = Date().addingTimeInterval(1.0)
            repeat {
                kernel = KernelCounters.read(namespace: lab.ref.name)
                ours = try dp.counters(generation: gen).prefix(positions + 1).map(\.packets)
                if kernel != kernelBefore && ours != ourBefore { break }
                usleep(2000)
            } while Date() < deadline
            let k = Decision.kernel(before: kernelBefore, after: kernel, filter: filter)
            let o = Decision.xdp(before: ourBefore, after: ours, compiled: compiled)
            kernelBefore = kernel
            ourBefore = ours
            compared += 1
            if k == o { agreed += 1 } else {
                XCTFail("\(url.lastPathComponent): \(p): iptables decided \(k.map { "\($0)" } ?? "nothing"), XDP \(o.map { "\($0)" } ?? "nothing")")
            }
        }
        return (compared, agreed)
    }

    func testFixturesDecideLikeTheKernel() throws {
        var total = 0, agreed = 0, files = 0
        let sets = Fixtures.fixtures.appendingPathComponent("ipset/sip-edge.ipset")
        for name in ["sip-edge.rules", "differential.rules"] {
            let (c, a) = try compare(ruleset: Fixtures.fixtures.appendingPathComponent("rulesets/\(name)"), sets: sets, probesWanted: 200)
            total += c
            agreed += a
            files += 1
        }
        print("differential: \(agreed)/\(total) packets decided identically (verdict and deciding rule) over \(files) rulesets")
        XCTAssertGreaterThan(total, 100)
    }

    /// Every ruleset of ../shared/corpus that compiles (INPUT part, REJECT as DROP) and needs no sets.
    func testCorpusRulesetsThatCompileDecideLikeTheKernel() throws {
        guard let corpus = Fixtures.corpus else {
            print("skipping corpus differential: ../shared/corpus is absent")
            throw XCTSkip("../shared/corpus is absent")
        }
        var total = 0, agreed = 0, files: [String] = [], skipped: [String] = []
        for url in Fixtures.files(in: corpus, suffix: ".rules") where !url.lastPathComponent.hasSuffix(".v6.rules") {
            guard let rs = try? RestoreParser.parse(Fixtures.text(url), options: .init()) else { continue }
            let r = Compiler.compile(rs, interface: "rx0", options: CompileOptions(rejectAsDrop: true, xdpOnly: true))
            guard r.installable, !r.tables.verdicts.isEmpty else { skipped.append(url.lastPathComponent); continue }
            let (c, a) = try compare(ruleset: url, sets: nil, probesWanted: 120)
            total += c
            agreed += a
            files.append(url.lastPathComponent)
        }
        print("differential (corpus): \(agreed)/\(total) packets decided identically over \(files.count) rulesets (\(files.joined(separator: ", "))); not compiled: \(skipped.count)")
        XCTAssertEqual(agreed, total)
    }
}
