import Compiler
import Loader

/// The XDP layer in the kernel: the program a previous command pinned, through the Loader.
final class PinnedXDP: XDPLayer {
    let dp: Dataplane

    init(_ dp: consuming Dataplane) { self.dp = dp }

    func liveGeneration() throws -> UInt32? {
        try dp.flags.contains(.empty) ? nil : try dp.liveGeneration()
    }
    func write(_ tables: CompiledTables, generation: UInt32) throws { try dp.write(tables, generation: generation) }
    func beginTransition() throws { try dp.beginTransition() }
    func activate(generation: UInt32) throws { try dp.activate(generation: generation) }
    func cancelTransition() throws { try dp.cancelTransition() }
    func setGuard(_ prefixes: [CompiledTables.Prefix]) throws { try dp.setGuard(prefixes) }
    func clearGuard() throws { try dp.clearGuard() }
    func setPassAll(_ on: Bool) throws { try dp.setPassAll(on) }
    func liveLookup(_ key: LiveKey) throws -> UInt32? { try dp.liveLookup(key) }
    func liveHostEntry(_ key: LiveKey) throws -> UInt32? { try dp.liveHostEntry(key) }
    func liveCovering(_ key: LiveKey) throws -> UInt32? { try dp.liveCovering(key) }
    func liveSet(_ key: LiveKey, _ value: UInt32?) throws { try dp.liveSet(key, value) }
    func liveAppend(verdict: CompiledTables.Verdict, entries: [(LiveKey, UInt32)], fallback: [CompiledTables.FallbackRule],
                    catchAll: UInt32?, needsConntrack: Bool) throws {
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
        // Attached elsewhere or detached by hand: not ours to drive any more.
        guard let a = try? Dataplane.attached(interface: interface), a.programID == dp.programID else { return nil }
        return PinnedXDP(dp)
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
        return PinnedXDP(dp)
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
