import CLibbpf
import Glibc

/// Packets and bytes a rule (or the policy) has decided.
public struct RuleCounter: Equatable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// The program's global `stats` (enum eipt_stat), summed over CPUs: every packet the
/// program saw is in exactly one field.
public struct DataplaneStats: Equatable, Sendable {
    /// Passed unjudged: not IPv4, a malformed header, a martian source, `empty`, `passAll`.
    public var untouched: UInt64 = 0
    /// Judged ACCEPT or KERNEL (in a transition: by both generations) and passed up.
    public var passed: UInt64 = 0
    /// Dropped in XDP (non-first fragments of a dropped datagram included).
    public var dropped: UInt64 = 0
    /// Judged DROP but passed: the route check found the kernel would not hand it to INPUT.
    public var routePassed: UInt64 = 0
    /// Judged DROP but passed: a NATed connection, or a protocol conntrack cannot look up.
    public var natPassed: UInt64 = 0
    /// Passed by the guard.
    public var guardPassed: UInt64 = 0
    /// In a transition, dropped by one generation only, and passed.
    public var splitPassed: UInt64 = 0
    /// A non-first fragment whose first fragment XDP did not drop, passed.
    public var fragmentPassed: UInt64 = 0
    /// Judged REJECT: answered from XDP (XDP_TX).
    public var rejected: UInt64 = 0
    /// Judged REJECT: dropped without a reply, as the kernel sends none (rate limit, an ICMP
    /// error, a RST, a truncated TCP header).
    public var rejectLimited: UInt64 = 0
    /// Judged REJECT: passed up for the kernel to answer.
    public var rejectPassed: UInt64 = 0

    public init() {}

    /// Every packet the program saw.
    public var total: UInt64 {
        untouched + passed + dropped + routePassed + natPassed + guardPassed + splitPassed + fragmentPassed
            + rejected + rejectLimited + rejectPassed
    }
}

extension Dataplane {
    /// The `stats` array now, summed over CPUs.
    public func stats() throws(LoaderError) -> DataplaneStats {
        let m = try map("stats")
        let cpus = Dataplane.possibleCPUs
        func read(_ s: eipt_stat) throws(LoaderError) -> UInt64 {
            try m.lookupPerCPU(s.rawValue, as: UInt64.self, cpus: cpus).reduce(0, &+)
        }
        var out = DataplaneStats()
        out.untouched = try read(EIPT_STAT_UNTOUCHED)
        out.passed = try read(EIPT_STAT_PASSED)
        out.dropped = try read(EIPT_STAT_DROPPED)
        out.routePassed = try read(EIPT_STAT_ROUTE_PASSED)
        out.natPassed = try read(EIPT_STAT_NAT_PASSED)
        out.guardPassed = try read(EIPT_STAT_GUARD_PASSED)
        out.splitPassed = try read(EIPT_STAT_SPLIT_PASSED)
        out.fragmentPassed = try read(EIPT_STAT_FRAGMENT_PASSED)
        out.rejected = try read(EIPT_STAT_REJECTED)
        out.rejectLimited = try read(EIPT_STAT_REJECT_LIMITED)
        out.rejectPassed = try read(EIPT_STAT_REJECT_PASSED)
        return out
    }

    /// Counters of `generation` by position (summed over CPUs); the last element is the
    /// policy's. Its length is the generation's rule count + 1. They count what XDP decided
    /// itself: drops, and with `xdpOnly` tables the packets an ACCEPT position decided.
    public func counters(generation: UInt32) throws(LoaderError) -> [RuleCounter] {
        guard generation <= 1 else { throw LoaderError("read counters of generation \(generation): there are only 0 and 1") }
        let config = try generationConfig(generation)
        let counters = try map(DataplaneNames.map("counters", generation))
        let cpus = Dataplane.possibleCPUs
        var out: [RuleCounter] = []
        out.reserveCapacity(Int(config.rule_count) + 1)
        for pos in 0...min(config.rule_count, EIPT_MAX_RULES) {
            let perCPU = try counters.lookupPerCPU(pos, as: eipt_counter.self, cpus: cpus)
            out.append(perCPU.reduce(into: RuleCounter(packets: 0, bytes: 0)) {
                $0.packets &+= $1.packets
                $0.bytes &+= $1.bytes
            })
        }
        return out
    }

    /// Zeroes counters of `generation` (iptables -Z): the given positions (the policy's is
    /// the generation's rule count), or all of them when nil.
    public func zeroCounters(generation: UInt32, positions: [UInt32]?) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("zero counters of generation \(generation): there are only 0 and 1") }
        try zeroCounters(generation: generation, positions: positions, ruleCount: try generationConfig(generation).rule_count)
    }

    func zeroCounters(generation: UInt32, positions: [UInt32]?, ruleCount: UInt32) throws(LoaderError) {
        // A whole generation's counters go with its replies'; single positions do not take
        // their replies' with them (those count on OUTPUT's rules, which -Z names apart).
        if positions == nil { try zeroReplyCounters(generation: generation, positions: nil) }
        let keys = positions ?? Array(0...min(ruleCount, EIPT_MAX_RULES))
        guard !keys.isEmpty else { return }
        if let bad = keys.first(where: { $0 > EIPT_MAX_RULES }) {
            throw LoaderError("zero counters of generation \(generation): position \(bad) is beyond the counters (\(EIPT_MAX_RULES))")
        }
        let counters = try map(DataplaneNames.map("counters", generation))
        let cpus = Dataplane.possibleCPUs
        let zeros = [eipt_counter](repeating: eipt_counter(), count: keys.count * cpus)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        var n = UInt32(keys.count)
        let r = keys.withUnsafeBufferPointer { k in
            zeros.withUnsafeBufferPointer { v in bpf_map_update_batch(counters.fd, k.baseAddress, v.baseAddress, &n, &opts) }
        }
        guard r == 0 else { throw LoaderError.errno("zero counters of generation \(generation)", r) }
    }
}

extension Dataplane {
    /// The replies XDP sent per `reject` position of `generation` (replies_N, summed over
    /// CPUs): packets and IP bytes, which the kernel would have counted on the OUTPUT and
    /// POSTROUTING rules and policies its own reply passes (`PositionOrigin.replyPlaces`).
    public func replyCounters(generation: UInt32) throws(LoaderError) -> [UInt32: RuleCounter] {
        guard generation <= 1 else { throw LoaderError("read reply counters of generation \(generation): there are only 0 and 1") }
        let m = try map(DataplaneNames.map("replies", generation))
        let cpus = Dataplane.possibleCPUs
        var out: [UInt32: RuleCounter] = [:]
        for pos in try m.keys(UInt32.self) {
            let perCPU = try m.lookupPerCPU(pos, as: eipt_counter.self, cpus: cpus)
            out[pos] = perCPU.reduce(into: RuleCounter(packets: 0, bytes: 0)) {
                $0.packets &+= $1.packets
                $0.bytes &+= $1.bytes
            }
        }
        return out
    }

    /// Forgets the reply counts of the given positions of `generation` (all when nil): a
    /// position's slot is made again at its next reply.
    public func zeroReplyCounters(generation: UInt32, positions: [UInt32]?) throws(LoaderError) {
        let m = try map(DataplaneNames.map("replies", generation))
        guard let positions else {
            try m.clear(keyType: UInt32.self)
            return
        }
        let present = Set(try m.keys(UInt32.self))
        for pos in positions where present.contains(pos) { try m.delete(pos) }
    }
}
