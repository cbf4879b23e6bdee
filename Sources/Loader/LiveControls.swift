import CLibbpf
import Compiler
import Glibc

/// `live.flags` (EIPT_LIVE_* in bpf/ebpf_iptables.h).
public struct LiveFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Skip the route check of the drop path: every judged DROP is dropped, whatever the
    /// destination (BPF_PROG_TEST_RUN tests, whose frames arrive on loopback).
    public static let allDestinations = LiveFlags(rawValue: EIPT_LIVE_ALL_DESTINATIONS)
    /// Nothing restored yet: pass everything.
    public static let empty = LiveFlags(rawValue: EIPT_LIVE_EMPTY)
    /// EIPT_LIVE_BOTH: a packet is dropped only if both generations drop it.
    public static let transition = LiveFlags(rawValue: EIPT_LIVE_BOTH)
    /// EIPT_LIVE_GUARD: packets from a `guard_src` prefix pass untouched.
    public static let guardSources = LiveFlags(rawValue: EIPT_LIVE_GUARD)
    /// EIPT_LIVE_PASS_ALL: pass everything.
    public static let passAll = LiveFlags(rawValue: EIPT_LIVE_PASS_ALL)
}

/// The non-generational controls used while both layers change (docs/two-layers.md,
/// "Changing both layers"). Each call is one or two writes of one word of `live`: the
/// program reads `generation` and `flags` once per packet, each as one word, and every
/// write here changes only one of them, so no packet sees half of a change.
extension Dataplane {
    /// Makes `generation` the one packets are judged by, and ends any transition and the
    /// initial `empty` state. When the generation changes while `transition` or `empty` is
    /// set, the generation word is flipped first and the flags cleared second: in between,
    /// packets are still judged by both generations (or all pass), never by the new one
    /// alone before the flip nor by the old one alone after it.
    public func activate(generation: UInt32) throws(LoaderError) {
        guard generation <= 1 else { throw LoaderError("activate generation \(generation): there are only 0 and 1") }
        var live = try liveEntry()
        if live.generation != generation && live.flags & (EIPT_LIVE_BOTH | EIPT_LIVE_EMPTY) != 0 {
            live.generation = generation
            try map("live").update(UInt32(0), live)
        }
        live.generation = generation
        live.flags &= ~(EIPT_LIVE_EMPTY | EIPT_LIVE_BOTH)
        try map("live").update(UInt32(0), live)
    }

    /// Starts a transition: the idle generation has been written with what the kernel's
    /// ruleset is about to become; from now on a packet is dropped only if both the live
    /// and the idle generation drop it. End it with `activate(generation:)` of the idle
    /// generation (the kernel took the change) or `cancelTransition()` (it refused).
    public func beginTransition() throws(LoaderError) {
        let live = try liveEntry()
        guard live.flags & EIPT_LIVE_EMPTY == 0 else {
            throw LoaderError("begin transition: nothing is live yet (activate a generation first)")
        }
        let idle = 1 - live.generation
        guard try generationConfig(idle).policy != 0 else {
            throw LoaderError("begin transition: generation \(idle) has never been written")
        }
        try updateLiveFlags(set: EIPT_LIVE_BOTH, clear: 0)
    }

    /// Ends a transition without flipping: the live generation alone judges again.
    public func cancelTransition() throws(LoaderError) {
        try updateLiveFlags(set: 0, clear: EIPT_LIVE_BOTH)
    }

    /// Passes every packet whose source lies in one of `prefixes` (replacing any earlier
    /// guard): the prefixes are written to `guard_src` first, then the flag is set, so the
    /// guard holds in full from the moment it counts.
    public func setGuard(_ prefixes: [CompiledTables.Prefix]) throws(LoaderError) {
        let wanted = Set(prefixes)
        guard wanted.count <= Int(EIPT_MAX_GUARD) else {
            throw LoaderError("set guard: \(wanted.count) prefixes, at most \(EIPT_MAX_GUARD)")
        }
        let m = try map("guard_src")
        let keys = wanted.sorted().map { TableEncoding.key($0) }
        try m.updateAll(keys: keys, values: [UInt32](repeating: 1, count: keys.count))
        // Prefixes of an earlier guard that are not wanted now: still passing until here,
        // which is the safe direction.
        let stale = try m.keys(eipt_src_key.self).filter { k in
            !wanted.contains(CompiledTables.Prefix(address: UInt32(bigEndian: k.addr), length: UInt8(k.prefixlen)))
        }
        for k in stale { try m.delete(k) }
        try updateLiveFlags(set: EIPT_LIVE_GUARD, clear: 0)
    }

    /// Lifts the guard: the flag is cleared first, then `guard_src` emptied.
    public func clearGuard() throws(LoaderError) {
        try updateLiveFlags(set: 0, clear: EIPT_LIVE_GUARD)
        try map("guard_src").clear(keyType: eipt_src_key.self)
    }

    /// The prefixes `guard_src` holds now (whether or not the guard flag is set).
    public func guardPrefixes() throws(LoaderError) -> [CompiledTables.Prefix] {
        try map("guard_src").keys(eipt_src_key.self)
            .map { CompiledTables.Prefix(address: UInt32(bigEndian: $0.addr), length: UInt8($0.prefixlen)) }
            .sorted()
    }

    /// Passes every packet (`on`), or judges again (`off`).
    public func setPassAll(_ on: Bool) throws(LoaderError) {
        try updateLiveFlags(set: on ? EIPT_LIVE_PASS_ALL : 0, clear: on ? 0 : EIPT_LIVE_PASS_ALL)
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

    private func updateLiveFlags(set: UInt32, clear: UInt32) throws(LoaderError) {
        var live = try liveEntry()
        let flags = (live.flags & ~clear) | set
        guard flags != live.flags else { return }
        live.flags = flags
        try map("live").update(UInt32(0), live)
    }
}
