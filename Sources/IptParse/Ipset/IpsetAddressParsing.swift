/// Literal address parsing on bytes. Hostnames are refused: `ipset restore`
/// would resolve them through DNS at load time, which silently freezes one
/// answer into the firewall, and it makes parsing depend on the network.

/// An address as written: one address, a CIDR, or a `from-to` range.
enum IpsetAddressSpec {
    case single(IpsetAddress)
    case cidr(IpsetAddress, Int)
    case range(IpsetAddress, IpsetAddress)
}

enum IpsetAddressParser {
    static func ipv4(_ w: ArraySlice<UInt8>) -> UInt32? {
        var v: UInt32 = 0
        var cur: UInt32 = 0
        var digits = 0
        var parts = 0
        for b in w {
            if b == UInt8(ascii: ".") {
                if digits == 0 || parts == 3 { return nil }
                v = v << 8 | cur
                parts += 1
                cur = 0
                digits = 0
            } else if b >= 48 && b <= 57 {
                // inet_pton refuses leading zeros ("01"), which would be octal to inet_aton.
                if digits == 1 && cur == 0 { return nil }
                cur = cur * 10 + UInt32(b - 48)
                digits += 1
                if cur > 255 { return nil }
            } else {
                return nil
            }
        }
        if digits == 0 || parts != 3 { return nil }
        return v << 8 | cur
    }

    /// RFC 4291 text form, with `::` and an optional dotted IPv4 tail.
    static func ipv6(_ w: ArraySlice<UInt8>) -> (hi: UInt64, lo: UInt64)? {
        var groups: [UInt16] = []
        var gapAt: Int? = nil
        var i = w.startIndex
        let end = w.endIndex
        if w.count >= 2 && w[i] == UInt8(ascii: ":") {
            guard w[i + 1] == UInt8(ascii: ":") else { return nil }
            gapAt = 0
            i += 2
        }
        while i < end {
            // A dotted tail supplies the last 32 bits.
            var j = i
            var sawDot = false
            while j < end && w[j] != UInt8(ascii: ":") {
                if w[j] == UInt8(ascii: ".") { sawDot = true }
                j += 1
            }
            if sawDot {
                guard j == end, let v4 = ipv4(w[i..<j]) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                i = j
                break
            }
            let len = j - i
            guard len >= 1 && len <= 4 else { return nil }
            var g: UInt16 = 0
            for k in i..<j {
                let b = w[k]
                let d: UInt16
                switch b {
                case 48...57: d = UInt16(b - 48)
                case 97...102: d = UInt16(b - 87)
                case 65...70: d = UInt16(b - 55)
                default: return nil
                }
                g = g << 4 | d
            }
            groups.append(g)
            i = j
            if i < end {
                // at a ':'
                i += 1
                if i < end && w[i] == UInt8(ascii: ":") {
                    if gapAt != nil { return nil }
                    gapAt = groups.count
                    i += 1
                } else if i == end {
                    return nil
                }
            }
        }
        if let gap = gapAt {
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return (hi, lo)
    }

    static func address(_ w: ArraySlice<UInt8>, family: IpsetFamily) -> IpsetAddress? {
        switch family {
        case .inet: return ipv4(w).map { IpsetAddress(ipv4: $0) }
        case .inet6: return ipv6(w).map { IpsetAddress(family: .inet6, hi: $0.hi, lo: $0.lo) }
        }
    }

    enum Failure: Error {
        case badAddress(ArraySlice<UInt8>)
        case badPrefix(ArraySlice<UInt8>)
    }

    /// `A`, `A/len` or `A-B`. The prefix length is range-checked by the caller,
    /// which knows whether /0 is allowed.
    static func spec(_ w: ArraySlice<UInt8>, family: IpsetFamily) -> Result<IpsetAddressSpec, Failure> {
        if let slash = w.firstIndex(of: UInt8(ascii: "/")) {
            let a = w[w.startIndex..<slash]
            let p = w[(slash + 1)...]
            guard let addr = address(a, family: family) else { return .failure(.badAddress(a)) }
            guard p.count <= 3, let len = IpsetNumber.parse(p, allowHex: false), len <= UInt64(family.bitCount) else {
                return .failure(.badPrefix(p))
            }
            return .success(.cidr(addr, Int(len)))
        }
        if let dash = w.firstIndex(of: UInt8(ascii: "-")) {
            let a = w[w.startIndex..<dash]
            let b = w[(dash + 1)...]
            guard let x = address(a, family: family) else { return .failure(.badAddress(a)) }
            guard let y = address(b, family: family) else { return .failure(.badAddress(b)) }
            // ipset swaps a reversed range rather than refusing it.
            return .success(x <= y ? .range(x, y) : .range(y, x))
        }
        guard let a = address(w, family: family) else { return .failure(.badAddress(w)) }
        return .success(.single(a))
    }
}

extension IpsetAddress {
    /// Keeps the first `length` bits.
    func masked(_ length: Int) -> IpsetAddress {
        var r = self
        if family == .inet {
            let m: UInt64 = length == 0 ? 0 : (0xffff_ffff << UInt64(32 - length)) & 0xffff_ffff
            r.lo &= m
        } else {
            r.hi &= length >= 64 ? UInt64.max : (length == 0 ? 0 : UInt64.max << UInt64(64 - length))
            r.lo &= length >= 128 ? UInt64.max : (length <= 64 ? 0 : UInt64.max << UInt64(128 - length))
        }
        return r
    }

    var v4: UInt32 { UInt32(truncatingIfNeeded: lo) }
}

/// Splits an IPv4 range into the fewest CIDRs, as the kernel does for hash:net.
func ipsetSplitRange(_ from: UInt32, _ to: UInt32) -> [(UInt32, Int)] {
    var out: [(UInt32, Int)] = []
    var cur = UInt64(from)
    let last = UInt64(to)
    while cur <= last {
        var len = 32
        // Widen while aligned and still inside the range.
        while len > 0 {
            let size = UInt64(1) << UInt64(32 - (len - 1))
            if cur % size != 0 || cur + size - 1 > last { break }
            len -= 1
        }
        out.append((UInt32(truncatingIfNeeded: cur), len))
        cur += UInt64(1) << UInt64(32 - len)
    }
    return out
}
