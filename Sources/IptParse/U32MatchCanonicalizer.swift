/// The u32 match as libxt_u32 prints it back: every number in hex (`0x%x`), no blanks, a
/// value range whose ends are equal as one number. libxt_u32 reads numbers with C's base-0
/// rules (0x hex, a leading 0 octal, else decimal), so `12>>26` comes back `0xc>>0x1a`.
enum U32MatchCanonicalizer {
    /// libxt_u32's limits: tests per match, numbers per location, values per test.
    static let maxTests = 10, maxLocation = 11, maxValues = 10

    static func canonical(_ text: String) -> String? {
        var s = Substring(text.filter { $0 != " " && $0 != "\t" })
        var out = ""
        for test in 0..<maxTests {
            if test > 0 { out += "&&" }
            // Location: number (op number)* up to '='.
            for n in 0..<maxLocation {
                guard let v = number(&s) else { return nil }
                out += hex(v)
                if s.hasPrefix("=") {
                    s = s.dropFirst()
                    out += "="
                    break
                }
                guard n + 1 < maxLocation else { return nil }
                if let op = ["&", "<<", ">>", "@"].first(where: { s.hasPrefix($0) }) {
                    s = s.dropFirst(op.count)
                    out += op
                } else {
                    return nil
                }
            }
            // Values: min[:max] separated by ','; '&&' starts the next test.
            for n in 0..<maxValues {
                guard let lo = number(&s) else { return nil }
                var hi = lo
                if s.hasPrefix(":") {
                    s = s.dropFirst()
                    guard let h = number(&s) else { return nil }
                    hi = h
                }
                out += lo == hi ? hex(lo) : hex(lo) + ":" + hex(hi)
                if s.isEmpty { return out }
                if s.hasPrefix("&&") {
                    s = s.dropFirst(2)
                    break
                }
                guard s.hasPrefix(","), n + 1 < maxValues else { return nil }
                s = s.dropFirst()
                out += ","
            }
        }
        return nil
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    /// strtoul with base 0, within 32 bits.
    static func number(_ s: inout Substring) -> UInt32? {
        var radix = 10
        var body = s
        if body.hasPrefix("0x") || body.hasPrefix("0X") {
            radix = 16
            body = body.dropFirst(2)
        } else if body.hasPrefix("0") {
            radix = 8
        }
        let digits = body.prefix { $0.isHexDigit && Int(String($0), radix: radix) != nil }
        guard !digits.isEmpty, let v = UInt32(digits, radix: radix) else { return nil }
        s = body.dropFirst(digits.count)
        return v
    }
}
