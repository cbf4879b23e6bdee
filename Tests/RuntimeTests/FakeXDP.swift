import Compiler
import Loader
@testable import Runtime

/// The XDP layer in memory: two generations of tables and the program's controls, with
/// the program's decision modelled by `CompiledTables.decide`. Every change notifies
/// `onChange`.
final class FakeXDP: XDPLayer {
    var generations: [CompiledTables?] = [nil, nil]
    var live: UInt32 = 0
    var empty = true
    var both = false
    var passAll = false
    var guardPrefixes: [CompiledTables.Prefix] = []
    var guarded = false
    var counts: [[RuleCounter]] = [[], []]
    var onChange: () -> Void = {}
    /// Throws on the n-th write, to interrupt a change half-way.
    var failOnWrite: Int? = nil
    private var writes = 0
    /// Throws on the n-th activation (counted from when it is set).
    var failOnActivate: Int? = nil { didSet { activations = 0 } }
    private var activations = 0

    func liveGeneration() throws -> UInt32? { empty ? nil : live }

    func write(_ tables: CompiledTables, generation: UInt32) throws {
        writes += 1
        if let n = failOnWrite, writes == n { throw RuntimeError.dataplane("injected failure") }
        // As the Loader: during a transition both generations judge packets, so neither may be written.
        if both { throw RuntimeError.dataplane("write generation \(generation): a transition is under way") }
        precondition(empty || passAll || generation != live, "the live generation was rewritten while it judged packets")
        generations[Int(generation)] = tables
        counts[Int(generation)] = Array(repeating: RuleCounter(packets: 0, bytes: 0), count: tables.verdicts.count + 1)
        replies[Int(generation)] = [:]
        onChange()
    }
    func beginTransition() throws { both = true; onChange() }
    func activate(generation: UInt32) throws {
        activations += 1
        if let n = failOnActivate, activations == n { throw RuntimeError.dataplane("injected failure") }
        live = generation; empty = false; both = false; onChange()
    }
    func cancelTransition() throws { both = false; onChange() }
    func setGuard(_ prefixes: [CompiledTables.Prefix]) throws { guardPrefixes = prefixes; guarded = true; onChange() }
    func clearGuard() throws { guarded = false; guardPrefixes = []; onChange() }
    func setPassAll(_ on: Bool) throws { passAll = on; onChange() }

    var liveTables: CompiledTables { generations[Int(live)] ?? CompiledTables() }

    func liveLookup(_ key: LiveKey) throws -> UInt32? {
        if let v = liveTables.exact(key), isHost(key) { return v == .max ? nil : v }
        return liveTables.covering(key)
    }
    func liveHostEntry(_ key: LiveKey) throws -> UInt32? { isHost(key) ? liveTables.exact(key) : nil }
    func liveCovering(_ key: LiveKey) throws -> UInt32? { liveTables.covering(key, excludingHost: true) }
    func liveSet(_ key: LiveKey, _ value: UInt32?) throws {
        var t = liveTables
        switch key {
        case .protoPort(let k): t.protoPort[k] = value
        case .source(let k): t.source[k] = value
        case .sourceProtoPort(let k): t.sourceProtoPort[k] = value
        }
        generations[Int(live)] = t
        onChange()
    }
    func liveAppend(verdict: CompiledTables.Verdict, entries: [(LiveKey, UInt32)], fallback: [CompiledTables.FallbackRule],
                    catchAll: UInt32?, needsConntrack: Bool) throws {
        var t = liveTables
        // As the program sees it: the new position first answers with the policy.
        t.verdicts.append(t.policy)
        generations[Int(live)] = t
        onChange()
        for (k, v) in entries { try liveSet(k, v) }
        t = liveTables
        t.fallback += fallback
        if t.catchAll == nil { t.catchAll = catchAll }
        generations[Int(live)] = t
        counts[Int(live)].insert(RuleCounter(packets: 0, bytes: 0), at: counts[Int(live)].count - 1)
        onChange()
        t.verdicts[t.verdicts.count - 1] = verdict
        generations[Int(live)] = t
        onChange()
    }
    func counters(generation: UInt32) throws -> [RuleCounter] { counts[Int(generation)] }
    func zeroCounters(generation: UInt32, positions: [UInt32]?) throws {
        for i in counts[Int(generation)].indices where positions?.contains(UInt32(i)) ?? true {
            counts[Int(generation)][i] = RuleCounter(packets: 0, bytes: 0)
        }
    }
    /// Replies sent per `reject` position, per generation (what replies_N holds).
    var replies: [[UInt32: RuleCounter]] = [[:], [:]]
    func replyCounters(generation: UInt32) throws -> [UInt32: RuleCounter] { replies[Int(generation)] }
    func zeroReplyCounters(generation: UInt32, positions: [UInt32]) throws {
        for p in positions { replies[Int(generation)][p] = nil }
    }
    func pendingChange() throws -> Bool { both || guarded || passAll }
    func summary() throws -> XDPSummary { XDPSummary(programID: 1, pendingChange: try pendingChange()) }

    /// What the program does with `packet` now: true when it drops it.
    func drops(_ packet: PacketFacts) -> Bool {
        if empty || passAll { return false }
        if guarded, guardPrefixes.contains(where: { $0.contains(CompiledTables.Prefix(address: packet.source, length: 32)) }) { return false }
        let first = generations[Int(live)].map { $0.decide(packet).verdict == .drop } ?? false
        guard both else { return first }
        let second = generations[Int(1 - live)].map { $0.decide(packet).verdict == .drop } ?? false
        return first && second
    }

    /// Sends `packet`: counts it where XDP drops it.
    func send(_ packet: PacketFacts) {
        guard drops(packet), let t = generations[Int(live)] else { return }
        let pos = Int(t.decide(packet).position ?? UInt32(t.verdicts.count))
        if pos < counts[Int(live)].count { counts[Int(live)][pos].packets += 1; counts[Int(live)][pos].bytes += 100 }
    }

    private func isHost(_ key: LiveKey) -> Bool {
        switch key {
        case .source(let p): p.length == 32
        case .sourceProtoPort(let s): s.source.length == 32
        case .protoPort: false
        }
    }
}

extension CompiledTables {
    func exact(_ key: LiveKey) -> UInt32? {
        switch key {
        case .protoPort(let k): protoPort[k]
        case .source(let k): source[k]
        case .sourceProtoPort(let k): sourceProtoPort[k]
        }
    }

    /// The longest stored prefix containing the key's source (without its own /32 when asked).
    func covering(_ key: LiveKey, excludingHost: Bool = false) -> UInt32? {
        switch key {
        case .protoPort(let k):
            return protoPort[k]
        case .source(let p):
            for len in stride(from: Int(excludingHost ? 31 : 32), through: 0, by: -1) {
                if let v = source[Prefix(address: p.address, length: UInt8(len))] { return v == .max ? nil : v }
            }
            return nil
        case .sourceProtoPort(let s):
            for len in stride(from: Int(excludingHost ? 31 : 32), through: 0, by: -1) {
                let k = SourceProtoPort(source: Prefix(address: s.source.address, length: UInt8(len)), protoPort: s.protoPort)
                if let v = sourceProtoPort[k] { return v == .max ? nil : v }
            }
            return nil
        }
    }
}
