import CLibbpf
import Compiler
import Glibc
import IptParse

extension Dataplane {
    /// Replaces generation `generation` (0 or 1) with `tables`: clears its keyed maps,
    /// writes every entry, zeroes its counters, and writes its gen_config last. Packets
    /// keep being judged by the live generation; write the idle one, then `activate` it
    /// (or `beginTransition` first, while the kernel's own ruleset changes).
    /// Writing the live generation is refused (packets would see it half-written), except
    /// while `live.flags` has `empty` (nothing is judged then); so is writing either one
    /// during a transition, when both judge packets.
    public func write(_ tables: CompiledTables, generation: UInt32) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("write generation \(generation): there are only 0 and 1") }
        let g = generation
        let live = try liveEntry()
        guard live.flags & EIPT_LIVE_BOTH == 0 || live.flags & EIPT_LIVE_EMPTY != 0 else {
            throw LoaderError("write generation \(g): a transition is under way (both generations judge packets); activate or cancel it first")
        }
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

        let verdicts = tables.verdicts.enumerated().map {
            TableEncoding.ruleInfo($0.element, reject: tables.rejectReplies[UInt32($0.offset)])
        }
        try map(DataplaneNames.map("rule_info", g)).updateAll(keys: Array(0..<ruleCount), values: verdicts)
        // Ext rows first: a fallback row is only read below fallback_count, set last.
        try map(DataplaneNames.map("ext", g))
            .updateAll(keys: Array(0..<UInt32(fallback.ext.count)), values: fallback.ext)
        try map(DataplaneNames.map("fallback", g))
            .updateAll(keys: Array(0..<UInt32(fallback.rows.count)), values: fallback.rows)
        try zeroCounters(generation: g, positions: nil, ruleCount: ruleCount)
        refreshLocalRoutesIfUsed(tables)

        var config = eipt_gen_config()
        config.policy = TableEncoding.ruleInfo(tables.policy).verdict
        config.catch_all_pos = tables.catchAll ?? EIPT_NO_RULE
        config.fallback_count = UInt32(fallback.rows.count)
        config.rule_count = ruleCount
        config.flags = TableEncoding.generationFlags(tables)
        if tables.verdicts.contains(.reject) { try writeRejectConfig() }
        try writeTimeConfig()
        try map("gen_config").update(g, config)
    }

    func liveEntry() throws(LoaderError) -> eipt_live {
        try map("live").lookup(UInt32(0), as: eipt_live.self) ?? eipt_live()
    }

    func generationConfig(_ g: UInt32) throws(LoaderError) -> eipt_gen_config {
        try map("gen_config").lookup(g, as: eipt_gen_config.self) ?? eipt_gen_config()
    }
}
