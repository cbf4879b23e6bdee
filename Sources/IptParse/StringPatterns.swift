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
