/// Parsing of one entry word (`198.51.100.1,udp:5060`) into the members the
/// kernel would store: ranges and CIDRs of `ip` dimensions become addresses,
/// ranges of `net` dimensions become CIDRs, port ranges become ports.

/// A failure inside an entry word; `start..<end` is the offending part.
struct IpsetElementFailure: Error {
    var id: String
    var message: String
    var start: Int
    var end: Int
}

/// The kernel's bound on what one `add` may expand to before we would build
/// huge arrays; anything larger is refused with the set-full diagnostic anyway.
let ipsetExpansionLimit: UInt64 = 1 << 24

struct IpsetElementParser {
    let create: IpsetCreate
    /// Names of the sets that exist now (list:set members must).
    var setNames: [String: Int] = [:]

    private func text(_ w: ArraySlice<UInt8>) -> String { String(decoding: w, as: UTF8.self) }

    private func fail(_ id: String, _ message: String, _ w: ArraySlice<UInt8>) -> IpsetElementFailure {
        IpsetElementFailure(id: id, message: message, start: w.startIndex, end: w.endIndex)
    }

    /// The common case of a blocklist line, one plain address in a one-dimensional
    /// set, without the intermediate arrays of `parse`; nil means "take the slow path".
    func fastSingle(_ word: ArraySlice<UInt8>) -> IpsetElement? {
        guard create.range == nil, create.netmask == nil else { return nil }
        let kind: IpsetElementKind
        switch create.type {
        case .hashIP: kind = .ip
        case .hashNet: kind = .net
        default: return nil
        }
        for b in word where b == UInt8(ascii: "/") || b == UInt8(ascii: "-") || b == UInt8(ascii: ",") { return nil }
        guard let a = IpsetAddressParser.address(word, family: create.family) else { return nil }
        return kind == .ip ? .address(a) : .prefix(a, prefixLength: create.family.bitCount)
    }

    /// All alternatives of each dimension; the entry's members are their product.
    func parse(_ word: ArraySlice<UInt8>) throws(IpsetElementFailure) -> [[IpsetElement]] {
        let kinds = create.type.elementKinds
        var parts: [ArraySlice<UInt8>] = []
        if create.type == .listSet {
            parts = [word]
        } else {
            var s = word.startIndex
            for i in word.indices where word[i] == UInt8(ascii: ",") {
                parts.append(word[s..<i])
                s = i + 1
            }
            parts.append(word[s..<word.endIndex])
        }
        // bitmap:ip,mac may leave out the MAC (the kernel learns it from traffic).
        let optionalLast = create.type == .bitmapIPMAC && parts.count == 1
        if parts.count != kinds.count && !optionalLast {
            let what = kinds.count == 1 ? "one element" : "\(kinds.count) comma-separated elements"
            throw fail("bad-entry-shape",
                       "expected \(what) for \(create.type.rawValue), got \(parts.count) in '\(text(word))'", word)
        }
        var out: [[IpsetElement]] = []
        out.reserveCapacity(parts.count)
        for (k, part) in parts.enumerated() {
            out.append(try parsePart(part, kind: kinds[k], dimension: k))
        }
        return out
    }

    private func parsePart(_ w: ArraySlice<UInt8>, kind: IpsetElementKind, dimension: Int) throws(IpsetElementFailure) -> [IpsetElement] {
        switch kind {
        case .ip: return try parseIP(w, allowRange: dimension == 0)
        case .net: return try parseNet(w)
        case .port: return try create.type == .bitmapPort ? parseBitmapPort(w) : parsePort(w)
        case .iface: return [try parseIface(w)]
        case .mark:
            guard let v = IpsetNumber.parse(w), v <= UInt64(UInt32.max) else {
                throw fail("bad-mark", "expected a mark from 0 to 0xffffffff, got '\(text(w))'", w)
            }
            return [.mark(UInt32(v))]
        case .mac: return [try parseMAC(w)]
        case .setName:
            let name = text(w)
            guard setNames[name] != nil else {
                throw fail("undefined-member-set", "set '\(name)' is not defined", w)
            }
            return [.setName(name)]
        }
    }

    private func familyName(_ f: IpsetFamily) -> String { f == .inet ? "IPv4" : "IPv6" }

    private func spec(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> IpsetAddressSpec {
        switch IpsetAddressParser.spec(w, family: create.family) {
        case .success(let s): return s
        case .failure(.badAddress(let a)):
            throw fail("bad-address", "expected an \(familyName(create.family)) address, got '\(text(a))'", a)
        case .failure(.badPrefix(let p)):
            throw fail("bad-prefix", "expected a prefix length from 1 to \(create.family.bitCount), got '\(text(p))'", p)
        }
    }

    /// Single addresses; IPv4 ranges and CIDRs are expanded (stepping by the set's netmask).
    private func parseIP(_ w: ArraySlice<UInt8>, allowRange: Bool) throws(IpsetElementFailure) -> [IpsetElement] {
        let s = try spec(w)
        let mask = create.netmask ?? create.family.bitCount
        let first: IpsetAddress, last: IpsetAddress
        switch s {
        case .single(let a):
            if let r = create.range, !(r.contains(a)) {
                throw fail("out-of-range", "expected an address inside the range of set '\(create.name)', got '\(text(w))'", w)
            }
            return [.address(a.masked(mask))]
        case .cidr(let a, let len):
            guard create.family == .inet && allowRange else {
                throw fail("ip-range", "expected a single \(familyName(create.family)) address, got '\(text(w))'", w)
            }
            first = a.masked(len)
            last = IpsetAddress(ipv4: first.v4 | (len == 0 ? UInt32.max : ~(UInt32.max << UInt32(32 - len))))
        case .range(let a, let b):
            guard create.family == .inet && allowRange else {
                throw fail("ip-range", "expected a single \(familyName(create.family)) address, got '\(text(w))'", w)
            }
            first = a
            last = b
        }
        if let r = create.range, !(r.contains(first) && r.contains(last)) {
            throw fail("out-of-range", "expected an address inside the range of set '\(create.name)', got '\(text(w))'", w)
        }
        let step = UInt64(1) << UInt64(32 - mask)
        let lo = UInt64(first.masked(mask).v4), hi = UInt64(last.v4)
        guard (hi - lo) / step < ipsetExpansionLimit else {
            throw fail("set-full", "set '\(create.name)' cannot hold the \((hi - lo) / step + 1) members of '\(text(w))'", w)
        }
        var out: [IpsetElement] = []
        var cur = lo
        while cur <= hi {
            out.append(.address(IpsetAddress(ipv4: UInt32(cur))))
            cur += step
        }
        return out
    }

    /// Prefixes; an IPv4 range is split into CIDRs. The kernel refuses /0.
    private func parseNet(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> [IpsetElement] {
        let bits = create.family.bitCount
        switch try spec(w) {
        case .single(let a): return [.prefix(a, prefixLength: bits)]
        case .cidr(let a, let len):
            guard len >= 1 else {
                let p = w[(w.firstIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? w.startIndex)...]
                throw fail("bad-prefix", "expected a prefix length from 1 to \(bits), got '\(text(p))'", p)
            }
            return [.prefix(a.masked(len), prefixLength: len)]
        case .range(let a, let b):
            guard create.family == .inet else {
                throw fail("ip-range", "expected an IPv6 address or prefix, got '\(text(w))'", w)
            }
            let cidrs = ipsetSplitRange(a.v4, b.v4)
            if cidrs.contains(where: { $0.1 == 0 }) {
                throw fail("bad-prefix", "expected a range smaller than 0.0.0.0/0, got '\(text(w))'", w)
            }
            return cidrs.map { .prefix(IpsetAddress(ipv4: $0.0), prefixLength: $0.1) }
        }
    }

    private func portNumber(_ w: ArraySlice<UInt8>) -> UInt16? {
        if let v = IpsetNumber.parse(w, allowHex: false) { return v <= 65535 ? UInt16(v) : nil }
        return IpsetNames.services[text(w)]
    }

    /// `[proto:]port[-port]`, `icmp:name`, `icmp:type/code`, `gre:0`; tcp when no protocol.
    private func parsePort(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> [IpsetElement] {
        var proto = IpsetNames.protoTCP
        var spec = w
        if let colon = w.firstIndex(of: UInt8(ascii: ":")) {
            let p = w[w.startIndex..<colon]
            guard let n = IpsetNames.protocolNumber(text(p)) else {
                throw fail("unknown-protocol", "unknown protocol '\(text(p))'", p)
            }
            proto = n
            spec = w[(colon + 1)...]
        }
        if proto == IpsetNames.protoICMP || proto == IpsetNames.protoICMPv6 {
            let v6 = proto == IpsetNames.protoICMPv6
            guard (create.family == .inet6) == v6 else {
                throw fail("bad-protocol-family", "expected \(v6 ? "icmp" : "icmpv6") in an \(familyName(create.family)) set, got '\(text(w))'", w)
            }
            let table = v6 ? IpsetNames.icmpv6 : IpsetNames.icmp
            let name = text(spec)
            if let hit = table.first(where: { $0.name == name }) {
                return [.port(IpsetPort(proto: proto, port: UInt16(hit.type) << 8 | UInt16(hit.code)))]
            }
            if let slash = spec.firstIndex(of: UInt8(ascii: "/")),
               let t = IpsetNumber.parse(spec[spec.startIndex..<slash], allowHex: false), t <= 255,
               let c = IpsetNumber.parse(spec[(slash + 1)...], allowHex: false), c <= 255 {
                return [.port(IpsetPort(proto: proto, port: UInt16(t) << 8 | UInt16(c)))]
            }
            throw fail("bad-icmp", "expected an \(v6 ? "icmpv6" : "icmp") type name or type/code, got '\(name)'", spec)
        }
        if !IpsetNames.hasPorts(proto) {
            guard IpsetNumber.parse(spec, allowHex: false) == 0 else {
                throw fail("bad-port", "expected port 0 with protocol '\(IpsetNames.protocolName(proto) ?? "")', got '\(text(spec))'", spec)
            }
            return [.port(IpsetPort(proto: proto, port: 0))]
        }
        let (a, b) = try portRange(spec)
        return (a...b).map { .port(IpsetPort(proto: proto, port: $0)) }
    }

    private func portRange(_ spec: ArraySlice<UInt8>) throws(IpsetElementFailure) -> (UInt16, UInt16) {
        if let dash = spec.firstIndex(of: UInt8(ascii: "-")) {
            let x = spec[spec.startIndex..<dash], y = spec[(dash + 1)...]
            guard let a = portNumber(x) else { throw fail("bad-port", "expected a port from 0 to 65535, got '\(text(x))'", x) }
            guard let b = portNumber(y) else { throw fail("bad-port", "expected a port from 0 to 65535, got '\(text(y))'", y) }
            return a <= b ? (a, b) : (b, a)
        }
        guard let a = portNumber(spec) else {
            throw fail("bad-port", "expected a port from 0 to 65535, got '\(text(spec))'", spec)
        }
        return (a, a)
    }

    /// bitmap:port keeps bare ports; a protocol prefix is accepted and dropped.
    private func parseBitmapPort(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> [IpsetElement] {
        var spec = w
        if let colon = w.firstIndex(of: UInt8(ascii: ":")) {
            let p = w[w.startIndex..<colon]
            guard let n = IpsetNames.protocolNumber(text(p)), IpsetNames.hasPorts(n) else {
                throw fail("unknown-protocol", "unknown protocol '\(text(p))'", p)
            }
            spec = w[(colon + 1)...]
        }
        let (a, b) = try portRange(spec)
        if let r = create.portRange, !(r.contains(a) && r.contains(b)) {
            throw fail("out-of-range", "expected a port inside the range \(r.lowerBound)-\(r.upperBound) of set '\(create.name)', got '\(text(w))'", w)
        }
        return (a...b).map { .bitmapPort($0) }
    }

    private func parseIface(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> IpsetElement {
        var name = w
        var phys = false
        let prefix = Array("physdev:".utf8)
        if w.count > prefix.count && w.prefix(prefix.count).elementsEqual(prefix) {
            phys = true
            name = w[(w.startIndex + prefix.count)...]
        }
        // IFNAMSIZ is 16 with the terminating NUL.
        guard !name.isEmpty && name.count <= 15 else {
            throw fail("bad-iface", "expected an interface name of 1 to 15 characters, got '\(text(name))'", name)
        }
        return .iface(text(name), physdev: phys)
    }

    /// Exactly `hh:hh:hh:hh:hh:hh`, the only form ipset prints.
    private func parseMAC(_ w: ArraySlice<UInt8>) throws(IpsetElementFailure) -> IpsetElement {
        var v: UInt64 = 0
        var ok = w.count == 17
        if ok {
            for (k, b) in w.enumerated() {
                if k % 3 == 2 {
                    if b != UInt8(ascii: ":") { ok = false }
                    continue
                }
                switch b {
                case 48...57: v = v << 4 | UInt64(b - 48)
                case 97...102: v = v << 4 | UInt64(b - 87)
                case 65...70: v = v << 4 | UInt64(b - 55)
                default: ok = false
                }
            }
        }
        guard ok else {
            throw fail("bad-mac", "expected a MAC address like 00:11:22:33:44:55, got '\(text(w))'", w)
        }
        return .mac(v)
    }
}
