import Compiler
import Foundation
import IptParse
@testable import Runtime

/// A firewall over the fake layers, with the check that matters run at every instant: XDP
/// never drops a probe the kernel's ruleset of that instant accepts.
final class World {
    let kernel = FakeKernel()
    let xdp = FakeXDP()
    let firewall: Firewall
    let dir: String
    var probes: [PacketFacts] = World.universe
    /// How many instants were checked, and the violations found (packet, description).
    private(set) var checked = 0
    private(set) var violations: [String] = []

    struct Host: XDPHost {
        let xdp: FakeXDP
        func open(interface: String) throws -> XDPLayer? { xdp }
        func attach(interface: String, mode: String) throws -> XDPLayer { xdp }
        func detach(interface: String) throws {}
    }

    init() throws {
        dir = NSTemporaryDirectory() + "ebpf-iptables-runtime-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        firewall = Firewall(paths: Paths(pinRoot: dir + "/pins", stateDir: dir + "/state"), kernel: kernel,
                            host: Host(xdp: xdp), lockWait: .seconds(5))
        kernel.onChange = { [unowned self] in self.check("kernel changed") }
        xdp.onChange = { [unowned self] in self.check("xdp changed") }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// What the kernel's ruleset decides now (test rulesets compile whole, so the compiled
    /// tables are the kernel's verdict).
    func kernelDrops(_ p: PacketFacts) -> Bool {
        let sets = kernel.sets.script
        let r = Compiler.compile(kernel.ruleset, sets: sets.sets.isEmpty ? nil : sets, interface: "eth0")
        return r.tables.decide(p).verdict == .drop
    }

    func check(_ when: String) {
        checked += 1
        let sets = kernel.sets.script
        let r = Compiler.compile(kernel.ruleset, sets: sets.sets.isEmpty ? nil : sets, interface: "eth0")
        for p in probes where xdp.drops(p) && r.tables.decide(p).verdict != .drop {
            violations.append("\(when): XDP drops \(Self.describe(p)) which the kernel accepts")
        }
    }

    /// After a command: XDP runs exactly what the kernel holds.
    func exact() -> Bool {
        let sets = kernel.sets.script
        let r = Compiler.compile(kernel.ruleset, sets: sets.sets.isEmpty ? nil : sets, interface: "eth0")
        return probes.allSatisfy { xdp.drops($0) == (r.tables.decide($0).verdict == .drop) } && !xdp.both && !xdp.passAll && !xdp.guarded
    }

    static func describe(_ p: PacketFacts) -> String {
        "\(dotted(p.source)) proto \(p.proto)\(p.ports.map { " dport \($0.destination)" } ?? "")"
    }

    static func dotted(_ a: UInt32) -> String { "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)" }

    static func address(_ s: String) -> UInt32 {
        s.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32($1)! }
    }

    /// Sources, protocols and ports the test rulesets talk about, and some they do not.
    static let universe: [PacketFacts] = {
        let sources = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.7", "203.0.113.9", "10.1.2.3", "10.9.9.9"].map(address)
        var out: [PacketFacts] = []
        for s in sources {
            for (proto, port) in [(UInt8(17), UInt16(5060)), (17, 5061), (6, 22), (6, 80), (6, 443)] {
                out.append(PacketFacts(source: s, destination: address("198.18.0.1"), proto: proto,
                                       ports: .init(source: 40000, destination: port), tcpFlags: proto == 6 ? 0x02 : nil))
            }
            out.append(PacketFacts(source: s, destination: address("198.18.0.1"), proto: 1, icmp: .init(type: 8, code: 0)))
        }
        return out
    }()
}
