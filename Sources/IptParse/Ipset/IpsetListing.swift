/// `ipset list` (plain) and `ipset save` of a live set, and `ipset test`. What only the
/// kernel knows is approximated: `Size in memory` is an estimate, members print in the
/// order they were added (the kernel's hash order follows its random initval), and
/// `-sorted` orders by the first element, keeping ties in that order, as ipset does.
public enum IpsetListing {
    /// The newest revision of each type in the kernels we target (ipset 7.17 on Linux 6.x).
    public static func revision(_ t: IpsetType) -> Int {
        switch t {
        case .hashIP: 6
        case .hashNet: 7
        case .hashIPPort: 7
        case .hashNetPort, .hashIPPortNet, .hashNetIface: 8
        case .hashIPPortIP: 6
        case .hashIPMark, .hashNetPortNet: 3
        case .hashNetNet: 4
        case .hashMAC, .hashIPMAC: 1
        case .bitmapIP, .bitmapPort, .bitmapIPMAC, .listSet: 3
        }
    }

    /// A plausible `Size in memory`: the kernel's allocation depends on its hash table,
    /// which we do not have; the number follows ipset's for small hash:ip sets.
    public static func memorySize(_ s: IpsetSet) -> Int {
        let per = s.create.family == .inet6 ? 52 : 40
        if s.create.type.isHash { return (s.create.type == .hashIP ? 216 : 456) + per * s.entries.count }
        if s.create.type == .listSet { return 128 + 8 * s.entries.count }
        return 200
    }

    /// The `Header:` line's text: the create options without `create NAME TYPE`.
    public static func header(_ c: IpsetCreate) -> String {
        let line = IpsetPrinter.createLine(c)
        let prefix = "create \(c.name) \(c.type.rawValue)"
        return String(line.dropFirst(prefix.count)).trimmingLeadingSpace
    }

    /// One set as `ipset list` prints it (no blank line after it).
    public static func plain(_ s: IpsetSet, references: Int, terse: Bool, sorted: Bool) -> String {
        var out = "Name: \(s.name)\nType: \(s.create.type.rawValue)\nRevision: \(revision(s.create.type))\n"
        out += "Header: \(header(s.create))\nSize in memory: \(memorySize(s))\nReferences: \(references)\n"
        out += "Number of entries: \(s.entries.count)\n"
        if terse { return out }
        out += "Members:\n"
        let prefix = "add \(s.name) "
        for e in entries(s, sorted: sorted) { out += IpsetPrinter.addLine(e, in: s.create).dropFirst(prefix.count) + "\n" }
        return out
    }

    /// One set as `ipset save` prints it.
    public static func save(_ s: IpsetSet, sorted: Bool) -> String {
        var out = IpsetPrinter.createLine(s.create) + "\n"
        for e in entries(s, sorted: sorted) { out += IpsetPrinter.addLine(e, in: s.create) + "\n" }
        return out
    }

    static func entries(_ s: IpsetSet, sorted: Bool) -> [IpsetEntry] {
        guard sorted else { return s.entries }
        return s.entries.enumerated().sorted { a, b in
            let ka = sortKey(a.element.elements.first), kb = sortKey(b.element.elements.first)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    static func sortKey(_ el: IpsetElement?) -> (UInt64, UInt64) {
        switch el {
        case .address(let a)?, .prefix(let a, _)?: return (a.hi, a.lo)
        case .port(let p)?: return (0, UInt64(p.proto) << 16 | UInt64(p.port))
        case .bitmapPort(let p)?: return (0, UInt64(p))
        case .mark(let m)?: return (0, UInt64(m))
        case .mac(let m)?: return (0, m)
        case .iface?, .setName?, nil: return (0, 0)
        }
    }

    /// Whether `word` (as `ipset test` takes it) is in `s`. For `net` dimensions given
    /// as a plain address, the most specific stored prefix decides, so a `nomatch`
    /// entry inside a wider one answers "not in set", as in the kernel.
    public static func test(_ s: IpsetSet, word: String) -> Result<Bool, Diagnostic> {
        var parser = IpsetElementParser(create: s.create)
        if s.create.type == .listSet {
            var names: [String: Int] = [:]
            for e in s.entries { if case .setName(let n)? = e.elements.first { names[n] = 0 } }
            parser.setNames = names
            if names[word] == nil { return .success(false) }
        }
        let bytes = Array(testedWord(word, type: s.create.type).utf8)
        let dims: [[IpsetElement]]
        do {
            dims = try parser.parse(bytes[...])
        } catch {
            let at = SourceLocation(file: "<argv>", line: 1, column: error.start + 1, length: error.end - error.start)
            return .failure(Diagnostic(id: error.id, error.message, at: at, line: word))
        }
        let probe = dims.compactMap(\.first)
        var table: [IpsetMemberKey: Bool] = [:]
        table.reserveCapacity(s.entries.count)
        for e in s.entries { table[IpsetMemberKey(e.elements)] = !e.nomatch }
        // Dimensions where a host address must be looked up among the stored prefixes.
        let bits = s.create.family.bitCount
        var lengths: [Int: [Int]] = [:]
        for (k, el) in probe.enumerated() {
            if case .prefix(_, let len) = el, len == bits {
                var seen = Set<Int>()
                for e in s.entries where e.elements.count > k {
                    if case .prefix(_, let l) = e.elements[k] { seen.insert(l) }
                }
                lengths[k] = seen.sorted(by: >)
            }
        }
        guard !lengths.isEmpty else { return .success(table[IpsetMemberKey(probe)] ?? false) }
        let dimsToVary = lengths.keys.sorted()
        func search(_ i: Int, _ cur: [IpsetElement]) -> Bool? {
            if i == dimsToVary.count { return table[IpsetMemberKey(cur)] }
            let k = dimsToVary[i]
            guard case .prefix(let a, _) = probe[k] else { return nil }
            for l in lengths[k] ?? [] {
                var next = cur
                next[k] = .prefix(a.masked(l), prefixLength: l)
                if let hit = search(i + 1, next) { return hit }
            }
            return nil
        }
        return .success(search(0, probe) ?? false)
    }
}

/// libipset refuses ranges in `test` for every type but hash:ip; nil when `word` has none.
func testRangeRefusal(_ word: String, create c: IpsetCreate) -> String? {
    guard c.type != .hashIP, c.type != .listSet else { return nil }
    let family = c.type == .bitmapPort ? "unspec" : c.family.rawValue
    let tail = "is not allowed in command test with set type \(c.type.rawValue) and family \(family)"
    let kinds = c.type.elementKinds
    for (k, part) in word.split(separator: ",", omittingEmptySubsequences: false).enumerated() where k < kinds.count {
        switch kinds[k] {
        case .ip where k == 0, .net:
            if part.contains("-") { return "FROM-TO IP range \(tail)" }
            if kinds[k] == .ip && part.contains("/") { return "IP/CIDR range \(tail)" }
        case .port:
            let spec = part.split(separator: ":", maxSplits: 1).last ?? part
            if let dash = spec.firstIndex(of: "-"), spec[..<dash].last?.isNumber ?? false { return "FROM-TO port range \(tail)" }
        default: break
        }
    }
    return nil
}

/// The kernel tests only the first address or port of a range, as written (it swaps a
/// reversed range only when adding), so `test` drops the rest of each range.
func testedWord(_ word: String, type: IpsetType) -> String {
    guard type != .listSet, word.contains("-") else { return word }
    let kinds = type.elementKinds
    let parts = word.split(separator: ",", omittingEmptySubsequences: false)
    return parts.enumerated().map { k, part -> String in
        guard k < kinds.count, let dash = part.firstIndex(of: "-") else { return String(part) }
        switch kinds[k] {
        case .ip, .net: return String(part[..<dash])
        case .port:
            // `tcp:80-81` but not `icmp:echo-request`.
            let before = part[..<dash]
            return before.last?.isNumber ?? false ? String(before) : String(part)
        default: return String(part)
        }
    }.joined(separator: ",")
}

extension String {
    var trimmingLeadingSpace: String { String(drop { $0 == " " }) }
}
