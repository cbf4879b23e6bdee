# Sourced by scripts/bench: each competitor's set-up, live-frame measurement and check.
# Every competitor runs the same shape of ruleset (a SIP whitelist on udp/5060, then drop)
# in a firewall namespace of its own, so that no two of them see each other's rules.
#
#   floor              a bare XDP program that drops everything (the least XDP can cost)
#   ebpf               ebpf-iptables: set.rules + wl.ipset restored from save text
#   ipt-nft-set        iptables-nft, one `-m set` rule over a hash:ip set
#   ipt-legacy-set     iptables-legacy, the same
#   nft-set            nftables with a native set
#   xdp-filter         xdp-tools' xdp-filter, deny policy, the members as source addresses
#                      (it cannot AND an address with a port: udp/5060 is not checked)
#   ipt-nft-linear     iptables-nft with one rule per member
#   ipt-legacy-linear  iptables-legacy, the same
competitors=(floor ebpf ipt-nft-set ipt-legacy-set nft-set xdp-filter ipt-nft-linear ipt-legacy-linear)

# can_hold NAME SIZE: whether the competitor is measured at that whitelist size.
can_hold() {
    case $1 in
        xdp-filter) [ "$2" -le 10000 ] ;;          # its filter_ipv4 map has 10,000 entries
        ipt-*-linear) [ "$2" -le 10000 ] ;;        # 10,000 linear rules already cost ~0.25 ms/packet
        *) true ;;
    esac
}

# setup NAME SIZE: the competitor's ruleset for SIZE members (files in $work/files/SIZE
# from bench/whitelist.py) in its firewall namespace (made by mkfw).
setup() {
    local name=$1 size=$2 f="$work/files/$2"
    local ns="$prefix-$1"
    # Called as an `if` condition, where errexit is off: every step is chained with &&.
    case $name in
        floor) ;;
        ebpf)
            nsx "$ns" "$cli" attach fw0 >/dev/null &&
                nsx "$ns" "$cli" restore --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null ;;
        ipt-nft-set)
            nsx "$ns" ipset restore <"$f/wl.ipset" && nsx "$ns" iptables-nft-restore <"$f/set.rules" ;;
        ipt-legacy-set)
            nsx "$ns" ipset restore <"$f/wl.ipset" && nsx "$ns" iptables-legacy-restore <"$f/set.rules" ;;
        nft-set)
            nsx "$ns" nft -f "$f/set.nft" ;;
        xdp-filter)
            # xdp-filter refuses to run while /run/xdp-filter.lck names a dead process (left
            # by one killed mid-command, e.g. by SIGPIPE); such a lock protects nothing.
            local lock=/run/xdp-filter.lck
            if [ -f $lock ] && ! kill -0 "$(cat $lock)" 2>/dev/null; then rm -f $lock; fi
            # It pins to the first bpffs it finds: give it a private one at /sys/fs/bpf (gone with
            # this `ip netns exec`; the attached program lives on until the namespace goes).
            ip netns exec "$ns" sh -c 'mount -t bpf bpf /sys/fs/bpf && xdp-filter load fw0 --policy deny --features ipv4 --mode native' &&
                nsx "$ns" "$bench" fill-xdp-filter --interface fw0 --members "$size" ;;
        ipt-nft-linear)
            nsx "$ns" iptables-nft-restore <"$f/linear.rules" ;;
        ipt-legacy-linear)
            nsx "$ns" iptables-legacy-restore <"$f/linear.rules" ;;
    esac
}

# teardown NAME: removes the namespace (its veth, and with it any attached XDP program).
teardown() { rmfw "$1"; }

# live NAME MISS: ns/packet (and packets) of one live-frame run, a flood frame from MISS.
live() {
    local name=$1 miss=$2 ns="$prefix-$1" k=${slots[$1]}
    local args=(live-cost --interface fw0 --source "$miss" --destination "198.18.$k.2")
    case $name in
        floor) args+=(--object "$obj/xdp_drop.bpf.o" --program xdp_drop --expect drop) ;;
        ebpf | xdp-filter) args+=(--expect drop) ;; # the program attached to fw0 decides
        *) args+=(--object "$obj/xdp_pass.bpf.o" --program xdp_pass --expect pass) ;;
    esac
    nsx "$ns" "$bench" "${args[@]}"
}

# dropped NAME: packets counted by the competitor's final drop rule (netfilter ones only),
# the check that live frames really reached the ruleset and were not lost before it.
dropped() {
    local ns="$prefix-$1"
    case $1 in
        ipt-nft-*) nsx "$ns" iptables-nft-save -c | awk '/-A INPUT -j DROP/ {gsub(/[\[\]]/, "", $1); split($1, c, ":"); print c[1]}' ;;
        ipt-legacy-*) nsx "$ns" iptables-legacy-save -c | awk '/-A INPUT -j DROP/ {gsub(/[\[\]]/, "", $1); split($1, c, ":"); print c[1]}' ;;
        nft-set) nsx "$ns" nft list chain inet bench input | awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}' ;;
        *) echo "-" ;;
    esac
}

# e2e_attach NAME: the end-to-end receiver as deployed: the bare drop attached natively for
# the floor; ebpf-iptables and xdp-filter are already attached; netfilter has no XDP.
e2e_attach() {
    [ "$1" = floor ] && ip -n "$prefix-floor" link set dev fw0 xdpdrv obj "$obj/xdp_drop.bpf.o" sec xdp
    true
}
