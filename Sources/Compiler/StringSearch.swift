/// `-m string` as the kernel decides it: xt_string's `skb_find_text(skb, from, to, conf)`
/// over the IP packet (skb->data is the IP header in INPUT, skb->len the IP total length),
/// with lib/ts_kmp.c or lib/ts_bm.c. The XDP program (bpf/ext_string.h) evaluates the
/// same thing; this is its Swift mirror, and the place the bm tables are computed.
public struct StringSearch: Equatable, Hashable, Sendable {
    /// As given (`--string`/`--hex-string`), not yet uppercased.
    public var pattern: [UInt8]
    public var from: UInt16
    public var to: UInt16
    /// `--algo bm` (else kmp).
    public var boyerMoore: Bool
    public var ignoreCase: Bool

    public init(pattern: [UInt8], from: UInt16, to: UInt16, boyerMoore: Bool, ignoreCase: Bool) {
        self.pattern = pattern
        self.from = from
        self.to = to
        self.boyerMoore = boyerMoore
        self.ignoreCase = ignoreCase
    }

    /// Longest pattern the program's row holds: bm keeps its good-shift table beside it.
    public static let maxBoyerMoore = 24
    public static let maxKMP = 48
    /// Bytes of a packet one search reads (EIPT_STR_WINDOW); a longer window: MAYBE.
    public static let window = 2048

    public var fitsRow: Bool {
        !pattern.isEmpty && pattern.count <= (boyerMoore ? Self.maxBoyerMoore : Self.maxKMP)
    }

    /// The pattern as the kernel's textsearch stores it: uppercased with --icase.
    public var storedPattern: [UInt8] { ignoreCase ? pattern.map(Self.toUpper) : pattern }

    /// lib/ctype.c (ISO 8859-1): lower case is a-z, 0xdf-0xf6, 0xf8-0xff.
    public static func toUpper(_ c: UInt8) -> UInt8 {
        (c >= 0x61 && c <= 0x7a) || (c >= 0xdf && c != 0xf7) ? c &- 0x20 : c
    }

    /// lib/ctype.c: upper case is A-Z, 0xc0-0xd6, 0xd8-0xde.
    public static func toLower(_ c: UInt8) -> UInt8 {
        (c >= 0x41 && c <= 0x5a) || (c >= 0xc0 && c <= 0xde && c != 0xd7) ? c &+ 0x20 : c
    }

    /// ts_bm.c compute_prefix_tbl's good-shift table, with its subpattern() as it is (it
    /// is not the textbook table; the kernel's search can step over an occurrence, and the
    /// program mirrors that search step by step, so the table must be the kernel's).
    public var goodShift: [Int] {
        let p = storedPattern.map(Int.init), m = p.count
        var good = [Int](repeating: m, count: m)
        guard m > 0 else { return good }
        good[0] = 1
        func subpattern(_ i: Int, _ j: Int, _ g0: Int) -> Bool {
            var x = i + g0 - 1, y = j + g0 - 1, g = g0
            while true {
                // `pattern[x--] == pattern[y--]`: y may already be below 0 only after
                // the `y < 0` check below returned, so both are in range here.
                guard x >= 0, y >= 0, p[x] == p[y] else { return false }
                x -= 1
                y -= 1
                if y < 0 { return true }
                g -= 1
                if g == 0 { return p[i - 1] != p[j - 1] }
            }
        }
        var i = m - 1, g = 1
        while i > 0 {
            var j = i - 1
            while j >= 1 - g {
                if subpattern(i, j, g) {
                    good[g] = m - j - g
                    break
                }
                j -= 1
            }
            g += 1
            i -= 1
        }
        return good
    }

    /// Whether the kernel finds the pattern in `ip` (the IP packet from its header, as long
    /// as its total length): nil when the window is longer than the program searches.
    public func matches(ipPacket ip: [UInt8]) -> Bool? {
        let end = min(Int(to), ip.count), start = Int(from), m = pattern.count
        guard start < end, end - start >= m else { return false }
        guard end - start <= Self.window else { return nil }
        let text = ip[start..<end].map { ignoreCase ? Self.toUpper($0) : $0 }
        let raw = Array(ip[start..<end])
        let pat = storedPattern
        if !boyerMoore {
            // ts_kmp finds the leftmost occurrence: any exact search answers "is there one".
            guard text.count >= m else { return false }
            for s in 0...(text.count - m) where Array(text[s..<(s + m)]) == pat { return true }
            return false
        }
        let good = goodShift
        var shift = m - 1
        while shift < text.count {
            var i = 0
            while i < m && text[shift - i] == pat[m - 1 - i] { i += 1 }
            if i == m { return true }
            var bs = m
            for k in 0..<(m - 1) where pat[k] == raw[shift - i] || (ignoreCase && Self.toLower(pat[k]) == raw[shift - i]) {
                bs = m - 1 - k
            }
            shift = max(shift - i + bs, shift + good[i])
        }
        return false
    }
}
