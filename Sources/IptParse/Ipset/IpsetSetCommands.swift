/// The commands on whole sets: flush, destroy, swap and rename, with the kernel's
/// checks (a set in use stays, swapped sets must share type and family).
extension IpsetParserState {
    mutating func flushOrDestroy(destroy: Bool) throws(IpsetLineAbort) {
        let verb = destroy ? "destroy" : "flush"
        if words.count > 2 {
            report("unexpected-word", "unexpected '\(text(words[2]))' after the set name of '\(verb)'", at: words[2])
            throw IpsetLineAbort()
        }
        let targets: [Int]
        if words.count == 2 {
            targets = [try liveSet(1, verb: verb)]
        } else {
            targets = slots.indices.filter { slots[$0] != nil }
        }
        if destroy {
            // The kernel checks every set first: a set in use leaves all of them in place.
            for slot in targets {
                guard let s = slots[slot] else { continue }
                if let user = listUsing(s.create.name) {
                    report("set-in-use", "set '\(s.create.name)' is a member of list:set '\(user)' and cannot be destroyed",
                           at: words.count == 2 ? words[1] : words[0])
                    throw IpsetLineAbort()
                }
                if externalReferences[s.create.name, default: 0] > 0 {
                    report("set-in-use", "set '\(s.create.name)' is used by a rule and cannot be destroyed",
                           at: words.count == 2 ? words[1] : words[0])
                    throw IpsetLineAbort()
                }
            }
        }
        for slot in targets {
            guard let s = slots[slot] else { continue }
            if destroy {
                slots[slot] = nil
                byName[s.create.name] = nil
            } else {
                slots[slot]?.entries = []
                slots[slot]?.removed = []
                slots[slot]?.index = [:]
                slots[slot]?.count = 0
            }
        }
    }

    func listUsing(_ name: String) -> String? {
        for case let s? in slots where s.create.type == .listSet {
            if s.index[IpsetMemberKey([.setName(name)])] != nil { return s.create.name }
        }
        return nil
    }

    mutating func swapOrRename(swap: Bool) throws(IpsetLineAbort) {
        let verb = swap ? "swap" : "rename"
        let a = try liveSet(1, verb: verb)
        guard words.count >= 3 else {
            reportEnd("missing-set-name", "expected a second set name after '\(verb) \(text(words[1]))'")
            throw IpsetLineAbort()
        }
        if words.count > 3 {
            report("unexpected-word", "unexpected '\(text(words[3]))' after '\(verb)'", at: words[3])
            throw IpsetLineAbort()
        }
        guard var sa = slots[a] else { throw IpsetLineAbort() }
        if swap {
            guard byName[text(words[2])] != nil else {
                report("undefined-second-set", "set '\(text(words[2]))' is not defined", at: words[2])
                throw IpsetLineAbort()
            }
            let b = try liveSet(2, verb: verb)
            guard var sb = slots[b] else { throw IpsetLineAbort() }
            guard sa.create.type == sb.create.type && sa.create.family == sb.create.family else {
                report("swap-type-mismatch",
                       "expected sets of the same type to swap, got \(sa.create.type.rawValue) '\(sa.create.name)' and \(sb.create.type.rawValue) '\(sb.create.name)'",
                       at: words[2])
                throw IpsetLineAbort()
            }
            // The kernel swaps the contents; each name stays in its slot.
            let (na, nb) = (sa.create.name, sb.create.name)
            swapValues(&sa, &sb)
            sa.create.name = na
            sb.create.name = nb
            slots[a] = sa
            slots[b] = sb
        } else {
            let newName = text(words[2])
            guard byName[newName] == nil else {
                report("rename-exists", "set '\(newName)' is already defined", at: words[2])
                throw IpsetLineAbort()
            }
            try checkName(words[2])
            byName[sa.create.name] = nil
            sa.create.name = newName
            byName[newName] = a
            slots[a] = sa
        }
    }

    func swapValues(_ x: inout IpsetLiveSet, _ y: inout IpsetLiveSet) {
        let t = x
        x = y
        y = t
    }

    /// IPSET_MAXNAMELEN is 32 including the NUL.
    mutating func checkName(_ t: IpsetToken) throws(IpsetLineAbort) {
        let n = lexer.slice(t).count
        guard n >= 1 && n <= 31 else {
            report("bad-set-name", "expected a set name of 1 to 31 bytes, got '\(text(t))'", at: t)
            throw IpsetLineAbort()
        }
    }
}
