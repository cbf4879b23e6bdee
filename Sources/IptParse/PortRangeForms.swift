/// What iptables-nft 1.8.9 makes of a tcp or udp match whose only port test is a negated
/// full range (`-p tcp ! --sport :`, `! --dport 0:65535`): it adds no port test to the
/// kernel's rule (`meta l4proto tcp` alone, checked with `nft list ruleset`), so the kernel
/// matches every packet of the protocol, and `-S` shows no `-m tcp` at all. The parser keeps
/// the rule as the kernel holds it: without the match, so the XDP program and the kernel
/// decide the same.
enum PortRangeForms {
    /// True when the built match holds no test and was given a negated (full) port range.
    static func vanishes(_ m: Match, _ e: LoadedExtension) -> Bool {
        guard e.given.contains(where: { $0.negated }) else { return false }
        switch m {
        case .tcp(let t): return t.sourcePort == nil && t.destinationPort == nil && t.flags == nil && t.option == nil
        case .udp(let u): return u.sourcePort == nil && u.destinationPort == nil
        default: return false
        }
    }
}
