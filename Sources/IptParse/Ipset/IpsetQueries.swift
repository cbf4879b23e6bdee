/// The commands that only read the sets: `list`, `save` and `test`.
extension IpsetSession {
    static func list(_ inv: IpsetInvocation, state: IpsetState, env: IpsetEnvironment) -> IpsetOutcome {
        let now = state.remainingTimeouts(now: env.now)
        var sets = now.script.sets
        if let name = inv.args.first {
            guard let s = now.set(named: name) else {
                return fail(IpsetUsageError("The set with the given name does not exist", usage: false), quiet: inv.quiet)
            }
            sets = [s]
        }
        let mode = inv.output ?? (inv.command == .save ? .save : .plain)
        var out = ""
        if mode == .xml {
            out = IpsetListing.xml(sets, references: { references(of: $0, in: state, env: env) }, terse: inv.terse,
                                   namesOnly: inv.namesOnly, sorted: inv.sorted)
        } else if mode == .save {
            // ipset's save mode ignores -terse and -name.
            for s in sets { out += IpsetListing.save(s, sorted: inv.sorted) }
        } else if inv.namesOnly {
            for s in sets { out += s.name + "\n" }
        } else {
            let blocks = sets.map { s in
                IpsetListing.plain(s, references: references(of: s.name, in: state, env: env),
                                   terse: inv.terse, sorted: inv.sorted)
            }
            out = blocks.joined(separator: "\n")
        }
        var o = IpsetOutcome()
        o.stdout = out
        o.outputFile = inv.file
        return o
    }

    /// Rules naming the set plus list:set sets holding it: both pin a set in the kernel.
    static func references(of name: String, in state: IpsetState, env: IpsetEnvironment) -> Int {
        var n = env.references[name] ?? 0
        for case let s? in state.slots where s.create.type == .listSet {
            if s.entries.contains(where: { $0.elements == [.setName(name)] }) { n += 1 }
        }
        return n
    }

    static func test(_ inv: IpsetInvocation, state: IpsetState, env: IpsetEnvironment) -> IpsetOutcome {
        let name = inv.args[0], word = inv.args[1]
        let live = state.remainingTimeouts(now: env.now)
        guard let s = live.set(named: name) else {
            return fail(IpsetUsageError("The set with the given name does not exist", usage: false), quiet: inv.quiet)
        }
        for extra in inv.args.dropFirst(2) where !(extra == "nomatch" && s.create.type.supportsNomatch) {
            return fail(IpsetUsageError("Unknown argument: `\(extra)'"), quiet: inv.quiet)
        }
        if let refusal = testRangeRefusal(word, create: s.create) {
            return fail(IpsetUsageError(refusal, usage: false), quiet: inv.quiet)
        }
        var o = IpsetOutcome()
        switch IpsetListing.test(s, word: word) {
        case .failure(let d):
            return fail(IpsetMessages.message(for: d, family: s.create.family), quiet: inv.quiet)
        case .success(true):
            if !inv.quiet { o.stderr = "Warning: \(word) is in set \(name).\n" }
        case .success(false):
            o.status = 1
            if !inv.quiet { o.stderr = "\(word) is NOT in set \(name).\n" }
        }
        return o
    }
}
