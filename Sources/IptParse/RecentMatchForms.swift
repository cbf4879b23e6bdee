/// The recent match's values as the kernel keeps them and libxt_recent prints them back:
/// the list name in XT_RECENT_NAME_LEN (200) bytes with its terminator, `--seconds` as a
/// 32-bit number printed with `%d` (4294967295 is `-1`), and an IPv4 `--mask` read as
/// getaddrinfo reads a numeric host (inet_aton's forms: `24` is 0.0.0.24).
enum RecentMatchForms {
    static func name(_ s: String) -> String { String(decoding: s.utf8.prefix(199), as: UTF8.self) }

    static func seconds(_ s: String) -> String {
        guard let v = ExtensionForms.parseNumber(Substring(s)), v <= 0xffff_ffff else { return s }
        return "\(Int32(bitPattern: UInt32(v)))"
    }

    /// inet_aton: one to four parts (strtoul base 0), the last filling the remaining bytes.
    static func inetAton(_ s: String) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for p in parts {
            guard let v = ExtensionForms.parseNumber(p) else { return nil }
            values.append(v)
        }
        let lastBits = UInt64(8 * (5 - parts.count))
        guard values.dropLast().allSatisfy({ $0 <= 255 }), let last = values.last, last < (UInt64(1) << lastBits) else { return nil }
        var out: UInt64 = 0
        for (i, v) in values.dropLast().enumerated() { out |= v << UInt64(24 - 8 * i) }
        return UInt32(out | last)
    }

    static func mask(_ s: String, family: Family) -> String {
        guard family == .ipv4, let v = inetAton(s) else { return s }
        return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
    }
}
