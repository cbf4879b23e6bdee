import IptParse

extension TTLMatch {
    /// Whether a packet's TTL passes the test (xt_ttl).
    func holds(_ value: UInt8) -> Bool {
        switch op {
        case .eq: value == self.value
        case .ne: value != self.value
        case .lt: value < self.value
        case .gt: value > self.value
        }
    }

    /// The complement as one test: only `--ttl-eq` and `! --ttl-eq` have one.
    var negation: TTLMatch? {
        switch op {
        case .eq: TTLMatch(op: .ne, value: value)
        case .ne: TTLMatch(op: .eq, value: value)
        default: nil
        }
    }
}
