import Compiler
import Foundation
import IptParse
import Loader

/// `ebpf-iptables-bench stateful-cost [REPEAT]`: ns/packet of a flood XDP decides through a
/// stateful rule, with BPF_PROG_TEST_RUN (plain mode, one frame repeated), next to the same
/// flood dropped by a plain rule:
///   drop       -p udp --dport 5060 -j DROP
///   limit+LOG  ufw's shape: -m limit --limit 3/min --limit-burst 10 -j LOG, then DROP (the
///              flood is past the burst: the limit says no, XDP drops at the DROP)
///   hashlimit  --hashlimit-above 10/sec --hashlimit-mode srcip,dstport -j DROP (one source)
///   statistic  --mode random --probability 0.5 -j DROP, then DROP: a pending draw, drawn
///              after the judge (every outcome drops)
/// Each on a freshly loaded Dataplane; median of 5 interleaved repetitions.
struct StatefulCostCommand {
    var repeatCount: UInt32 = 1_000_000
    var repetitions = 5

    init(_ args: [String]) throws {
        if let a = args.first {
            guard let n = UInt32(a), n > 0 else { throw BenchError(description: "stateful-cost [REPEAT]") }
            repeatCount = n
        }
    }

    static let cases: [(name: String, rules: String)] = [
        ("drop", "-A INPUT -p udp -m udp --dport 5060 -j DROP"),
        ("limit+LOG", "-A INPUT -p udp -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix \"[UFW BLOCK] \"\n-A INPUT -p udp -j DROP"),
        ("hashlimit", "-A INPUT -p udp -m udp --dport 5060 -m hashlimit --hashlimit-above 10/sec --hashlimit-burst 5 --hashlimit-mode srcip,dstport --hashlimit-name bench -j DROP"),
        // CONTINUE positions (ContinuePositions.swift): a counting rule and a MARK before the
        // DROP, each recorded and counted with it.
        ("count+MARK", "-A INPUT -p udp\n-A INPUT -p udp -j MARK --set-xmark 0x1/0xffffffff\n-A INPUT -p udp -m udp --dport 5060 -j DROP"),
        // ufw's ufw-not-local end: a limit on a jump (charged at the jump, past the burst: no),
        // then the DROP.
        ("limit-jump", "-N C\n-A INPUT -p udp -m limit --limit 3/min --limit-burst 10 -j C\n-A INPUT -p udp -j DROP\n-A C -j DROP"),
        ("statistic", "-A INPUT -p udp -m udp --dport 5060 -m statistic --mode random --probability 0.5 -j DROP\n-A INPUT -p udp -j DROP"),
    ]
    /// Cases decided through CONTINUE positions rather than a stateful test.
    static let continuing: Set<String> = ["count+MARK"]

    func run() throws {
        var samples = [[Double]](repeating: [], count: Self.cases.count)
        let frame = UDPFrame(source: 0x0A00_0001).bytes
        for _ in 0..<repetitions {
            for (k, c) in Self.cases.enumerated() {
                let chains = c.rules.contains("-N C") ? ":C - [0:0]\n" : ""
                let rules = c.rules.replacingOccurrences(of: "-N C\n", with: "")
                let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\(chains)\(rules)\nCOMMIT\n"
                let ruleset = try RestoreParser.parse(text, options: .init(file: "\(c.name).rules"))
                let result = Compiler.compile(ruleset, sets: nil, interface: "bench0")
                let stateful = result.tables.fallback.flatMap(\.ext).filter(\.isStateful).count
                guard k == 0 || stateful > 0 || Self.continuing.contains(c.name) else {
                    throw BenchError(description: "\(c.name): no stateful test in XDP: \(result.report.rules.map { "\($0.status)" })")
                }
                let dp = try Dataplane.load()
                try dp.write(result.tables, generation: 0)
                try dp.activate(generation: 0)
                try dp.setFlags(.allDestinations)
                _ = try dp.testRun(packet: frame, repeat: 10_000) // past the burst
                let r = try dp.testRun(packet: frame, repeat: repeatCount)
                guard r.action == XDPAction.drop else {
                    throw BenchError(description: "\(c.name): XDP action \(r.action), expected DROP")
                }
                samples[k].append(Double(r.nanosecondsPerRun))
            }
        }
        print("Stateful rules in XDP: BPF_PROG_TEST_RUN, plain mode, repeat \(repeatCount); ns/packet min/median/max of \(repetitions)")
        for (k, c) in Self.cases.enumerated() {
            let s = Spread(samples[k])
            print("  \(c.name.padding(toLength: 10, withPad: " ", startingAt: 0))  \(s.text(digits: 0))  (\(fixedRatio(s.median / Spread(samples[0]).median))x the drop)")
        }
    }

    private func fixedRatio(_ x: Double) -> String { String(format: "%.2f", x) }
}
