import Foundation
import Loader
import TestSupport
import XCTest

/// Namespaces for the two-layer end-to-end tests: a generator (`gen`) joined by one veth
/// each to receivers that run a firewall. Every receiver's interface has the same name and
/// MAC address, and the same local address (198.18.0.2/32, no subnet: the receivers have no
/// route back to any probe's source, so a reply — a TCP reset, an ICMP error, an echo
/// reply — dies at its route lookup before OUTPUT and moves no counter). One frame, sent
/// on every generator-side veth, therefore means the same to each receiver.
///
/// Receivers running ebpf-iptables get their own pin root (on a bpffs this lab mounts:
/// `ip netns exec` hides /sys/fs/bpf) and state directory. Everything is removed by `close()`.
final class FirewallLab {
    static let address: UInt32 = 0xC612_0002 // 198.18.0.2
    static let mac: [UInt8] = [0x02, 0xee, 0, 0, 0, 0x02]

    let gen: NetworkNamespace
    private(set) var receivers: [Receiver] = []
    let interface: String
    let root: String
    let bpffs: String
    /// ebpf-iptables under the names it answers to (ebpf-iptables-restore, ebpf-ipset, ...).
    let bin: String
    private var closed = false

    init(interface: String = "rx0") throws {
        self.interface = interface
        gen = try NetworkNamespace(prefix: "ebpt-gen")
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ebpt-lab-\(getpid())-\(UUID().uuidString.prefix(8))").path
        bpffs = root + "/bpffs"
        bin = root + "/bin"
        try FileManager.default.createDirectory(atPath: bpffs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in ["ebpf-iptables", "ebpf-iptables-restore", "ebpf-iptables-save", "ebpf-ipset"] {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + name, withDestinationPath: Run.binary)
        }
        let m = Run.run(["mount", "-t", "bpf", "bpf", bpffs])
        guard m.status == 0 else { throw LabError("mount bpffs at \(bpffs): \(m.stderr)") }
    }

    deinit { close() }

    /// A new receiver: a namespace on its own veth from `gen`. `extraAddresses` are made
    /// local too (on lo), for probes aimed at a rule's destination.
    @discardableResult
    func addReceiver(_ role: String, extraAddresses: [UInt32] = []) throws -> Receiver {
        let ns = try NetworkNamespace(prefix: "ebpt-\(role)")
        let genSide = "g\(receivers.count)"
        let r = Receiver(role: role, ns: ns, interface: interface, genSide: genSide, lab: self)
        let steps: [[String]] = [
            ["ip", "link", "add", genSide, "netns", gen.name, "type", "veth", "peer", "name", interface, "netns", ns.name],
            ["ip", "-n", gen.name, "link", "set", genSide, "up"],
            ["ip", "-n", ns.name, "link", "set", interface, "address", Self.mac.map { String(format: "%02x", $0) }.joined(separator: ":")],
            ["ip", "-n", ns.name, "addr", "add", "198.18.0.2/32", "dev", interface],
            ["ip", "-n", ns.name, "link", "set", interface, "up"],
            ["ip", "-n", ns.name, "link", "set", "lo", "up"],
        ] + extraAddresses.map { ["ip", "-n", ns.name, "addr", "add", Probe.dotted($0) + "/32", "dev", "lo"] }
            + ["all", "default", interface].map { ["ip", "netns", "exec", ns.name, "sysctl", "-qw", "net.ipv4.conf.\($0).rp_filter=0"] }
        for s in steps {
            let out = Run.run(s)
            guard out.status == 0 else { throw LabError("\(s.joined(separator: " ")): \(out.stderr)") }
        }
        receivers.append(r)
        return r
    }

    /// Detaches every attached receiver, unmounts the bpffs, removes the files; the
    /// namespaces go with their values.
    func close() {
        guard !closed else { return }
        closed = true
        for r in receivers where r.usesOurs { r.closeDataplane(); _ = r.ours(["detach", interface]) }
        Run.run(["umount", bpffs])
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// One namespace running a firewall: the kernel's tools alone, or ebpf-iptables in front.
final class Receiver {
    let role: String
    let ns: NetworkNamespace
    let interface: String
    /// The generator's end of this receiver's veth.
    let genSide: String
    unowned let lab: FirewallLab
    private(set) var usesOurs = false
    private var dataplane: DataplaneHandle?

    init(role: String, ns: NetworkNamespace, interface: String, genSide: String, lab: FirewallLab) {
        self.role = role
        self.ns = ns
        self.interface = interface
        self.genSide = genSide
        self.lab = lab
    }

    var pins: String { lab.bpffs + "/" + role }
    var state: String { lab.root + "/state-" + role }
    var environment: [String: String] { ["EBPF_IPTABLES_BPFFS": pins, "EBPF_IPTABLES_STATE": state] }

    /// Runs a kernel tool in the namespace.
    @discardableResult
    func run(_ argv: [String], stdin: String? = nil) -> RunResult { ns.run(argv, stdin: stdin) }

    /// Runs ebpf-iptables under `tool` (ebpf-iptables, ebpf-iptables-restore, ebpf-ipset, ...)
    /// in the namespace, with this receiver's pins and state.
    @discardableResult
    func ours(_ args: [String], tool: String = "ebpf-iptables", stdin: String? = nil) -> RunResult {
        usesOurs = true
        return Run.run(["ip", "netns", "exec", ns.name, lab.bin + "/" + tool] + args, stdin: stdin, env: environment)
    }

    /// The pinned data plane (opened once, after `attach`).
    func xdp() throws -> DataplaneHandle {
        if let d = dataplane { return d }
        let d = try DataplaneHandle(pins: pins)
        dataplane = d
        return d
    }

    /// Forgets the opened data plane (after a detach or a re-attach it is another program).
    func closeDataplane() { dataplane = nil }

    /// The events log ebpf-iptables keeps in the state directory.
    var events: [String] {
        Fixtures.text(URL(fileURLWithPath: state + "/events.log")).split(separator: "\n").map(String.init)
    }

    /// Adds the probe instrumentation (see `NetfilterSnapshot`): a native nftables table that
    /// counts every IPv4 packet entering netfilter (`seen`) and every one that got through
    /// INPUT (`delivered`), plus optional per-source counters after INPUT. It makes no
    /// verdict, is not an iptables table (iptables-save does not print it) and does not
    /// turn conntrack on.
    func instrument(countingSources sources: [UInt32] = []) throws {
        let perSource = sources.map { "        ip saddr \(Probe.dotted($0)) counter name \"\(Self.counterName($0))\"\n" }.joined()
        let counters = sources.map { "    counter \(Self.counterName($0)) { }\n" }.joined()
        let script = """
            table ip e2e_probe {
                counter seen { }
                counter delivered { }
            \(counters)    chain pre {
                    type filter hook prerouting priority -450; policy accept;
                    counter name "seen"
                }
                chain in {
                    type filter hook input priority 500; policy accept;
                    counter name "delivered"
            \(perSource)    }
            }

            """
        let r = run(["nft", "-f", "-"], stdin: script)
        guard r.status == 0 else { throw LabError("nft instrumentation in \(role): \(r.stderr)\n\(script)") }
    }

    /// The instrumentation's counter of packets from `source` that got through INPUT.
    static func counterName(_ source: UInt32) -> String { "s" + Probe.dotted(source).replacingOccurrences(of: ".", with: "_") }

    /// The kernel's counters (iptables-save -c) and the instrumentation's, in one go.
    func snapshot() -> NetfilterSnapshot {
        let r = run(["sh", "-c", "iptables-save -c; echo '#e2e-nft'; nft list counters table ip e2e_probe"])
        return NetfilterSnapshot.parse(r.stdout)
    }
}

/// The pinned data plane of a receiver, opened from its pins.
final class DataplaneHandle {
    let dp: Dataplane

    init(pins: String) throws {
        dp = try Dataplane.open(pinnedAt: pins)
    }

    func stats() throws -> DataplaneStats { try dp.stats() }

    /// Counters of the live generation, by position (the policy's last).
    func counters() throws -> [RuleCounter] {
        try dp.counters(generation: try dp.liveGeneration())
    }

    var flags: LiveFlags { get throws { try dp.flags } }
    func liveGeneration() throws -> UInt32 { try dp.liveGeneration() }
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
