import Verifier

/// Issue 3's SIP whitelist as text the CLI reads: an iptables-save ruleset that accepts
/// UDP 5060 from members of the `hash:ip` set `wl` and drops the rest, and the set's
/// `ipset save` text with `members` addresses from 10.0.0.0/8.
struct WhitelistRuleset {
    static let setName = "wl"
    let members: Int

    /// Member `index`'s address: the index times an odd constant, modulo 2^24, inside
    /// 10.0.0.0/8. Multiplying by an odd number is a bijection modulo 2^24, so indices
    /// below 2^24 give distinct addresses, spread over the whole /8.
    static func address(index: Int) -> UInt32 {
        0x0A00_0000 | ((UInt32(truncatingIfNeeded: index) &* 0x9E37_79B1) & 0x00FF_FFFF)
    }

    /// A member's address (expected verdict: accept, XDP_PASS).
    var hitSource: UInt32 { Self.address(index: members / 2) }
    /// An address of 10.0.0.0/8 that is not a member (index `members` is past the last one).
    var missSource: UInt32 { Self.address(index: members) }

    var rulesText: String {
        """
        *filter
        :INPUT DROP [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        -A INPUT -m set --match-set \(Self.setName) src -p udp --dport 5060 -j ACCEPT
        -A INPUT -j DROP
        COMMIT

        """
    }

    var ipsetText: String {
        var s = "create \(Self.setName) hash:ip family inet hashsize \(hashsize) maxelem \(max(members, 65536))\n"
        s.reserveCapacity(s.utf8.count + members * 24)
        for i in 0..<members {
            s += "add \(Self.setName) "
            s += Probe.dotted(Self.address(index: i))
            s += "\n"
        }
        return s
    }

    /// A power of two at least members / 4 (ipset's own sizing), at least 1024.
    private var hashsize: Int {
        var h = 1024
        while h < members / 4 { h *= 2 }
        return h
    }
}
