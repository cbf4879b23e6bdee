import Glibc
import Compiler
import Loader

/// The XDP layer in the kernel: the program a previous command pinned, through the Loader.
///
/// The program is specialised to the tables it judges (Compiler/ProgramShape.swift): it is
/// widened (a replacement of a larger shape swapped in) before tables that need more are
/// judged — after a generation is written, before a live edit — and narrowed once tables
/// that needed more are no longer judged — after an activation or a cancelled transition.
/// A replacement of the same shape is never loaded: same shape, only map writes.
final class PinnedXDP: XDPLayer {
    var dp: Dataplane
    let pinRoot: String?

    init(_ dp: consuming Dataplane, pinRoot: String? = nil) {
        self.dp = dp
        self.pinRoot = pinRoot
    }

    /// Opt-in for now: `EBPF_IPTABLES_SPECIALISE=1` swaps in programs specialised to the
    /// tables' shape (`EBPF_IPTABLES_FULL_PROGRAM=1` keeps the full one whatever else says).
    /// By default the full program stays (docs/specialised-program.md says why).
    static var specialises: Bool {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        return env("EBPF_IPTABLES_SPECIALISE") == "1" && env("EBPF_IPTABLES_FULL_PROGRAM") != "1"
    }

    /// Swaps in a program of exactly `target` when the running one differs and `widenOnly`
    /// is false, or lacks part of `target`.
    func reshape(to target: ProgramShape, widenOnly: Bool) throws {
        guard PinnedXDP.specialises else { return }
        // Another process (the CLI beside the agent) may have replaced the program since this
        // one opened it: work from the pinned one, which is what runs.
        if let pinRoot, let pinned = Dataplane.pinnedProgramID(at: pinRoot), pinned != dp.programID {
            dp = try Dataplane.open(pinnedAt: pinRoot)
        }
        let current = try dp.shape()
        if current.isSuperset(of: target) && (widenOnly || current == target) { return }
        let next = widenOnly ? current.union(target) : target
        dp = try dp.replaced(shape: next, pinRoot: pinRoot)
    }

    func liveGeneration() throws -> UInt32? {
        try dp.flags.contains(.empty) ? nil : try dp.liveGeneration()
    }
    func write(_ tables: CompiledTables, generation: UInt32) throws {
        try dp.write(tables, generation: generation)
        // The written generation judges next (transition or activation): widen first.
        try reshape(to: try dp.neededShape(including: generation), widenOnly: true)
    }
    func beginTransition() throws { try dp.beginTransition() }
    func activate(generation: UInt32) throws {
        try dp.activate(generation: generation)
        try reshape(to: try dp.neededShape(), widenOnly: false)
    }
    func cancelTransition() throws {
        try dp.cancelTransition()
        try reshape(to: try dp.neededShape(), widenOnly: false)
    }
    func setGuard(_ prefixes: [CompiledTables.Prefix]) throws { try dp.setGuard(prefixes) }
    func clearGuard() throws { try dp.clearGuard() }
    func setPassAll(_ on: Bool) throws { try dp.setPassAll(on) }
    func liveLookup(_ key: LiveKey) throws -> UInt32? { try dp.liveLookup(key) }
    func liveHostEntry(_ key: LiveKey) throws -> UInt32? { try dp.liveHostEntry(key) }
    func liveCovering(_ key: LiveKey) throws -> UInt32? { try dp.liveCovering(key) }
    func liveSet(_ key: LiveKey, _ value: UInt32?) throws {
        if value != nil { try reshape(to: try dp.neededShape().union(key.shape), widenOnly: true) }
        try dp.liveSet(key, value)
    }
    func liveAppend(verdict: CompiledTables.Verdict, entries: [(LiveKey, UInt32)], fallback: [CompiledTables.FallbackRule],
                    catchAll: UInt32?, needsConntrack: Bool) throws {
        // What the appended position adds to the live generation's shape, before it judges.
        var adds: ProgramShape = []
        for (k, _) in entries { adds.formUnion(k.shape) }
        if !fallback.isEmpty { adds.insert(.fallback) }
        if needsConntrack || verdict == .continueWithoutEntry { adds.insert(.conntrack) }
        if verdict == .reject { adds.insert(.reject) }
        try reshape(to: try dp.neededShape().union(adds), widenOnly: true)
        try dp.liveAppend(verdict: verdict, entries: entries, fallback: fallback, catchAll: catchAll, needsConntrack: needsConntrack)
    }
    func counters(generation: UInt32) throws -> [RuleCounter] { try dp.counters(generation: generation) }
    func zeroCounters(generation: UInt32, positions: [UInt32]?) throws { try dp.zeroCounters(generation: generation, positions: positions) }
    func replyCounters(generation: UInt32) throws -> [UInt32: RuleCounter] { try dp.replyCounters(generation: generation) }
    func zeroReplyCounters(generation: UInt32, positions: [UInt32]) throws {
        try dp.zeroReplyCounters(generation: generation, positions: positions)
    }
    func pendingChange() throws -> Bool {
        let f = try dp.flags
        return f.contains(.transition) || f.contains(.guardSources) || f.contains(.passAll)
    }
    func summary() throws -> XDPSummary {
        let s = try dp.stats()
        return XDPSummary(programID: dp.programID, untouched: s.untouched, passedToKernel: s.passed + s.splitPassed + s.fragmentPassed,
                          dropped: s.dropped, overruled: s.routePassed + s.natPassed, guarded: s.guardPassed,
                          pendingChange: try pendingChange())
    }
}

/// Loads, pins, attaches and finds the program under a pin root.
public struct PinnedXDPHost: XDPHost {
    public let pinRoot: String

    public init(pinRoot: String) { self.pinRoot = pinRoot }

    public func open(interface: String) throws -> XDPLayer? {
        guard let dp = try? Dataplane.open(pinnedAt: pinRoot) else {
            // The pins are gone (`rm -rf` of the pin root; a reboot takes the program off too).
            // A program of ours still attached would go on dropping by tables nothing can
            // reach or change any more, whatever the kernel's ruleset becomes: take it off.
            try? takeOffOrphan(interface: interface)
            return nil
        }
        // A replacement of the program cut short (killed between its pin and its swap on
        // this interface): the interface still runs the previous program on the same maps.
        // Finish the swap, so the pinned program is the one that runs.
        _ = try? dp.adoptAttached(interface: interface)
        // Attached elsewhere or detached by hand: not ours to drive any more.
        guard let a = try? Dataplane.attached(interface: interface), a.programID == dp.programID else { return nil }
        return PinnedXDP(dp, pinRoot: pinRoot)
    }

    public func attach(interface: String, mode: String) throws -> XDPLayer {
        // A program of ours nothing drives (its pins gone, or the state that named it), and
        // pins left over from an attach whose program is gone (a detach by hand).
        try takeOffOrphan(interface: interface)
        try? Dataplane.unpin(at: pinRoot)
        let dp = try Dataplane.load()
        try dp.pin(at: pinRoot)
        do {
            try dp.attach(interface: interface, mode: mode == "generic" ? .generic : .native)
        } catch {
            try? Dataplane.unpin(at: pinRoot)
            throw error
        }
        return PinnedXDP(dp, pinRoot: pinRoot)
    }

    /// Detaches an ebpf-iptables program from `interface` unless it is the one our pins hold.
    func takeOffOrphan(interface: String) throws {
        guard let a = try Dataplane.attachedDataplane(interface: interface) else { return }
        if let dp = try? Dataplane.open(pinnedAt: pinRoot), dp.programID == a.programID { return }
        try Dataplane.detach(interface: interface)
    }

    public func detach(interface: String) throws {
        if (try? Dataplane.attached(interface: interface)) != nil { try Dataplane.detach(interface: interface) }
        try Dataplane.unpin(at: pinRoot)
    }
}
