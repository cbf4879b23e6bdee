import CLibbpf
import Compiler
import Glibc
import IptParse

/// Packets and bytes a rule (or the policy) has decided.
public struct RuleCounter: Equatable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// `live.flags` (EIPT_LIVE_* in bpf/ebpf_iptables.h).
public struct LiveFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Judge every IPv4 packet, not only those to local addresses (BPF_PROG_TEST_RUN tests).
    public static let allDestinations = LiveFlags(rawValue: EIPT_LIVE_ALL_DESTINATIONS)
    /// Nothing restored yet: pass everything.
    public static let empty = LiveFlags(rawValue: EIPT_LIVE_EMPTY)
}

extension Dataplane {
    /// Replaces generation `generation` (0 or 1) with `tables`: clears its keyed maps,
    /// writes every entry, zeroes its counters, and writes its gen_config last. Packets
    /// keep being judged by the live generation; write the idle one, then `activate` it.
    /// Writing the live generation is refused (packets would see it half-written), except
    /// while `live.flags` has `empty` (nothing is judged then).
    public func write(_ tables: CompiledTables, generation: UInt32) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("write generation \(generation): there are only 0 and 1") }
        let g = generation
        let live = try liveEntry()
        guard live.generation != g || live.flags & EIPT_LIVE_EMPTY != 0 else {
            throw LoaderError("write generation \(g): it is live; write the other generation and activate it")
        }
        let ruleCount = UInt32(tables.verdicts.count)
        guard ruleCount < EIPT_MAX_RULES else {
            throw LoaderError("write generation \(g): \(ruleCount) rule positions, at most \(EIPT_MAX_RULES - 1)")
        }
        let fallback = try TableEncoding.fallback(tables.fallback, generation: g)

        let protoPort = try map(DataplaneNames.map("proto_port", g))
        let src = try map(DataplaneNames.map("src", g))
        let spp = try map(DataplaneNames.map("src_proto_port", g))
        let srcHost = try map(DataplaneNames.map("src_host", g))
        let sppHost = try map(DataplaneNames.map("src_proto_port_host", g))
        try protoPort.clear(keyType: eipt_proto_port_key.self)
        try src.clear(keyType: eipt_src_key.self)
        try spp.clear(keyType: eipt_src_proto_port_key.self)
        try srcHost.clear(keyType: eipt_src_host_key.self)
        try sppHost.clear(keyType: eipt_spp_host_key.self)

        let pp = tables.protoPort.map { (TableEncoding.key($0.key), eipt_pos(pos: $0.value)) }
        try protoPort.updateAll(keys: pp.map(\.0), values: pp.map(\.1))
        // /32 entries go to the hash tables in front of the tries (see the header).
        let hosts = tables.source.filter { $0.key.length == 32 }
        let s = tables.source.filter { $0.key.length < 32 }.map { (TableEncoding.key($0.key), eipt_pos(pos: $0.value)) }
        try src.updateAll(keys: s.map(\.0), values: s.map(\.1))
        try srcHost.updateAll(keys: hosts.map { TableEncoding.hostKey($0.key) }, values: hosts.map { eipt_pos(pos: $0.value) })
        let sppHosts = tables.sourceProtoPort.filter { $0.key.source.length == 32 }
        let sp = tables.sourceProtoPort.filter { $0.key.source.length < 32 }.map { (TableEncoding.key($0.key), eipt_pos(pos: $0.value)) }
        try spp.updateAll(keys: sp.map(\.0), values: sp.map(\.1))
        try sppHost.updateAll(keys: sppHosts.map { TableEncoding.hostKey($0.key) }, values: sppHosts.map { eipt_pos(pos: $0.value) })

        let verdicts = tables.verdicts.map { eipt_rule_info(verdict: $0.rawValue) }
        try map(DataplaneNames.map("rule_info", g)).updateAll(keys: Array(0..<ruleCount), values: verdicts)
        try map(DataplaneNames.map("fallback", g))
            .updateAll(keys: Array(0..<UInt32(fallback.count)), values: fallback)
        try zeroCounters(generation: g, count: ruleCount + 1)

        var config = eipt_gen_config()
        config.policy = tables.policy.rawValue
        config.catch_all_pos = tables.catchAll ?? EIPT_NO_RULE
        config.fallback_count = UInt32(fallback.count)
        config.rule_count = ruleCount
        config.flags = (tables.needsConntrack ? EIPT_GEN_NEEDS_CT : 0) | TableEncoding.shapeFlags(tables)
        try map("gen_config").update(g, config)
    }

    /// Makes `generation` the one packets are judged by, and clears EIPT_LIVE_EMPTY: one
    /// map write, so each packet sees either the old or the new ruleset, never a mix.
    public func activate(generation: UInt32) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("activate generation \(generation): there are only 0 and 1") }
        var live = try liveEntry()
        live.generation = generation
        live.flags &= ~EIPT_LIVE_EMPTY
        try map("live").update(UInt32(0), live)
    }

    /// The generation packets are judged by now.
    public func liveGeneration() throws(LoaderError) -> UInt32 {
        try liveEntry().generation
    }

    /// The live flags now.
    public var flags: LiveFlags {
        get throws(LoaderError) { LiveFlags(rawValue: try liveEntry().flags) }
    }

    /// Replaces the live flags (the generation is kept).
    public func setFlags(_ flags: LiveFlags) throws(LoaderError) {
        try setLiveFlags(flags.rawValue)
    }

    func setLiveFlags(_ raw: UInt32) throws(LoaderError) {
        var live = try liveEntry()
        live.flags = raw
        try map("live").update(UInt32(0), live)
    }

    private func liveEntry() throws(LoaderError) -> eipt_live {
        try map("live").lookup(UInt32(0), as: eipt_live.self) ?? eipt_live()
    }

    /// Counters of `generation` by position (summed over CPUs); the last element is the
    /// policy's. Its length is the generation's rule count + 1.
    public func counters(generation: UInt32) throws(LoaderError) -> [RuleCounter] {
        guard generation <= 1 else { throw LoaderError("read counters of generation \(generation): there are only 0 and 1") }
        let config = try map("gen_config").lookup(generation, as: eipt_gen_config.self) ?? eipt_gen_config()
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

    private func zeroCounters(generation: UInt32, count: UInt32) throws(LoaderError) {
        let counters = try map(DataplaneNames.map("counters", generation))
        let cpus = Dataplane.possibleCPUs
        let keys = Array(0..<count)
        let zeros = [eipt_counter](repeating: eipt_counter(), count: Int(count) * cpus)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        var n = count
        let r = keys.withUnsafeBufferPointer { k in
            zeros.withUnsafeBufferPointer { v in bpf_map_update_batch(counters.fd, k.baseAddress, v.baseAddress, &n, &opts) }
        }
        guard r == 0 else { throw LoaderError.errno("zero counters of generation \(generation)", r) }
    }
}
