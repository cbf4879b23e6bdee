import Compiler
import Loader

/// The XDP layer as the running firewall drives it: two generations of tables (one live),
/// and the controls that keep it from ever dropping what the kernel layer accepts while
/// both change (docs/two-layers.md). `PinnedXDP` is the kernel's; unit tests use a fake
/// that can answer, at every step, what the program would do with a packet.
public protocol XDPLayer: AnyObject {
    /// The generation packets are judged by; nil while nothing was installed (all pass).
    func liveGeneration() throws -> UInt32?
    /// Writes a whole generation; it must not be live (or the program must pass all).
    func write(_ tables: CompiledTables, generation: UInt32) throws
    /// The idle generation holds the next tables: from now on a packet is dropped only if
    /// both generations drop it.
    func beginTransition() throws
    /// Makes `generation` live (one word) and ends any transition.
    func activate(generation: UInt32) throws
    /// Ends a transition without a flip: the live generation alone judges again.
    func cancelTransition() throws
    /// Passes packets from these prefixes untouched until `clearGuard`.
    func setGuard(_ prefixes: [CompiledTables.Prefix]) throws
    func clearGuard() throws
    /// Passes every packet untouched while on.
    func setPassAll(_ on: Bool) throws

    // Small edits of the live generation (one set member, one appended rule).
    func liveLookup(_ key: LiveKey) throws -> UInt32?
    func liveHostEntry(_ key: LiveKey) throws -> UInt32?
    func liveCovering(_ key: LiveKey) throws -> UInt32?
    func liveSet(_ key: LiveKey, _ value: UInt32?) throws
    func liveAppend(verdict: CompiledTables.Verdict, entries: [(LiveKey, UInt32)], fallback: [CompiledTables.FallbackRule],
                    catchAll: UInt32?, needsConntrack: Bool) throws

    /// Per position of `generation` what XDP decided itself (dropped; with --xdp-only also
    /// accepted); the policy's counter last.
    func counters(generation: UInt32) throws -> [RuleCounter]
    /// Zeroes the given positions of `generation` (all when nil).
    func zeroCounters(generation: UInt32, positions: [UInt32]?) throws
    /// Per `reject` position of `generation`, the replies XDP sent (packets, IP bytes).
    func replyCounters(generation: UInt32) throws -> [UInt32: RuleCounter]
    /// Forgets the reply counts of the given `reject` positions of `generation`.
    func zeroReplyCounters(generation: UInt32, positions: [UInt32]) throws

    /// A change was left half-way (transition, guard or pass-all still on).
    func pendingChange() throws -> Bool
    /// What `status` shows of the program.
    func summary() throws -> XDPSummary
}

/// The program as `status` describes it.
public struct XDPSummary: Equatable, Sendable {
    public var programID: UInt32
    /// Packets the program passed without judging (not IPv4, malformed, martian, nothing installed).
    public var untouched: UInt64
    /// Judged and passed up to the kernel.
    public var passedToKernel: UInt64
    /// Dropped in XDP.
    public var dropped: UInt64
    /// A drop verdict the route check (forwarded packet) or the NAT check turned into a pass.
    public var overruled: UInt64
    /// Passed by a guard or while passing everything during a change.
    public var guarded: UInt64
    public var pendingChange: Bool

    public init(programID: UInt32, untouched: UInt64 = 0, passedToKernel: UInt64 = 0, dropped: UInt64 = 0,
                overruled: UInt64 = 0, guarded: UInt64 = 0, pendingChange: Bool = false) {
        self.programID = programID
        self.untouched = untouched
        self.passedToKernel = passedToKernel
        self.dropped = dropped
        self.overruled = overruled
        self.guarded = guarded
        self.pendingChange = pendingChange
    }
}

/// Loads, attaches, finds and removes the XDP layer.
public protocol XDPHost {
    /// The data plane a previous command pinned, or nil when its pins are gone (a reboot
    /// empties bpffs) or the program is no longer attached to `interface`. A program of ours
    /// left attached without its pins is taken off (nothing could keep it in step).
    func open(interface: String) throws -> XDPLayer?
    /// Loads the program, pins it and attaches it; everything passes until a generation is
    /// activated.
    func attach(interface: String, mode: String) throws -> XDPLayer
    /// Detaches from `interface` and removes the pins; missing pieces are not an error.
    func detach(interface: String) throws
}

extension XDPLayer {
    /// A data plane that never answers REJECT itself sends no replies.
    func replyCounters(generation: UInt32) throws -> [UInt32: RuleCounter] { [:] }
    func zeroReplyCounters(generation: UInt32, positions: [UInt32]) throws {}
}
