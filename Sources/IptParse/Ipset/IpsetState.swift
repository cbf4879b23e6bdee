/// The sets between two commands, as the kernel keeps them: kernel slots (a destroyed
/// set leaves a hole the next `create` fills, and listings walk the slots), and members
/// with absolute expiry deadlines. `IpsetScript` is the view compilers and printers use.
public struct IpsetState: Sendable, Equatable {
    /// Sets by kernel slot; nil is a free slot.
    public var slots: [IpsetSet?]

    public init(slots: [IpsetSet?] = []) { self.slots = slots }

    /// Sets in slot order, without holes.
    public init(script: IpsetScript) { slots = script.sets }

    /// The order `ipset list` and `ipset save` print: slot order, list:set sets last
    /// (the kernel dumps them in a second pass so a restore finds their members).
    public var script: IpsetScript {
        let live = slots.compactMap { $0 }
        return IpsetScript(sets: live.filter { $0.create.type != .listSet } + live.filter { $0.create.type == .listSet })
    }

    public func set(named name: String) -> IpsetSet? {
        for case let s? in slots where s.name == name { return s }
        return nil
    }

    /// The earliest member deadline (ms since the epoch), for whoever must drop expired
    /// members from a running data plane; nil when nothing expires.
    public var nextExpiry: Int64? { script.nextExpiry }

    /// Removes the members whose deadline is not after `now`, as the kernel stops
    /// seeing them; returns what was removed so a data plane can follow.
    @discardableResult
    public mutating func dropExpired(now: Int64) -> [IpsetMemberChange] {
        var gone: [IpsetMemberChange] = []
        for k in slots.indices {
            guard var s = slots[k], s.create.timeout != nil,
                  s.entries.contains(where: { ($0.expiresAt ?? Int64.max) <= now }) else { continue }
            let name = s.name
            s.entries.removeAll { e in
                guard let d = e.expiresAt, d <= now else { return false }
                gone.append(IpsetMemberChange(set: name, added: false, elements: e.elements))
                return true
            }
            slots[k] = s
        }
        return gone
    }

    /// A copy whose timeouts are the remaining seconds at `now`, the way the kernel
    /// reports them: rounded down, and 1 rather than 0 while the member still lives.
    public func remainingTimeouts(now: Int64) -> IpsetState {
        var out = self
        for k in out.slots.indices {
            guard var s = out.slots[k], s.create.timeout != nil else { continue }
            for i in s.entries.indices {
                guard let d = s.entries[i].expiresAt else { continue }
                let left = max(0, d - now) / 1000
                s.entries[i].timeout = UInt32(clamping: max(1, left))
            }
            out.slots[k] = s
        }
        return out
    }
}

extension IpsetScript {
    /// The earliest member deadline (ms since the epoch) of all sets, or nil.
    public var nextExpiry: Int64? {
        var best: Int64? = nil
        for s in sets where s.create.timeout != nil {
            for e in s.entries {
                if let d = e.expiresAt, d < (best ?? Int64.max) { best = d }
            }
        }
        return best
    }
}

/// One member added to or deleted from a set by a command.
public struct IpsetMemberChange: Sendable, Equatable {
    /// Set name, whether the member was added (false: deleted), and the member.
    public var set: String
    public var added: Bool
    public var elements: [IpsetElement]

    public init(set: String, added: Bool, elements: [IpsetElement]) {
        self.set = set
        self.added = added
        self.elements = elements
    }
}

/// What a command did to the sets, so a data plane can apply only that: member edits
/// of one set (the common `ipset add`/`del`), or anything else (create, destroy, swap,
/// rename, flush, restore), after which the whole set state must be taken.
public enum IpsetChange: Sendable, Equatable {
    case members(set: String, changes: [IpsetMemberChange])
    case structure
}
