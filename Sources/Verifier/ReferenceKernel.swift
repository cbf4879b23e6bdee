import Foundation
import IptParse

/// The kernel alone, as the oracle: the whole ruleset (every table) and its sets restored
/// with the system's own tools into a throwaway namespace, fed frames over a veth from a
/// second one. Two nftables counters in a table of their own tell what happened to each
/// frame without touching the ruleset: one at the very start of PREROUTING (the frame
/// arrived) and one after every INPUT hook (the kernel delivered it to the host: accepted).
/// `iptables-save -c` deltas name the deciding rule (`KernelWalk`).
final class ReferenceKernel {
    let generator: String
    let reference: String
    /// Named like the migration's interface, so `-i` tests decide alike.
    let interface: String
    let ruleset: Ruleset
    private(set) var receiverMAC: [UInt8] = []

    static let sentinelTable = "ebpf_iptables_verify"
    static let sentinels = """
    table ip \(sentinelTable) {
        chain arrived { type filter hook prerouting priority -1000; policy accept; counter; }
        chain accepted { type filter hook input priority 1000; policy accept; counter; }
    }

    """

    /// How long a frame may take to show up in the reference namespace's counters.
    static let arrivalDeadline: TimeInterval = 3.0

    init(tag: String, interface: String, ruleset: Ruleset, setsText: String?) throws {
        generator = "ebpt-vgen-\(tag)"
        reference = "ebpt-vref-\(tag)"
        self.interface = interface
        self.ruleset = ruleset
        for ns in [generator, reference] {
            let r = Shell.run(["ip", "netns", "add", ns])
            guard r.status == 0 else { throw Verification.Failure(description: "verify: ip netns add \(ns): \(r.stderr)") }
        }
        try setUp(setsText: setsText)
    }

    deinit {
        Shell.run(["ip", "netns", "del", generator])
        Shell.run(["ip", "netns", "del", reference])
    }

    @discardableResult
    private func inReference(_ argv: [String], stdin: String? = nil) -> Shell.Result {
        Shell.run(["ip", "netns", "exec", reference] + argv, stdin: stdin)
    }

    private func setUp(setsText: String?) throws {
        func must(_ what: String, _ r: Shell.Result) throws {
            guard r.status == 0 else { throw Verification.Failure(description: "verify: \(what): \(r.stderr)") }
        }
        try must("veth", Shell.run(["ip", "link", "add", "vg0", "netns", generator, "type", "veth", "peer", "name", interface, "netns", reference]))
        try must("link up", Shell.run(["ip", "-n", generator, "link", "set", "vg0", "up"]))
        try must("address", Shell.run(["ip", "-n", reference, "addr", "add", "198.18.0.2/24", "dev", interface]))
        try must("link up", Shell.run(["ip", "-n", reference, "link", "set", interface, "up"]))
        try must("lo up", Shell.run(["ip", "-n", reference, "link", "set", "lo", "up"]))
        // Probes come from any source: no reverse-path filter may drop them before PREROUTING's end.
        for k in ["all", "default", interface] {
            inReference(["sysctl", "-qw", "net.ipv4.conf.\(k).rp_filter=0"])
        }
        if let setsText { try must("ipset restore", inReference(["ipset", "restore"], stdin: setsText)) }
        // Sets the rules name but no --ipset file defines must still exist for iptables-restore.
        for table in ruleset.tables {
            for (name, dims) in Verification.referencedSets(table) {
                inReference(["ipset", "-exist", "create", name, dims > 1 ? "hash:ip,port" : "hash:ip"])
            }
        }
        try must("the kernel's iptables-restore refused the ruleset", inReference(["iptables-restore"], stdin: SavePrinter.save(ruleset)))
        try must("nft (the arrival and delivery counters)", inReference(["nft", "-f", "-"], stdin: Self.sentinels))
        let mac = inReference(["cat", "/sys/class/net/\(interface)/address"]).stdout
        receiverMAC = mac.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard receiverMAC.count == 6 else { throw Verification.Failure(description: "verify: no MAC address on \(interface) in \(reference)") }
    }

    /// Counters as they stand: arrivals and deliveries, and iptables'.
    struct Snapshot: Equatable {
        var arrived: UInt64 = 0
        var accepted: UInt64 = 0
        var iptables = KernelCounters()
    }

    /// Reads the counters, then forgets the connections probes opened so far, so the next
    /// probe is a new flow to conntrack. One child for all of it (a child costs more than
    /// what it runs): the nft counters first, so iptables' are at least as new.
    func snapshot() -> Snapshot {
        let r = inReference(["sh", "-c", "nft list table ip \(Self.sentinelTable) && echo '#--' && iptables-save -c; conntrack -F >/dev/null 2>&1"])
        var s = Snapshot()
        var chain = ""
        var rest = Substring("")
        for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "#--" {
                rest = r.stdout[line.endIndex...]
                break
            }
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            if words.first == "chain", words.count >= 2 { chain = words[1] }
            if let i = words.firstIndex(of: "packets"), i + 1 < words.count, let n = UInt64(words[i + 1]) {
                if chain == "arrived" { s.arrived = n } else if chain == "accepted" { s.accepted = n }
            }
        }
        s.iptables = KernelCounters.parse(String(rest))
        return s
    }

    /// What the kernel did with the frame sent after `before` was taken: waits (bounded)
    /// until it arrived. Returns the new snapshot too, the next probe's `before`.
    func answer(after before: Snapshot) throws -> (KernelAnswer, Snapshot) {
        let deadline = Date().addingTimeInterval(Self.arrivalDeadline)
        var now = snapshot()
        while now.arrived == before.arrived && Date() < deadline {
            usleep(2000)
            now = snapshot()
        }
        guard now.arrived > before.arrived else {
            throw Verification.Failure(description: "verify: a probe never arrived in \(reference) (after \(Self.arrivalDeadline) s)")
        }
        // The frame may still be on its way from PREROUTING to INPUT's end on another CPU:
        // read again (briefly) until the delivery counter and the deciding rule tell the same.
        let settle = Date().addingTimeInterval(Self.settleDeadline)
        while true {
            let answer = KernelAnswer(accepted: now.accepted > before.accepted,
                                      decision: KernelWalk(ruleset: ruleset, before: before.iptables, after: now.iptables).decision())
            if answer.isSettled || Date() >= settle { return (answer, now) }
            usleep(1000)
            now = snapshot()
        }
    }

    /// How long to wait for a frame that arrived to reach a verdict the counters agree on.
    static let settleDeadline: TimeInterval = 0.02
}
