/// The restore-line parser run against sets that already exist: the command line and
/// `ipset restore` change a live state with exactly the code that reads save files.
extension IpsetParserState {
    /// A parser over `lexer` whose sets are `state`. Only the sets in `indexed` (nil:
    /// all) get a member index, because building one for a 100,000-member set that the
    /// command does not touch would cost more than the command.
    init(lexer: IpsetLexer, state: IpsetState, indexed: Set<String>?) {
        self.init(lexer: lexer)
        for (k, s) in state.slots.enumerated() {
            guard let s else {
                slots.append(nil)
                continue
            }
            var live = IpsetLiveSet(create: s.create)
            live.entries = s.entries
            live.count = s.entries.count
            if indexed?.contains(s.name) ?? true || s.create.type == .listSet {
                live.index.reserveCapacity(s.entries.count)
                for (i, e) in s.entries.enumerated() { live.index[IpsetMemberKey(e.elements)] = i }
            }
            slots.append(live)
            byName[s.name] = k
        }
    }

    /// The sets after the lines ran, holes included.
    func state() -> IpsetState {
        IpsetState(slots: slots.map { live in live.map { IpsetSet(create: $0.create, entries: $0.liveEntries) } })
    }
}

/// Runs `ipset restore` text or one command against a state, stopping at the first
/// error like ipset. Lines before the error stay applied, as in the kernel.
public struct IpsetRun: Sendable {
    public var state: IpsetState
    /// The first error, with the line it came from.
    public var error: Diagnostic?
    /// Members changed, in order; nil when recording was not asked for.
    public var memberChanges: [IpsetMemberChange]?

    /// - Parameters:
    ///   - exist: ipset's `-exist` for the whole run.
    ///   - references: rule references per set name (a referenced set cannot be destroyed).
    ///   - touching: names of the sets the text can change, to index only those (nil: all).
    public static func run(_ text: String, file: String, on state: IpsetState, exist: Bool,
                           references: [String: Int], touching: Set<String>?, recordChanges: Bool) -> IpsetRun {
        var p = IpsetParserState(lexer: IpsetLexer(bytes: Array(text.utf8), file: file), state: state, indexed: touching)
        p.stickyExist = exist
        p.stopAtFirstError = true
        p.externalReferences = references
        if recordChanges { p.memberChanges = [] }
        p.run()
        return IpsetRun(state: p.state(), error: p.diagnostics.first, memberChanges: p.memberChanges)
    }
}
