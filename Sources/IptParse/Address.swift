/// The address family a ruleset is written for: iptables or ip6tables.
public enum Family: String, Equatable, Sendable, Hashable, Codable {
    case ipv4, ipv6

    var byteCount: Int { self == .ipv4 ? 4 : 16 }
    var maxPrefix: Int { byteCount * 8 }
}

/// 128 bits of address or mask, big-endian; IPv4 lives in the low 32 bits of `lo`.
/// Two integers instead of byte arrays: a 100,000-rule restore makes one per address,
/// and arrays would cost two heap allocations each.
public struct IPBits: Equatable, Sendable, Hashable {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64 = 0, lo: UInt64 = 0) {
        self.hi = hi
        self.lo = lo
    }

    init(bytes: [UInt8]) {
        var h: UInt64 = 0, l: UInt64 = 0
        if bytes.count == 4 {
            for b in bytes { l = l << 8 | UInt64(b) }
        } else {
            for b in bytes.prefix(8) { h = h << 8 | UInt64(b) }
            for b in bytes.dropFirst(8) { l = l << 8 | UInt64(b) }
        }
        self.init(hi: h, lo: l)
    }

    func bytes(_ family: Family) -> [UInt8] {
        if family == .ipv4 { return (0..<4).map { UInt8(truncatingIfNeeded: lo >> (24 - 8 * $0)) } }
        return (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
    }

    static func & (a: IPBits, b: IPBits) -> IPBits { IPBits(hi: a.hi & b.hi, lo: a.lo & b.lo) }

    static func mask(family: Family, length: Int) -> IPBits {
        if family == .ipv4 {
            return IPBits(lo: length <= 0 ? 0 : UInt64(UInt32.max << (32 - min(32, length))) & 0xffff_ffff)
        }
        let h = length <= 0 ? 0 : (length >= 64 ? UInt64.max : UInt64.max << (64 - length))
        let l = length <= 64 ? 0 : (length >= 128 ? UInt64.max : UInt64.max << (128 - length))
        return IPBits(hi: h, lo: l)
    }
}

/// An address with a mask, as `-s`/`-d` hold it. The address is stored masked,
/// because that is what the kernel keeps and what `iptables-save` prints back.
public struct IPPrefix: Equatable, Sendable, Hashable {
    public var family: Family
    public var bits: IPBits
    public var maskBits: IPBits

    public init(family: Family, bits: IPBits, maskBits: IPBits) {
        self.family = family
        self.maskBits = maskBits
        self.bits = bits & maskBits
    }

    public init(family: Family, address: [UInt8], mask: [UInt8]) {
        self.init(family: family, bits: IPBits(bytes: address), maskBits: IPBits(bytes: mask))
    }

    public init(family: Family, address: [UInt8], prefixLength: Int) {
        self.init(family: family, bits: IPBits(bytes: address), maskBits: IPBits.mask(family: family, length: prefixLength))
    }

    public var address: [UInt8] { bits.bytes(family) }
    public var mask: [UInt8] { maskBits.bytes(family) }

    /// nil when the mask has holes (`255.0.255.0`), which iptables allows for IPv4.
    public var prefixLength: Int? {
        let n = family == .ipv4 ? (maskBits.lo & 0xffff_ffff).nonzeroBitCount : maskBits.hi.nonzeroBitCount + maskBits.lo.nonzeroBitCount
        return IPBits.mask(family: family, length: n) == maskBits ? n : nil
    }

    /// True for `0.0.0.0/0`, which iptables drops from a rule altogether.
    public var isAny: Bool { maskBits == IPBits() }

    /// `iptables-save` form: `10.0.0.0/8`, `1.0.3.0/255.0.255.0`, `2001:db8::/32`.
    public var saveText: String {
        let a = IPAddressText.format(address, family: family)
        if let len = prefixLength { return "\(a)/\(len)" }
        return "\(a)/\(IPAddressText.format(mask, family: family))"
    }
}

/// Parsing and printing of literal addresses. Hostnames are refused on purpose:
/// iptables would resolve them once, at load time, which silently freezes a DNS
/// answer into the firewall.
enum IPAddressText {
    static func parseIPv4(_ s: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var cur = 0
        var digits = 0
        for u in s.utf8 {
            if u == UInt8(ascii: ".") {
                if digits == 0 || out.count == 3 { return nil }
                out.append(UInt8(cur))
                cur = 0
                digits = 0
            } else if u >= 48 && u <= 57 {
                cur = cur * 10 + Int(u - 48)
                digits += 1
                if cur > 255 || digits > 3 { return nil }
            } else {
                return nil
            }
        }
        if digits == 0 { return nil }
        out.append(UInt8(cur))
        // inet_aton also takes "10" or "10.1"; iptables uses its own dotted-quad
        // parser that allows fewer parts, filling zeros on the right.
        guard out.count <= 4 else { return nil }
        while out.count < 4 { out.append(0) }
        return out
    }

    static func parseIPv6(_ s: Substring) -> [UInt8]? {
        if s.isEmpty { return nil }
        var text = String(s)
        var tail4: [UInt8]? = nil
        // A dotted IPv4 tail (`::ffff:1.2.3.4`) stands for the last two groups.
        if text.contains("."), let lastColon = text.lastIndex(of: ":") {
            guard let v4 = parseStrictIPv4(text[text.index(after: lastColon)...]) else { return nil }
            tail4 = v4
            text = String(text[...lastColon]) + "0:0"
        }
        let parts = text.components(separatedBy: "::")
        guard parts.count <= 2 else { return nil }
        func groups(_ p: String) -> [UInt16]? {
            if p.isEmpty { return [] }
            var out: [UInt16] = []
            for g in p.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(parts[0]) else { return nil }
        var all: [UInt16]
        if parts.count == 2 {
            guard let tail = groups(parts[1]), head.count + tail.count < 8 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        var bytes: [UInt8] = []
        for g in all { bytes.append(UInt8(g >> 8)); bytes.append(UInt8(g & 0xff)) }
        if let v4 = tail4 { bytes.replaceSubrange(12..<16, with: v4) }
        return bytes
    }

    /// Four dotted decimal parts, nothing less (used where the kernel's tools use inet_pton).
    static func parseStrictIPv4(_ s: Substring) -> [UInt8]? {
        guard s.split(separator: ".", omittingEmptySubsequences: false).count == 4 else { return nil }
        return parseIPv4(s)
    }

    static func parse(_ s: Substring, family: Family) -> [UInt8]? {
        family == .ipv4 ? parseIPv4(s) : parseIPv6(s)
    }

    /// Bytes in decimal joined by dots, written straight into one buffer (every address of
    /// an iptables-save goes through here: no String per byte to join).
    static func dotted(_ bytes: ArraySlice<UInt8>) -> String {
        var buf: [UInt8] = []
        buf.reserveCapacity(bytes.count * 4)
        for (k, b) in bytes.enumerated() {
            if k > 0 { buf.append(UInt8(ascii: ".")) }
            if b >= 100 { buf.append(UInt8(ascii: "0") + b / 100) }
            if b >= 10 { buf.append(UInt8(ascii: "0") + b / 10 % 10) }
            buf.append(UInt8(ascii: "0") + b % 10)
        }
        return String(decoding: buf, as: UTF8.self)
    }

    static func format(_ bytes: [UInt8], family: Family) -> String {
        if family == .ipv4 { return dotted(bytes[...]) }
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
        // RFC 5952: compress the longest run (of two or more) of zero groups, the first on a tie.
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        let hex = groups.map { String($0, radix: 16) }
        // glibc's inet_ntop prints IPv4-mapped and -compatible addresses with a dotted tail.
        if bestStart == 0 && (bestLen == 6 || (bestLen == 5 && groups[5] == 0xffff)) && !(bestLen == 6 && groups[6] == 0 && groups[7] <= 1) {
            let v4 = dotted(bytes[12...])
            return bestLen == 5 ? "::ffff:\(v4)" : "::\(v4)"
        }
        if bestStart < 0 { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLen)...].joined(separator: ":")
        return head + "::" + tail
    }
}
