/// `case "udp":` in IptParse's switches compares bytes, as iptables' strcmp does.
///
/// The standard library matches a String pattern with `==` (canonical equivalence), and a
/// mismatch goes through its out-of-line comparison: the option checks switch over about a
/// hundred (extension, option) pairs per option read, and at 100,000 rules those failed
/// compares were a visible share of a restore. Words of different UTF-8 lengths are told
/// apart here at once; equal lengths still use `==`, which for the ASCII patterns written in
/// these switches is byte equality (a non-ASCII word canonically equal to an ASCII pattern,
/// e.g. U+212A KELVIN SIGN for "K", is always longer; iptables, comparing bytes, refuses it too).
@inline(__always)
func ~= (pattern: String, value: String) -> Bool {
    pattern.utf8.count == value.utf8.count && pattern == value
}

extension String {
    /// `hasPrefix` over bytes: getopt_long's abbreviations are strncmp, and the Character
    /// walk behind `hasPrefix` cost a grapheme break per character of every option name.
    @inline(__always)
    func hasBytePrefix(_ prefix: String) -> Bool {
        let p = prefix.utf8
        let u = utf8
        return p.count <= u.count && u.starts(with: p)
    }
}

extension String {
    /// `count` without the grapheme walk when it cannot matter: in ASCII text every byte is
    /// one Character except CR LF, which joins into one, so without a CR the bytes are the
    /// Characters. Columns and lengths of diagnostics are counted in Characters; a restore
    /// line's length went through the walk for every rule read.
    var characterCount: Int {
        for b in utf8 where b >= 0x80 || b == 13 { return count }
        return utf8.count
    }
}
