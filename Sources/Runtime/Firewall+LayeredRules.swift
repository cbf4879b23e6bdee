import Foundation
import IptParse

/// Every rule the kernel layer holds with its counters per layer: what the kernel's
/// iptables counted (`iptables-save -c`) and what XDP dropped early by that rule (the
/// retired totals plus the live generation). The REST API's rule list and /metrics.
public struct LayeredRules: Codable, Equatable, Sendable {
    public struct Count: Codable, Equatable, Sendable {
        public var packets: UInt64
        public var bytes: UInt64
        public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
            self.packets = packets
            self.bytes = bytes
        }
    }

    public struct RuleRow: Codable, Equatable, Sendable {
        /// 1-based, as `-D CHAIN N` and `-I CHAIN N` count.
        public var number: Int
        /// The rule as `iptables -S` prints it (`-A CHAIN ...`).
        public var rule: String
        public var kernel: Count
        public var xdp: Count
    }

    public struct ChainRows: Codable, Equatable, Sendable {
        public var name: String
        /// Built-in chains only.
        public var policy: String?
        public var policyCounters: PolicyCount?
        public var rules: [RuleRow]
    }

    public struct PolicyCount: Codable, Equatable, Sendable {
        public var kernel: Count
        public var xdp: Count
    }

    public struct TableRows: Codable, Equatable, Sendable {
        public var name: String
        public var chains: [ChainRows]
    }

    /// The program's own counters, when XDP is attached.
    public struct XDPCounts: Codable, Equatable, Sendable {
        public var interface: String
        public var programID: UInt32
        public var dropped: UInt64
        public var passedToKernel: UInt64
        public var untouched: UInt64
        public var overruled: UInt64
        public var guarded: UInt64
    }

    public var family: Family
    public var tables: [TableRows]
    public var xdp: XDPCounts?
}

extension Firewall {
    /// The kernel's rules with both layers' counters, read under the state lock.
    public func layeredRules(family: Family, table: String? = nil) throws -> LayeredRules {
        try locked("ebpf-iptables rules") {
            let saved = kernel.save(family, counters: true, table: table)
            guard saved.ok else {
                throw RuntimeError.tool("read the kernel's ruleset: \(family == .ipv6 ? "ip6tables-save" : "iptables-save") exited \(saved.status): \(saved.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            let ruleset = try RestoreParser.parse(saved.stdout, options: .init(family: family, file: "<iptables-save>"))
            var xdpTotals: [RuleIdentity: RetiredCounters.Count] = [:]
            var xdpCounts: LayeredRules.XDPCounts? = nil
            if family == .ipv4, let (a, xdp) = try attached() {
                let s = try xdp.summary()
                xdpCounts = .init(interface: a.interface, programID: s.programID, dropped: s.dropped, passedToKernel: s.passedToKernel,
                                  untouched: s.untouched, overruled: s.overruled, guarded: s.guarded)
                if let live = try xdp.liveGeneration() {
                    xdpTotals = RetiredCounters(store: store).totals(live: try xdp.counters(generation: live), replies: try xdp.replyCounters(generation: live))
                }
            }
            let ids = RuleIdentity.all(in: ruleset)
            func count(_ id: RuleIdentity?) -> LayeredRules.Count {
                let c = id.flatMap { xdpTotals[$0] }
                return .init(packets: c?.packets ?? 0, bytes: c?.bytes ?? 0)
            }
            let tables = ruleset.tables.map { t in
                LayeredRules.TableRows(name: t.name, chains: SavePrinter.chainOrder(t).map { c in
                    let chainIDs = ids[t.name + "\t" + c.name] ?? []
                    let rows = c.rules.enumerated().map { i, r in
                        LayeredRules.RuleRow(number: i + 1, rule: RulePrinter.save(r, chain: c.name, family: family),
                                             kernel: .init(packets: r.counters?.packets ?? 0, bytes: r.counters?.bytes ?? 0),
                                             xdp: count(i < chainIDs.count ? chainIDs[i] : nil))
                    }
                    let policy = c.policy.map { _ in
                        LayeredRules.PolicyCount(kernel: .init(packets: c.counters.packets, bytes: c.counters.bytes),
                                                 xdp: count(.policy(table: t.name, chain: c.name)))
                    }
                    return LayeredRules.ChainRows(name: c.name, policy: c.policy, policyCounters: policy, rules: rows)
                })
            }
            return LayeredRules(family: family, tables: tables, xdp: xdpCounts)
        }
    }
}
