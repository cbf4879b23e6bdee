/// Strict `a.b.c.d`, as the fast paths of a member edit read it: four decimal bytes with no
/// leading zeros (ipset and iptables may read `010` as octal; such words take the kernel
/// tool's own path instead). nil for anything else.
public enum DottedQuad {
    public static func parse<S: StringProtocol>(_ s: S) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p), String(b) == p else { return nil }
            v = v << 8 | UInt32(b)
        }
        return v
    }
}
