import Foundation
import Loader

/// XDP's counters by rule. The program counts per position of the live generation; a
/// rewrite starts a generation from zero, so the old generation's counts are folded here
/// first, per rule identity. A rule's XDP count is what it retired plus what the live
/// positions standing for it counted; `-Z` zeroes both.
struct RetiredCounters {
    let store: StateStore

    struct Count: Equatable {
        var packets: UInt64 = 0
        var bytes: UInt64 = 0
        mutating func add(_ p: UInt64, _ b: UInt64) {
            packets &+= p
            bytes &+= b
        }
    }

    func load() -> [RuleIdentity: Count] {
        var out: [RuleIdentity: Count] = [:]
        for line in (store.read(store.paths.retiredCountersFile) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, let p = UInt64(parts[0]), let b = UInt64(parts[1]) else { continue }
            out[RuleIdentity(key: String(parts[2]).replacingOccurrences(of: "\\n", with: "\n"))] = Count(packets: p, bytes: b)
        }
        return out
    }

    func save(_ counts: [RuleIdentity: Count]) {
        let text = counts.filter { $0.value != Count() }.sorted { $0.key < $1.key }
            .map { "\($0.value.packets) \($0.value.bytes) \($0.key.key.replacingOccurrences(of: "\n", with: "\\n"))\n" }.joined()
        if text.isEmpty { store.remove(store.paths.retiredCountersFile) } else { try? store.write(text, to: store.paths.retiredCountersFile) }
    }

    /// The live generation's positions, as `setLivePositions` wrote them.
    func livePositions() -> [[RuleIdentity]] {
        guard let text = store.read(store.paths.livePositionsFile) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            line.isEmpty ? [] : line.split(separator: "\u{1}").map { RuleIdentity(key: String($0).replacingOccurrences(of: "\\n", with: "\n")) }
        }
    }

    func setLivePositions(_ positions: [[RuleIdentity]]) {
        let text = positions.map { ids in ids.map { $0.key.replacingOccurrences(of: "\n", with: "\\n") }.joined(separator: "\u{1}") + "\n" }.joined()
        try? store.write(text, to: store.paths.livePositionsFile)
    }

    /// One more position at the end of the live generation (an appended rule): it takes the
    /// policy's place, and the policy moves one up, as the program's counters do.
    func appendLivePosition(_ ids: [RuleIdentity]) {
        var positions = livePositions()
        let policy = positions.popLast() ?? [.policy(chain: "INPUT")]
        positions.append(ids)
        positions.append(policy)
        setLivePositions(positions)
    }

    /// Folds a generation's counters (one per position, as `positions` describes them).
    func retire(_ counters: [RuleCounter], positions: [[RuleIdentity]]) {
        guard counters.contains(where: { $0.packets != 0 || $0.bytes != 0 }) else { return }
        var counts = load()
        for (i, c) in counters.enumerated() where (c.packets != 0 || c.bytes != 0) && i < positions.count {
            for id in positions[i] { counts[id, default: Count()].add(c.packets, c.bytes) }
        }
        save(counts)
    }

    /// Moves each rule's retired count to the rule's identity after a change (CounterCarry):
    /// the kernel's counters follow the rule, not its text or place.
    func carry(_ c: CounterCarry) {
        guard !c.map.isEmpty else { return }
        let counts = load()
        let moved = c.apply(counts) { $0.add($1.packets, $1.bytes) }
        if moved != counts { save(moved) }
    }

    /// Forgets rules that no longer exist (the kernel forgets their counters with them).
    func keepOnly(_ identities: Set<RuleIdentity>) {
        let counts = load()
        let kept = counts.filter { identities.contains($0.key) }
        if kept.count != counts.count { save(kept) }
    }

    /// `-Z`: forget what matches `which`.
    func zero(where which: (RuleIdentity) -> Bool) {
        let counts = load()
        save(counts.filter { !which($0.key) })
    }

    /// XDP's total per rule: retired plus the live generation's positions, and the replies
    /// XDP sent for its `reject` positions on the OUTPUT/POSTROUTING rules they count on.
    func totals(live counters: [RuleCounter], replies: [UInt32: RuleCounter] = [:]) -> [RuleIdentity: Count] {
        var counts = load()
        let positions = livePositions()
        for (i, c) in counters.enumerated() where (c.packets != 0 || c.bytes != 0) && i < positions.count {
            for id in positions[i] { counts[id, default: Count()].add(c.packets, c.bytes) }
        }
        let replyPositions = liveReplyPositions()
        for (pos, c) in replies where c.packets != 0 || c.bytes != 0 {
            for id in replyPositions[pos] ?? [] { counts[id, default: Count()].add(c.packets, c.bytes) }
        }
        return counts
    }

    /// The live generation's reply positions, as `setLiveReplyPositions` wrote them:
    /// one line per `reject` position, "POS\tID\u{1}ID...".
    func liveReplyPositions() -> [UInt32: [RuleIdentity]] {
        var out: [UInt32: [RuleIdentity]] = [:]
        for line in (store.read(store.paths.liveReplyPositionsFile) ?? "").split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let pos = UInt32(parts[0]) else { continue }
            out[pos] = parts[1].split(separator: "\u{1}").map { RuleIdentity(key: String($0).replacingOccurrences(of: "\\n", with: "\n")) }
        }
        return out
    }

    func setLiveReplyPositions(_ positions: [UInt32: [RuleIdentity]]) {
        let text = positions.sorted { $0.key < $1.key }.map { pos, ids in
            "\(pos)\t" + ids.map { $0.key.replacingOccurrences(of: "\n", with: "\\n") }.joined(separator: "\u{1}") + "\n"
        }.joined()
        if text.isEmpty { store.remove(store.paths.liveReplyPositionsFile) } else { try? store.write(text, to: store.paths.liveReplyPositionsFile) }
    }

    /// Folds a generation's reply counts into the rules they count on.
    func retireReplies(_ replies: [UInt32: RuleCounter], positions: [UInt32: [RuleIdentity]]) {
        guard replies.values.contains(where: { $0.packets != 0 || $0.bytes != 0 }) else { return }
        var counts = load()
        for (pos, c) in replies where c.packets != 0 || c.bytes != 0 {
            for id in positions[pos] ?? [] { counts[id, default: Count()].add(c.packets, c.bytes) }
        }
        save(counts)
    }
}
