import Foundation
import IptParse

/// The live sets on disk. `ipsets.save` stays plain `ipset save` text (so `restore`,
/// the compiler and people can read it); `ipsets.meta` beside it keeps what that text
/// cannot say: the kernel slot of each set (a destroyed set's slot is reused, which
/// decides the listing order) and the absolute deadline of each member with a timeout.
/// The sidecar names the size and modification time of the save file it belongs to; when
/// it is missing or another tool rewrote the save file since, a member's deadline is the
/// save file's modification time plus the timeout it shows.
enum IpsetStateFiles {
    static func metaFile(_ store: StateStore) -> String { store.paths.stateDir + "/ipsets.meta" }

    static var nowMillis: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// The sets as they are at `now`: expired members are already gone.
    static func load(_ store: StateStore, now: Int64) throws -> IpsetState {
        let script = try LiveCommit.currentSets(store)
        let (size, mtimeMicros) = fingerprint(store)
        let mtime = mtimeMicros.map { $0 / 1000 } ?? now
        var slotOf: [String: Int] = [:]
        var deadlines: [String: Int64] = [:]
        let meta = (store.read(metaFile(store)) ?? "").split(separator: "\n")
        let current = meta.first { $0.hasPrefix("file ") } == "file \(size) \(mtimeMicros ?? 0)"
        for line in meta where current {
            let w = line.split(separator: " ")
            if w.count == 3, w[0] == "slot", let k = Int(w[1]) { slotOf[String(w[2])] = k }
            if w.count == 4, w[0] == "expire", let d = Int64(w[3]) { deadlines[w[1] + " " + w[2]] = d }
        }
        var slots: [IpsetSet?] = []
        var unplaced: [IpsetSet] = []
        for var s in script.sets {
            if s.create.type.isHash && s.create.initval == nil { s.create.initval = stableInitval(s.name) }
            if let t = s.create.timeout {
                for i in s.entries.indices {
                    let shown = s.entries[i].timeout ?? t
                    guard shown != 0 else { s.entries[i].timeout = 0; continue }
                    s.entries[i].expiresAt = deadlines[s.name + " " + key(s.entries[i], s.create)] ?? mtime + Int64(shown) * 1000
                }
            }
            if let k = slotOf[s.name], k < 65536, k >= slots.count || slots[k] == nil {
                while slots.count <= k { slots.append(nil) }
                slots[k] = s
            } else {
                unplaced.append(s)
            }
        }
        for s in unplaced {
            if let free = slots.firstIndex(where: { $0 == nil }) { slots[free] = s } else { slots.append(s) }
        }
        var state = IpsetState(slots: slots)
        state.dropExpired(now: now)
        return state
    }

    /// Commits `state` through LiveCommit (data plane first when one runs), then the sidecar.
    static func commit(_ state: IpsetState, change: IpsetChange?, store: StateStore, now: Int64) throws {
        let shown = state.remainingTimeouts(now: now).script
        try LiveCommit.sets(shown, change: change ?? .structure, store: store)
        let (size, mtime) = fingerprint(store)
        var meta = "# ebpf-ipset: kernel slot of each set, deadline (ms since the epoch) of each member with a timeout\n"
        meta += "file \(size) \(mtime ?? 0)\n"
        for (k, s) in state.slots.enumerated() {
            guard let s else { continue }
            meta += "slot \(k) \(s.name)\n"
            guard s.create.timeout != nil else { continue }
            for e in s.entries { if let d = e.expiresAt { meta += "expire \(s.name) \(key(e, s.create)) \(d)\n" } }
        }
        try store.write(meta, to: metaFile(store))
    }

    /// Size and modification time (µs) of the save file, to tell whether the sidecar describes it.
    static func fingerprint(_ store: StateStore) -> (Int, Int64?) {
        let attrs = try? FileManager.default.attributesOfItem(atPath: store.paths.setsFile)
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? 0
        let date = attrs?[.modificationDate] as? Date
        return (size, date.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) })
    }

    static func key(_ e: IpsetEntry, _ c: IpsetCreate) -> String {
        e.elements.map { IpsetPrinter.element($0, family: c.family) }.joined(separator: ",")
    }

    /// A set saved by a tool that did not record an initval keeps one fixed value.
    static func stableInitval(_ name: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// Rules in the state's ruleset naming each set: `-m set --match-set`, `-j SET`.
    static func references(_ store: StateStore) -> [String: Int] {
        guard let text = store.read(store.paths.rulesFile),
              let ruleset = try? RestoreParser.parse(text, options: .init(file: store.paths.rulesFile)) else { return [:] }
        var refs: [String: Int] = [:]
        for table in ruleset.tables {
            for chain in table.chains {
                for rule in chain.rules {
                    for m in rule.matches { if case .set(let s) = m { refs[s.name, default: 0] += 1 } }
                    if case .opaque(let call)? = rule.target, call.name == "SET" {
                        for o in call.options where ["add-set", "del-set", "map-set"].contains(o.name) {
                            if let n = o.args.first { refs[n, default: 0] += 1 }
                        }
                    }
                }
            }
        }
        return refs
    }
}
