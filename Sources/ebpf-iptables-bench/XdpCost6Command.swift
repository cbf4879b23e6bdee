import Foundation
import Compiler
import IptParse
import Loader
import Verifier

/// `xdp-cost6 [--sizes N,...] [--repeat R] [--reps K]`: the IPv6 SIP whitelist (bench/whitelist.py
/// --inet6: `hash:ip family inet6`, udp/5060 from the set accepted, then DROP) through the
/// IPv6 path with BPF_PROG_TEST_RUN (plain mode, frames on loopback of the calling
/// namespace, the route check on): ns/packet for a member (PASS), a non-member (DROP) and
/// the same frame with the IPv6 path passing everything (PASS_ALL: the cost of reaching
/// it, the nearest this mode has to a bare program). Prints one tab-separated line a
/// measurement, `size frame ns`, for scripts to compare builds side by side.
struct XdpCost6Command {
    var sizes = [10, 1_000, 100_000, 1_000_000]
    var runs: UInt32 = 1_000_000
    var repetitions = 3

    init(_ args: [String]) throws {
        var i = 0
        while i < args.count {
            guard i + 1 < args.count else { throw BenchError(description: "xdp-cost6: \(args[i]) needs a value") }
            let v = args[i + 1]
            switch args[i] {
            case "--sizes": sizes = v.split(separator: ",").compactMap { Int($0) }
            case "--repeat": runs = UInt32(v) ?? runs
            case "--reps": repetitions = Int(v) ?? repetitions
            default: throw BenchError(description: "xdp-cost6: unknown option \(args[i])")
            }
            i += 2
        }
    }

    /// bench/whitelist.py's address6(i): 2001:db8:A>>16:A&0xffff::1, A = i * 0x9E3779B1 mod 2^24.
    static func member(_ i: Int) -> [UInt8] {
        let a = (UInt32(truncatingIfNeeded: i) &* 0x9E37_79B1) & 0x00FF_FFFF
        return [0x20, 0x01, 0x0d, 0xb8, 0, UInt8(a >> 16), UInt8((a >> 8) & 0xff), UInt8(a & 0xff),
                0, 0, 0, 0, 0, 0, 0, 1]
    }

    static func text(_ b: [UInt8]) -> String {
        stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    func tables(_ n: Int) throws -> CompiledTables6 {
        var sets = "create wl6 hash:ip family inet6 hashsize 1024 maxelem \(max(n + 1024, 65536))\n"
        for i in 0..<n { sets += "add wl6 \(Self.text(Self.member(i)))\n" }
        let rules = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            + "-A INPUT -m set --match-set wl6 src -p udp --dport 5060 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
        let script = try IpsetParser.parse(sets, file: "wl6.ipset")
        let ruleset = try RestoreParser.parse(rules, options: .init(file: "set6.rules"))
        return Compiler6.compile(ruleset, sets: script, interface: "lo").tables
    }

    func run() throws {
        let mac: [UInt8] = [0x02, 0, 0, 0, 0, 1]
        let dst = ipv6Bytes("2001:db8:ffff::2") ?? []
        print("size\tframe\tns")
        for rep in 1...repetitions {
            for n in sizes {
                let t = try tables(n)
                let dp = try Dataplane.load()
                try dp.install6(t)
                let hit = IPv6Frame(source: Self.member(n / 2), destination: dst).bytes(destinationMAC: mac)
                let miss = IPv6Frame(source: Self.member(n), destination: dst).bytes(destinationMAC: mac)
                for (name, frame, expect) in [("hit", hit, XDPAction.pass), ("miss", miss, XDPAction.drop)] {
                    _ = try dp.testRun(packet: frame, repeat: 10_000)
                    let r = try dp.testRun(packet: frame, repeat: runs)
                    guard r.action == expect else {
                        throw BenchError(description: "xdp-cost6 \(n) \(name): action \(r.action), expected \(expect)")
                    }
                    print("\(n)\t\(name)\t\(r.nanosecondsPerRun)")
                }
                try dp.setPassAll6(true)
                let r = try dp.testRun(packet: miss, repeat: runs)
                print("\(n)\tpass-all\t\(r.nanosecondsPerRun)")
                _ = rep
            }
        }
    }
}
