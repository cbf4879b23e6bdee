# Sourced by scripts/bench: each competitor's set-up, measurement and checks. Every
# competitor runs the same shape of ruleset (a SIP whitelist on udp/5060, then drop) in a
# firewall namespace of its own, so that no two of them see each other's rules.
#
#   floor              a bare XDP program that drops everything (the least XDP can cost)
#   ebpf               ebpf-iptables, two layers: attach, then ebpf-iptables-restore of
#                      set.rules + wl.ipset; the kernel holds the whole ruleset too, XDP in
#                      front drops what it certainly drops and passes the rest up
#   ebpf-full          ebpf, with the program never specialised to the ruleset
#                      (EBPF_IPTABLES_FULL_PROGRAM=1): every path loaded, as before shapes
#   ebpf-xdp-only      ebpf-iptables --xdp-only: XDP alone decides filter INPUT (the kernel's
#                      INPUT is left empty, policy ACCEPT): the thesis's layout
#   ipt-nft-set        iptables-nft, one `-m set` rule over a hash:ip set, no XDP program
#   ipt-nft-pass       the same with a bare XDP_PASS program attached (what any XDP program
#                      on the device costs an accepted packet, set apart from ebpf's own)
#   ipt-legacy-set     iptables-legacy + ipset
#   nft-set            nftables with a native set
#   xdp-filter         xdp-tools' xdp-filter, deny policy, the members as source addresses
#                      (it cannot AND an address with a port: udp/5060 is not checked)
#   ipt-nft-linear     iptables-nft with one rule per member
#   ipt-legacy-linear  iptables-legacy, the same
# and one variant measured in ebpf's namespace:
#   ebpf-fwd           ebpf with IPv4 forwarding on for the ingress device: the drop path's
#                      route check then asks bpf_fib_lookup (off, it reads the flag only)
# The IPv6 flood, the same whitelist over IPv6 (bench/whitelist.py --inet6: hash:ip family
# inet6 "wl6", ip6tables rules; frames from IPv6 sources to the tap's 2001:2:0:K::2), each in
# a namespace of its own:
#   floor6             the bare XDP drop (the same program: XDP_DROP whatever the frame)
#   ebpf6              ebpf-iptables, two layers: attach, then ebpf-ip6tables-restore
#                      (`restore -6`) of set6.rules + wl6.ipset: the kernel's ip6tables and
#                      the inet6 set hold the ruleset, XDP's IPv6 path (bpf/ipv6.h) in front
#   ebpf6-fwd          ebpf6 with IPv6 forwarding on for the tap (measured in ebpf6's
#                      namespace): the route check's bpf_fib_lookup then looks the route up
#                      (off, it answers FWD_DISABLED from the device's flag)
#   ipt-nft-set6       ip6tables-nft + ipset (inet6 set), no XDP program
#   ipt-legacy-set6    ip6tables-legacy + ipset
#   nft-set6           nftables with a native ipv6_addr set
#   xdp-filter6        xdp-filter --features ipv6, deny, the members as IPv6 source
#                      addresses (filter_ipv6 holds 10,000; no port, as for IPv4)
#   ref6-hash          not a firewall: bench/xdp_whitelist6.bpf.c, the least an XDP program
#                      does for this whitelist (parse Ethernet/IPv6/UDP, one hash lookup of
#                      the source, one per-CPU counter, drop): how far below ebpf6 the
#                      whitelist's own work lies
#   ref6-lpm           the same with the members in an LPM trie of /128 keys (as ebpf6 keeps
#                      every inet6 set)
# There is no IPv6 --xdp-only row (--xdp-only is an IPv4 layout) and no IPv6 linear rules.
# BENCH_COMPETITORS="floor ebpf ...": a subset (default: all).
read -r -a competitors <<<"${BENCH_COMPETITORS:-floor ebpf ebpf-full ebpf-xdp-only ipt-nft-set ipt-nft-pass ipt-legacy-set nft-set xdp-filter ipt-nft-linear ipt-legacy-linear floor6 ebpf6 ipt-nft-set6 ipt-legacy-set6 nft-set6 xdp-filter6 ref6-hash ref6-lpm}"
# The accepted packet (a whitelisted source to udp/5060) is measured for these.
acceptors=(ipt-nft-set ipt-nft-pass ebpf ebpf-xdp-only ipt-nft-set6 ebpf6)

# is_v6 NAME: whether the competitor (or variant) runs the IPv6 whitelist.
is_v6() { case $1 in floor6 | ebpf6 | ebpf6-fwd | ipt-nft-set6 | ipt-legacy-set6 | nft-set6 | xdp-filter6 | ref6-*) return 0 ;; esac; return 1; }

# home_of NAME: the namespace's competitor a variant is measured in (ebpf-fwd in ebpf's).
home_of() { case $1 in ebpf-fwd) echo ebpf ;; ebpf6-fwd) echo ebpf6 ;; *) echo "$1" ;; esac; }

# forwarding NAME 0|1: the ingress tap's forwarding flag of the variant's family.
forwarding() {
    local ns="$prefix-$(home_of "$1")"
    if is_v6 "$1"; then ip netns exec "$ns" sysctl -qw net.ipv6.conf.tap0.forwarding="$2"
    else ip netns exec "$ns" sysctl -qw net.ipv4.conf.tap0.forwarding="$2"; fi
}

# in_list WORD LIST...: whether WORD is one of LIST.
in_list() { local w=$1 x; shift; for x; do [ "$x" = "$w" ] && return 0; done; return 1; }

# can_hold NAME SIZE: whether the competitor is measured at that whitelist size.
can_hold() {
    case $1 in
        xdp-filter | xdp-filter6) [ "$2" -le 10000 ] ;; # its filter_ipv4/6 maps have 10,000 entries
        ipt-*-linear) [ "$2" -le 10000 ] ;;        # 10,000 linear rules already cost ~0.3 ms/packet
        ipt-nft-pass) in_list "$2" "${accept_sizes[@]}" ;;
        *) true ;;
    esac
}

# setup NAME SIZE IFACE: the competitor's ruleset for SIZE members (files in
# $work/files/SIZE from bench/whitelist.py) in its firewall namespace, XDP on IFACE.
setup() {
    local name=$1 size=$2 dev=$3 f="$work/files/$2"
    local ns="$prefix-$1"
    [ "${4:-}" ] && ns=$4
    # Called as an `if` condition, where errexit is off: every step is chained with &&.
    case $name in
        floor)
            ip -n "$ns" link set dev "$dev" xdpdrv obj "$obj/xdp_drop.bpf.o" sec xdp ;;
        ebpf)
            # The specialised program is opt-in for now (docs/specialised-program.md).
            nsx "$ns" env EBPF_IPTABLES_SPECIALISE=1 "$cli" attach "$dev" >/dev/null &&
                nsx "$ns" env EBPF_IPTABLES_SPECIALISE=1 "$cli" restore --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null ;;
        ebpf-full)
            nsx "$ns" env EBPF_IPTABLES_FULL_PROGRAM=1 "$cli" attach "$dev" >/dev/null &&
                nsx "$ns" env EBPF_IPTABLES_FULL_PROGRAM=1 "$cli" restore --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null ;;
        ebpf-xdp-only)
            nsx "$ns" "$cli" attach "$dev" >/dev/null &&
                nsx "$ns" "$cli" restore --xdp-only --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null ;;
        ipt-nft-set)
            nsx "$ns" ipset restore <"$f/wl.ipset" && nsx "$ns" iptables-nft-restore <"$f/set.rules" ;;
        ipt-nft-pass)
            nsx "$ns" ipset restore <"$f/wl.ipset" && nsx "$ns" iptables-nft-restore <"$f/set.rules" &&
                ip -n "$ns" link set dev "$dev" xdpdrv obj "$obj/xdp_pass.bpf.o" sec xdp ;;
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
            ip netns exec "$ns" sh -c "mount -t bpf bpf /sys/fs/bpf && xdp-filter load $dev --policy deny --features ipv4 --mode native" &&
                nsx "$ns" "$bench" fill-xdp-filter --interface "$dev" --members "$size" ;;
        floor6)
            ip -n "$ns" link set dev "$dev" xdpdrv obj "$obj/xdp_drop.bpf.o" sec xdp ;;
        ebpf6)
            nsx "$ns" env EBPF_IPTABLES_SPECIALISE=1 "$cli" attach "$dev" >/dev/null &&
                nsx "$ns" env EBPF_IPTABLES_SPECIALISE=1 "$cli" restore -6 --ipset "$f/wl6.ipset" "$f/set6.rules" >/dev/null ;;
        ipt-nft-set6)
            nsx "$ns" ipset restore <"$f/wl6.ipset" && nsx "$ns" ip6tables-nft-restore <"$f/set6.rules" ;;
        ipt-legacy-set6)
            nsx "$ns" ipset restore <"$f/wl6.ipset" && nsx "$ns" ip6tables-legacy-restore <"$f/set6.rules" ;;
        nft-set6)
            nsx "$ns" nft -f "$f/set6.nft" ;;
        xdp-filter6)
            local lock=/run/xdp-filter.lck
            if [ -f $lock ] && ! kill -0 "$(cat $lock)" 2>/dev/null; then rm -f $lock; fi
            # Members through one bpftool batch, in the same private bpffs xdp-filter pinned to.
            python3 bench/whitelist.py --bpftool6 "$size" "pinned /sys/fs/bpf/xdp-filter/filter_ipv6" xdp-filter >"$f/xdp-filter6.batch" &&
                ip netns exec "$ns" sh -c "mount -t bpf bpf /sys/fs/bpf && xdp-filter load $dev --policy deny --features ipv6 --mode native &&
                    bpftool batch file $f/xdp-filter6.batch >/dev/null" ;;
        ref6-hash | ref6-lpm)
            ip -n "$ns" link set dev "$dev" xdpdrv obj "$obj/xdp_whitelist6-${name#ref6-}.bpf.o" sec xdp &&
                fill_members6 "$ns" "$dev" "$size" "${name#ref6-}" ;;
        ipt-nft-linear)
            nsx "$ns" iptables-nft-restore <"$f/linear.rules" ;;
        ipt-legacy-linear)
            nsx "$ns" iptables-legacy-restore <"$f/linear.rules" ;;
    esac
}

# fill_members6 NS IFACE SIZE hash|lpm: the IPv6 whitelist's members into the members6 map
# of the bench/xdp_whitelist6.bpf.c program attached to IFACE (found through the program's
# maps: the map is not pinned), with one bpftool batch.
fill_members6() {
    local ns=$1 dev=$2 size=$3 kind=$4 prog id map=""
    prog=$(ip netns exec "$ns" bpftool net show dev "$dev" -j | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["xdp"][0]["id"])') || return 1
    for id in $(bpftool prog show id "$prog" -j | python3 -c 'import json, sys; print(*json.load(sys.stdin)["map_ids"])'); do
        [ "$(bpftool map show id "$id" -j | python3 -c 'import json, sys; print(json.load(sys.stdin)["name"])')" = members6 ] && map=$id
    done
    [ -n "$map" ] || { echo "no members6 map on $dev"; return 1; }
    python3 bench/whitelist.py --bpftool6 "$size" "id $map" "$kind" >"$work/files/$size/members6-$kind.batch" &&
        bpftool batch file "$work/files/$size/members6-$kind.batch" >/dev/null
}

# cost NAME SOURCE flood|accept: ns/packet (and frame counts) of one run of frames written
# to the competitor's tap, from SOURCE to udp/5060 of its address. The verdict of the XDP
# program on the tap and the socket's count are checked inside (tap-cost fails otherwise).
cost() {
    local name=$1 src=$2 mode=$3 ns="$prefix-$(home_of "$1")"
    local args=(tap-cost --interface tap0 --source "$src" --destination "$(tap_address "$ns")")
    if [ "$mode" = flood ]; then
        args+=(--deliver none)
        case $name in
            floor | ebpf | ebpf-fwd | ebpf-full | ebpf-xdp-only | xdp-filter) args+=(--expect drop) ;; # the program decides
            floor6 | ebpf6 | ebpf6-fwd | xdp-filter6 | ref6-*) args+=(--expect drop) ;;
            ipt-nft-pass) args+=(--expect pass) ;;                                        # netfilter decides
        esac
    else
        args+=(--deliver all)
        case $name in ebpf | ebpf-xdp-only | ipt-nft-pass | ebpf6) args+=(--expect pass) ;; esac
    fi
    nsx "$ns" "$bench" "${args[@]}"
}

# save_count SAVE-COMMAND NS PATTERN: packets of the rule iptables-save -c prints matching
# PATTERN, "-" when there is no such rule.
save_count() {
    nsx "$2" "$1" -c | awk -v p="$3" '$0 ~ p { gsub(/[\[\]]/, "", $1); split($1, c, ":"); n = c[1]; found = 1 }
        END { print (found ? n : "-") }'
}

# counters NAME: what the competitor's own counters say after the frames:
# `kernel_drop kernel_accept xdp_dropped xdp_passed` ("-" where there is no such counter).
# kernel_* are the kernel's rules (the final DROP, the set's ACCEPT); xdp_* ebpf-iptables'
# global statistics (dropped in XDP; passed up after judging).
counters() {
    local ns="$prefix-$1" kd=- ka=- xd=- xp=-
    case $1 in
        ipt-nft-set6) kd=$(save_count ip6tables-nft-save "$ns" "-A INPUT -j DROP"); ka=$(save_count ip6tables-nft-save "$ns" "match-set wl6 src") ;;
        ipt-legacy-set6) kd=$(save_count ip6tables-legacy-save "$ns" "-A INPUT -j DROP"); ka=$(save_count ip6tables-legacy-save "$ns" "match-set wl6 src") ;;
        ebpf6)
            # XDP's IPv6 drops have no global count in `status`: they are what `ebpf-ip6tables-save
            # -c` adds to the kernel's count of the DROP rule (docs/ipv6.md, Counters).
            kd=$(save_count ip6tables-nft-save "$ns" "-A INPUT -j DROP"); ka=$(save_count ip6tables-nft-save "$ns" "match-set wl6 src")
            local merged
            merged=$(nsx "$ns" "$cli" save -6 -c | awk '$0 ~ "-A INPUT -j DROP" { gsub(/[\[\]]/, "", $1); split($1, c, ":"); print c[1] }')
            [ -n "$merged" ] && [ "$kd" != - ] && xd=$((merged - kd)) ;;
        ipt-nft-*) kd=$(save_count iptables-nft-save "$ns" "-A INPUT -j DROP"); ka=$(save_count iptables-nft-save "$ns" "match-set wl src") ;;
        ipt-legacy-*) kd=$(save_count iptables-legacy-save "$ns" "-A INPUT -j DROP"); ka=$(save_count iptables-legacy-save "$ns" "match-set wl src") ;;
        nft-set | nft-set6) kd=$(nsx "$ns" nft list chain inet bench input | awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}') ;;
        ebpf*)
            kd=$(save_count iptables-nft-save "$ns" "-A INPUT -j DROP"); ka=$(save_count iptables-nft-save "$ns" "match-set wl src")
            read -r xd xp < <(nsx "$ns" "$cli" status | awk '/^packets:/ { print $2, $6 }') ;;
    esac
    echo "$kd $ka ${xd:--} ${xp:--}"
}
