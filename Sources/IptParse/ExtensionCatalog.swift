/// What iptables 1.8.9 knows by name. A `-m`/`-j` outside this catalog fails to
/// load in iptables ("Couldn't load match `multiports'"), so it fails here too;
/// one inside it always parses, typed or kept as an `ExtensionCall`.
///
/// Options are written `name=N` for N arguments (`name` alone takes none), in the
/// order `iptables-save` prints them; that order is what the opaque printer uses.
struct ExtensionSpec: Sendable {
    enum Kind: Sendable { case match, target }
    struct Option: Sendable, Equatable {
        var name: String
        var argc: Int
    }
    var name: String
    var kind: Kind
    var family: Family?
    var options: [Option]
    /// Names of known extensions without an option schema: their options are
    /// taken leniently (a word after an option is its argument).
    var lenient: Bool

    func option(named n: String) -> Option? { options.first { $0.name == n } }
}

enum ExtensionCatalog {
    static func match(_ name: String, family: Family) -> ExtensionSpec? {
        guard let s = matches[name], s.family == nil || s.family == family else { return nil }
        return s
    }

    static func target(_ name: String, family: Family) -> ExtensionSpec? {
        guard let s = targets[name], s.family == nil || s.family == family else { return nil }
        return s
    }

    private static func table(_ kind: ExtensionSpec.Kind, _ lines: [String]) -> [String: ExtensionSpec] {
        var out: [String: ExtensionSpec] = [:]
        for line in lines {
            var words = line.split(separator: " ").map(String.init)
            guard !words.isEmpty else { continue }
            var head = words.removeFirst()
            var family: Family? = nil
            if head.hasSuffix("/4") { family = .ipv4; head.removeLast(2) }
            if head.hasSuffix("/6") { family = .ipv6; head.removeLast(2) }
            let lenient = head.hasSuffix("?")
            if lenient { head.removeLast() }
            let opts = words.map { w -> ExtensionSpec.Option in
                let parts = w.split(separator: "=")
                return .init(name: String(parts[0]), argc: parts.count > 1 ? Int(parts[1]) ?? 1 : 0)
            }
            out[head] = ExtensionSpec(name: head, kind: kind, family: family, options: opts, lenient: lenient)
        }
        return out
    }

    static let matches: [String: ExtensionSpec] = table(.match, [
        "tcp source-port=1 sport=1 destination-port=1 dport=1 tcp-flags=2 syn tcp-option=1",
        "udp source-port=1 sport=1 destination-port=1 dport=1",
        "udplite? ",
        "sctp source-port=1 sport=1 destination-port=1 dport=1 chunk-types=2",
        "dccp source-port=1 sport=1 destination-port=1 dport=1 dccp-types=1 dccp-option=1",
        "icmp/4 icmp-type=1",
        "icmp6/6 icmpv6-type=1",
        "multiport source-ports=1 sports=1 destination-ports=1 dports=1 ports=1",
        "conntrack ctstate=1 ctproto=1 ctorigsrc=1 ctorigdst=1 ctreplsrc=1 ctrepldst=1 ctorigsrcport=1 ctorigdstport=1 ctreplsrcport=1 ctrepldstport=1 ctstatus=1 ctexpire=1 ctdir=1",
        "state state=1",
        "set match-set=2 set=2 return-nomatch update-counters update-subcounters packets-eq=1 packets-lt=1 packets-gt=1 bytes-eq=1 bytes-lt=1 bytes-gt=1",
        "iprange src-range=1 dst-range=1",
        "addrtype src-type=1 dst-type=1 limit-iface-in limit-iface-out",
        "mac mac-source=1",
        "limit limit=1 limit-burst=1",
        "hashlimit hashlimit-upto=1 hashlimit-above=1 hashlimit=1 hashlimit-burst=1 hashlimit-mode=1 hashlimit-name=1 hashlimit-htable-size=1 hashlimit-htable-max=1 hashlimit-htable-gcinterval=1 hashlimit-htable-expire=1 hashlimit-srcmask=1 hashlimit-dstmask=1 hashlimit-rate-match hashlimit-rate-interval=1",
        "recent set rcheck update remove seconds=1 reap hitcount=1 rttl name=1 mask=1 rsource rdest",
        "comment comment=1",
        "length length=1",
        "ttl/4 ttl-eq=1 ttl-lt=1 ttl-gt=1",
        "hl/6 hl-eq=1 hl-lt=1 hl-gt=1",
        "pkttype pkt-type=1",
        "owner socket-exists uid-owner=1 gid-owner=1 suppl-groups",
        "string string=1 hex-string=1 algo=1 from=1 to=1 icase",
        "mark mark=1",
        "connmark mark=1",
        "connlimit connlimit-upto=1 connlimit-above=1 connlimit-mask=1 connlimit-saddr connlimit-daddr",
        "connbytes connbytes=1 connbytes-mode=1 connbytes-dir=1",
        "statistic mode=1 probability=1 every=1 packet=1",
        "time timestart=1 timestop=1 monthdays=1 weekdays=1 datestart=1 datestop=1 kerneltz localtz utc contiguous",
        "tcpmss mss=1",
        "dscp dscp=1 dscp-class=1",
        "tos tos=1",
        "ecn ecn-tcp-cwr ecn-tcp-ece ecn-ip-ect=1",
        "helper helper=1",
        "physdev physdev-is-in physdev-in=1 physdev-is-out physdev-out=1 physdev-is-bridged",
        "policy dir=1 pol=1 strict reqid=1 spi=1 proto=1 mode=1 tunnel-src=1 tunnel-dst=1 next",
        "quota quota=1",
        "rpfilter loose validmark accept-local invert",
        "socket transparent nowildcard restore-skmark",
        "u32 u32=1",
        "cpu cpu=1",
        "devgroup src-group=1 dst-group=1",
        "cgroup path=1 cgroup=1",
        "nfacct nfacct-name=1",
        "esp espspi=1",
        "ah ahspi=1",
        "realm/4 realm=1",
        "rt/6 rt-type=1 rt-segsleft=1 rt-len=1 rt-0-res rt-0-addrs=1 rt-0-not-strict",
        "frag/6 fragid=1 fraglen=1 fragres fragfirst fragmore fraglast",
        "hbh/6 hbh-len=1 hbh-opts=1",
        "dst/6 dst-len=1 dst-opts=1",
        "ipv6header/6 header=1 soft",
        "mh/6 mh-type=1",
        "eui64/6 ",
        "srh? ",
        "ipvs? ",
        "cluster cluster-total-nodes=1 cluster-local-node=1 cluster-local-nodemask=1 cluster-hash-seed=1",
        "osf genre=1 ttl=1 log=1",
        "rateest rateest1=1 rateest=1 rateest2=1 rateest-bps1 rateest-pps1 rateest-bps2 rateest-pps2 rateest-bps rateest-pps rateest-delta rateest-lt rateest-gt rateest-eq",
        "connlabel label=1 set",
        "bpf bytecode=1 object-pinned=1",
        "l2tp? ",
        "ipcomp? ",
        "unclean? ",
    ])

    static let targets: [String: ExtensionSpec] = table(.target, [
        "REJECT reject-with=1",
        "LOG log-prefix=1 log-level=1 log-tcp-sequence log-tcp-options log-ip-options log-uid log-macdecode",
        "MASQUERADE to-ports=1 random random-fully",
        "DNAT to-destination=1 random persistent",
        "SNAT to-source=1 random random-fully persistent",
        "REDIRECT to-ports=1 random",
        "NETMAP to=1",
        "MARK set-xmark=1 set-mark=1 and-mark=1 or-mark=1 xor-mark=1",
        "CONNMARK set-xmark=1 save-mark restore-mark set-mark=1 and-mark=1 or-mark=1 xor-mark=1 nfmask=1 ctmask=1 mask=1",
        "TCPMSS set-mss=1 clamp-mss-to-pmtu",
        "CHECKSUM checksum-fill",
        "CT notrack helper=1 ctevents=1 expevents=1 zone-orig=1 zone-reply=1 zone=1 timeout=1",
        "NOTRACK ",
        "TRACE ",
        "NFLOG nflog-prefix=1 nflog-group=1 nflog-size=1 nflog-range=1 nflog-threshold=1",
        "NFQUEUE queue-num=1 queue-balance=1 queue-bypass queue-cpu-fanout",
        "SET add-set=2 del-set=2 exist timeout=1 map-set=2 map-mark map-prio map-queue",
        "CLASSIFY set-class=1",
        "DSCP set-dscp=1 set-dscp-class=1",
        "TOS set-tos=1 and-tos=1 or-tos=1 xor-tos=1",
        "TTL/4 ttl-set=1 ttl-dec=1 ttl-inc=1",
        "HL/6 hl-set=1 hl-dec=1 hl-inc=1",
        "TEE gateway=1 oif=1",
        "TPROXY on-port=1 on-ip=1 tproxy-mark=1",
        "AUDIT type=1",
        "TCPOPTSTRIP strip-options=1",
        "SECMARK selctx=1",
        "CONNSECMARK save restore",
        "SYNPROXY sack-perm timestamp wscale=1 mss=1 ecn",
        "IDLETIMER timeout=1 label=1",
        "LED? ",
        "HMARK hmark-tuple=1 hmark-mod=1 hmark-offset=1 hmark-src-prefix=1 hmark-dst-prefix=1 hmark-sport-mask=1 hmark-dport-mask=1 hmark-spi-mask=1 hmark-proto-mask=1 hmark-rnd=1",
        "RATEEST rateest-name=1 rateest-interval=1 rateest-ewmalog=1",
        "CLUSTERIP/4? ",
        "ECN? ",
        "DNPT/6? ",
        "SNPT/6? ",
    ])
}
