extension ClosedRange where Bound: FixedWidthInteger {
    /// `lo[:hi]` as iptables' range options give it (one number is a range of one). Nil for a
    /// reversed range: the kernel's range matches (port_match, id_match, segsleft_match) hold
    /// for no value then, which `lo...hi` cannot say.
    init?(colonSeparated s: String) {
        let p = s.split(separator: ":", omittingEmptySubsequences: false)
        guard p.count <= 2, let lo = Bound(p[0]) else { return nil }
        guard p.count == 2 else { self = lo...lo; return }
        guard let hi = Bound(p[1]), lo <= hi else { return nil }
        self = lo...hi
    }
}
