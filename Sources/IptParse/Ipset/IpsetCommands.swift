/// `create` and `add`/`del`: options, what each set type accepts, and the
/// adjustments the kernel makes (which `ipset save` then prints).
extension IpsetParserState {
    /// The number after word `i` (an option name), or a diagnostic.
    mutating func number(after i: Int, max: UInt64, hex: Bool = true) throws(IpsetLineAbort) -> UInt64 {
        let opt = text(words[i])
        guard i + 1 < words.count else {
            reportEnd("missing-value", "expected a value after '\(opt)'")
            throw IpsetLineAbort()
        }
        let w = words[i + 1]
        guard let v = IpsetNumber.parse(lexer.slice(w), allowHex: hex), v <= max else {
            report("bad-number", "expected a number from 0 to \(max) for '\(opt)', got '\(text(w))'", at: w)
            throw IpsetLineAbort()
        }
        return v
    }

    mutating func createCommand() throws(IpsetLineAbort) {
        guard words.count >= 2 else {
            reportEnd("missing-set-name", "expected a set name after 'create'")
            throw IpsetLineAbort()
        }
        let nameTok = words[1]
        try checkName(nameTok)
        guard words.count >= 3 else {
            reportEnd("missing-set-type", "expected a set type after set name '\(text(nameTok))'")
            throw IpsetLineAbort()
        }
        let typeTok = words[2]
        guard let type = IpsetType(rawValue: text(typeTok)) else {
            report("unknown-set-type", "unknown set type '\(text(typeTok))'", at: typeTok)
            throw IpsetLineAbort()
        }
        let name = text(nameTok)
        var c = IpsetCreate(name: name, type: type,
                            location: lexer.location(line: line, start: nameTok.start, end: nameTok.end))
        var i = 3
        while i < words.count {
            let w = words[i]
            let opt = text(w)
            var used = 2
            switch (opt, type) {
            case ("family", _) where type.isHash:
                guard i + 1 < words.count else { reportEnd("missing-value", "expected a value after 'family'"); throw IpsetLineAbort() }
                switch text(words[i + 1]) {
                case "inet", "ipv4": c.family = .inet
                case "inet6", "ipv6": c.family = .inet6
                default:
                    report("bad-family", "expected family 'inet' or 'inet6', got '\(text(words[i + 1]))'", at: words[i + 1])
                    throw IpsetLineAbort()
                }
            case ("-4", _) where type.isHash: c.family = .inet; used = 1
            case ("-6", _) where type.isHash: c.family = .inet6; used = 1
            case ("hashsize", _) where type.isHash:
                // The kernel rounds up to a power of two, at least 64.
                let v = try number(after: i, max: UInt64(UInt32.max))
                var h: UInt64 = 64
                while h < v { h <<= 1 }
                c.hashsize = UInt32(truncatingIfNeeded: min(h, UInt64(1) << 31))
            case ("maxelem", _) where type.isHash:
                c.maxelem = UInt32(try number(after: i, max: UInt64(UInt32.max)))
            case ("bucketsize", _) where type.isHash:
                // Rounded up to an even number, 2 to 12 (bucketsize 5 saves as 6).
                let v = try number(after: i, max: 255)
                c.bucketsize = UInt32(Swift.min(12, Swift.max(2, v + (v & 1))))
            case ("initval", _) where type.isHash:
                c.initval = UInt32(try number(after: i, max: UInt64(UInt32.max)))
            case ("netmask", .hashIP), ("netmask", .bitmapIP):
                let bits = type == .bitmapIP ? 32 : c.family.bitCount
                let v = try number(after: i, max: UInt64(bits), hex: false)
                guard v >= 1 else {
                    report("bad-number", "expected a number from 1 to \(bits) for 'netmask', got '\(text(words[i + 1]))'", at: words[i + 1])
                    throw IpsetLineAbort()
                }
                c.netmask = Int(v)
            case ("timeout", _):
                c.timeout = UInt32(try number(after: i, max: 2_147_483))
            case ("counters", _): c.counters = true; used = 1
            case ("comment", _): c.comment = true; used = 1
            case ("skbinfo", _): c.skbinfo = true; used = 1
            case ("forceadd", _) where type.isHash: c.forceadd = true; used = 1
            case ("range", .bitmapPort):
                guard i + 1 < words.count else { reportEnd("missing-value", "expected a value after 'range'"); throw IpsetLineAbort() }
                let r = words[i + 1]
                let s = lexer.slice(r)
                let dash = s.firstIndex(of: UInt8(ascii: "-"))
                guard let d = dash, let a = IpsetNumber.parse(s[s.startIndex..<d], allowHex: false),
                      let b = IpsetNumber.parse(s[(d + 1)...], allowHex: false), a <= 65535, b <= 65535 else {
                    report("bad-range", "expected a port range like 1024-65535, got '\(text(r))'", at: r)
                    throw IpsetLineAbort()
                }
                c.portRange = UInt16(Swift.min(a, b))...UInt16(Swift.max(a, b))
            case ("range", .bitmapIP), ("range", .bitmapIPMAC):
                guard i + 1 < words.count else { reportEnd("missing-value", "expected a value after 'range'"); throw IpsetLineAbort() }
                let r = words[i + 1]
                switch IpsetAddressParser.spec(lexer.slice(r), family: .inet) {
                case .success(.range(let a, let b)): c.range = a...b
                case .success(.cidr(let a, let len)):
                    let first = a.masked(len)
                    c.range = first...IpsetAddress(ipv4: first.v4 | (len == 0 ? UInt32.max : ~(UInt32.max << UInt32(32 - len))))
                default:
                    report("bad-range", "expected an IPv4 range like 192.0.2.0-192.0.2.255 or a CIDR, got '\(text(r))'", at: r)
                    throw IpsetLineAbort()
                }
                // bitmap:ip holds at most 65536 addresses.
                if let rg = c.range, rg.upperBound.lo - rg.lowerBound.lo >= 65536 {
                    report("bad-range", "expected a range of at most 65536 addresses, got '\(text(r))'", at: r)
                    throw IpsetLineAbort()
                }
            case ("size", .listSet):
                let v = try number(after: i, max: UInt64(UInt32.max))
                c.size = UInt32(Swift.max(4, v))
            default:
                report("unknown-option", "unknown option '\(opt)' for \(type.rawValue)", at: w)
                throw IpsetLineAbort()
            }
            i += used
        }
        if type.isBitmap && c.range == nil && c.portRange == nil {
            report("missing-range", "expected 'range' for \(type.rawValue)", at: typeTok)
            throw IpsetLineAbort()
        }
        // What the kernel fills in, so the script says what `ipset save` would.
        if type.isHash {
            c.hashsize = c.hashsize ?? 1024
            c.maxelem = c.maxelem ?? 65536
            c.bucketsize = c.bucketsize ?? 12
        }
        if type == .listSet { c.size = c.size ?? 8 }

        if let slot = byName[name], let old = slots[slot] {
            // `-exist` tolerates a create identical to the existing set, as the kernel does.
            if exist && sameSet(old.create, c) { return }
            report("duplicate-create", "set '\(name)' is already defined", at: nameTok)
            throw IpsetLineAbort()
        }
        if let pending = pendingUndefined.removeValue(forKey: name) {
            for (k, verb) in pending {
                diagnostics[k].id = "add-before-create"
                diagnostics[k].message = "'\(verb)' before 'create' of set '\(name)'"
            }
        }
        let live = IpsetLiveSet(create: c)
        if let free = slots.firstIndex(where: { $0 == nil }) {
            slots[free] = live
            byName[name] = free
        } else {
            slots.append(live)
            byName[name] = slots.count - 1
        }
    }

    /// The kernel's `same_set`: hashsize and bucketsize are left out because resizing changes them.
    func sameSet(_ a: IpsetCreate, _ b: IpsetCreate) -> Bool {
        a.type == b.type && a.family == b.family && a.maxelem == b.maxelem
            && a.timeout == b.timeout && a.netmask == b.netmask && a.counters == b.counters
            && a.comment == b.comment && a.skbinfo == b.skbinfo && a.range == b.range
            && a.portRange == b.portRange && a.size == b.size
    }

    mutating func addCommand(delete: Bool) throws(IpsetLineAbort) {
        let verb = delete ? "del" : "add"
        let slot: Int
        let parser: IpsetElementParser
        let count: Int, capacity: UInt64
        // A blocklist is thousands of adds to one set: reuse the looked-up set and
        // its element parser while the set name repeats (invalidated by any
        // create, destroy, swap or rename).
        if let cache = addCache, words.count > 1, lexer.slice(words[1]).elementsEqual(cache.name) {
            slot = cache.slot
            parser = cache.parser
            capacity = cache.capacity
        } else {
            slot = try liveSet(1, verb: verb)
            guard let c = slots[slot]?.create, let cap = slots[slot]?.capacity else { throw IpsetLineAbort() }
            var p = IpsetElementParser(create: c)
            if c.type == .listSet { p.setNames = byName }
            parser = p
            capacity = cap
            addCache = (Array(lexer.slice(words[1])), slot, p, cap)
        }
        count = slots[slot]?.count ?? 0
        let c = parser.create
        guard words.count >= 3 else {
            reportEnd("missing-entry", "expected an entry after set name '\(c.name)'")
            throw IpsetLineAbort()
        }
        let entryTok = words[2]
        let location = lexer.location(line: line, start: entryTok.start, end: entryTok.end)
        var proto = IpsetEntry(elements: [], location: location)
        var members: [[IpsetElement]]
        if let el = parser.fastSingle(lexer.slice(entryTok)) {
            try entryOptions(&proto, set: c, delete: delete)
            if !delete && UInt64(count) + 1 > capacity {
                report("set-full", "set '\(c.name)' is full: it holds at most \(capacity) entries", at: entryTok)
                throw IpsetLineAbort()
            }
            members = [[el]]
        } else {
            let dims: [[IpsetElement]]
            do {
                dims = try parser.parse(lexer.slice(entryTok))
            } catch {
                // Offsets of a quoted word are into its copy; point at the whole word then.
                if entryTok.unquoted == nil {
                    report(error.id, error.message, start: error.start, end: error.end)
                } else {
                    report(error.id, error.message, at: entryTok)
                }
                throw IpsetLineAbort()
            }
            try entryOptions(&proto, set: c, delete: delete)

            // Members are the product of each dimension's alternatives.
            var product: UInt64 = 1
            for d in dims { product = product.multipliedReportingOverflow(by: UInt64(d.count)).partialValue }
            // Beyond the capacity the kernel adds members one by one until the set is full (checked below).
            if !delete && product > ipsetExpansionLimit {
                report("set-full", "set '\(c.name)' is full: it holds at most \(capacity) entries", at: entryTok)
                throw IpsetLineAbort()
            }
            if product == 1 {
                members = [dims.map { $0[0] }]
            } else {
                members = [[]]
                for d in dims { members = members.flatMap { m in d.map { m + [$0] } } }
            }
        }
        guard var live = slots[slot] else { throw IpsetLineAbort() }
        slots[slot] = nil  // keep the live set uniquely referenced while mutating it
        if live.entries.isEmpty && !delete {
            // Size the tables once for the lines that may follow, instead of
            // rehashing a big blocklist ~17 times.
            let guess = Swift.min(UInt64(Swift.max(0, totalLines - line.number)) + 1, live.capacity, 1 << 20)
            live.index.reserveCapacity(Int(guess))
            live.entries.reserveCapacity(Int(guess))
        }
        defer { slots[slot] = live }
        for m in members {
            let key = IpsetMemberKey(m)
            if delete {
                if let k = live.index.removeValue(forKey: key) {
                    live.removed.insert(k)
                    live.count -= 1
                    memberChanges?.append(IpsetMemberChange(set: c.name, added: false, elements: m))
                } else if !exist {
                    report("missing-member", "entry '\(text(entryTok))' is not in set '\(c.name)'", at: entryTok)
                    throw IpsetLineAbort()
                }
                continue
            }
            var e = proto
            e.elements = m
            if let k = live.index[key] {
                // `-exist` re-adds in place (the kernel refreshes timeout and extensions).
                guard exist else {
                    report("duplicate-member", "entry '\(text(entryTok))' is already in set '\(c.name)'", at: entryTok)
                    throw IpsetLineAbort()
                }
                // The kernel overwrites the extensions, but counters only when given.
                if e.packets == nil { e.packets = live.entries[k].packets }
                if e.bytes == nil { e.bytes = live.entries[k].bytes }
                live.entries[k] = e
                memberChanges?.append(IpsetMemberChange(set: c.name, added: true, elements: m))
                continue
            }
            if UInt64(live.count) + 1 > capacity {
                report("set-full", "set '\(c.name)' is full: it holds at most \(capacity) entries", at: entryTok)
                throw IpsetLineAbort()
            }
            if c.type == .listSet, let pos = listPosition {
                insertListMember(&live, e, position: pos)
            } else {
                live.index[key] = live.entries.count
                live.entries.append(e)
            }
            live.count += 1
            memberChanges?.append(IpsetMemberChange(set: c.name, added: true, elements: m))
        }
    }

    /// `before NAME` / `after NAME` of a list:set add, parsed by `entryOptions`.
    var listPosition: (before: Bool, name: String)? {
        for (k, w) in words.enumerated() where k >= 3 && k + 1 < words.count {
            if lexer.equals(w, "before") { return (true, text(words[k + 1])) }
            if lexer.equals(w, "after") { return (false, text(words[k + 1])) }
        }
        return nil
    }

    func insertListMember(_ live: inout IpsetLiveSet, _ e: IpsetEntry, position: (before: Bool, name: String)) {
        var list = live.liveEntries
        let at = list.firstIndex { $0.elements == [.setName(position.name)] }.map { position.before ? $0 : $0 + 1 } ?? list.count
        list.insert(e, at: at)
        live.entries = list
        live.removed = []
        live.index = [:]
        for (k, x) in list.enumerated() { live.index[IpsetMemberKey(x.elements)] = k }
    }
}
