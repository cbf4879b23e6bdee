# Sourced by scripts/bench: the measuring phases. Each appends tab-separated samples to
# $raw/*.tsv; bench/report.py turns them into bench/RESULTS.md. A competitor that fails to
# set up or to measure is written down as unavailable (notes.tsv), never guessed.

note() { printf '%s\n' "$*" >>"$raw/notes.tsv"; log "note: $*"; }

# rotated REP ITEMS...: the items starting at position REP, so that no competitor always
# runs first (or right after the same neighbour) in every repetition.
rotated() {
    local rep=$1; shift
    local items=("$@") n=$# i
    for ((i = 0; i < n; i++)); do echo "${items[$(((i + rep) % n))]}"; done
}

# setup_all SIZE IFACE NAMESPACE-OF NAMES...: sets up each competitor (ebpf-iptables ones
# in the background, while the rest load one after the other: iptables, ipset and libxdp
# take locks that parallel runs trip over) and prints the names that set up.
setup_all() {
    local size=$1 dev=$2 nsof=$3; shift 3
    local c ok=() pids=() names=()
    for c in "$@"; do
        local ns; ns=$($nsof "$c")
        case $c in
            ebpf*)
                setup "$c" "$size" "$dev" "$ns" >"$work/setup-$c.log" 2>&1 &
                pids+=($!); names+=("$c") ;;
            *)
                if setup "$c" "$size" "$dev" "$ns" >"$work/setup-$c.log" 2>&1; then ok+=("$c")
                else note "size $size: $c set-up failed: $(tail -1 "$work/setup-$c.log")"; fi ;;
        esac
    done
    local i
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then ok+=("${names[$i]}")
        else note "size $size: ${names[$i]} set-up failed: $(tail -1 "$work/setup-${names[$i]}.log")"; fi
    done
    echo "${ok[@]}"
}
cost_ns() { echo "$prefix-$1"; }
e2e_ns() { echo "$prefix-e2e-$1"; }

# 1: cost per packet of frames written to each competitor's tap: the SIP flood (a source
# outside the whitelist, dropped) at every size, and the accepted packet (a member, to the
# socket on udp/5060) at $accept_sizes; IPv6 competitors (is_v6) get the IPv6 whitelist and
# frames, interleaved with the IPv4 ones. Then the counters' check and the XDP profile, and
# the IPv6 program's cost per part (profile_parts6).
phase_cost_per_packet() {
    printf 'rep\tsize\tcompetitor\tmode\tns_per_packet\tpackets\twritten\tdelivered\n' >"$raw/cost.tsv"
    printf 'size\tcompetitor\tflood_written\taccept_written\tdelivered\tkernel_drop\tkernel_accept\txdp_dropped\txdp_passed\n' >"$raw/checks.tsv"
    printf 'rep\tsize\tcompetitor\tprogram_ns\tthread_ns\tverified_insns\txlated_insns\tjited_bytes\tmaps\n' >"$raw/profile.tsv"
    printf 'rep\tsize\tcompetitor\tframe\tprogram_ns\tthread_ns\truns\n' >"$raw/parts6.tsv"
    local size
    for size in "${sizes[@]}"; do
        mkdir -p "$work/files/$size"
        local miss hit miss6="" hit6="" c
        miss=$(python3 bench/whitelist.py "$size" "$work/files/$size")
        hit=$(python3 bench/whitelist.py --member "$size")
        local active=()
        for c in "${competitors[@]}"; do can_hold "$c" "$size" && active+=("$c"); done
        for c in "${active[@]}"; do
            if is_v6 "$c"; then
                miss6=$(python3 bench/whitelist.py --inet6 "$size" "$work/files/$size")
                hit6=$(python3 bench/whitelist.py --inet6-member "$size")
                break
            fi
        done
        log "size $size: setting up ${active[*]}"
        for c in "${active[@]}"; do if is_v6 "$c"; then mktap6 "$c"; else mktap "$c"; fi; done
        local ok
        read -r -a ok <<<"$(setup_all "$size" tap0 cost_ns "${active[@]}")"
        # What is measured: the flood for everyone (and ebpf, ebpf6 again with forwarding on),
        # the accepted packet for the acceptors at the accept sizes.
        local items=()
        for c in "${ok[@]}"; do
            items+=("$c:flood")
            [ "$c" = ebpf ] && items+=("ebpf-fwd:flood")
            [ "$c" = ebpf6 ] && items+=("ebpf6-fwd:flood")
            if in_list "$size" "${accept_sizes[@]}" && in_list "$c" "${acceptors[@]}"; then items+=("$c:accept"); fi
        done
        log "size $size: measuring ${#items[@]} paths, $cost_reps repetitions"
        declare -A flood=() accept=() delivered=()
        local rep item out
        for ((rep = 1; rep <= cost_reps; rep++)); do
            for item in $(rotated "$rep" "${items[@]}"); do
                c=${item%%:*}; local mode=${item#*:} home src
                home=$(home_of "$c")
                if is_v6 "$c"; then src=$miss6; [ "$mode" = accept ] && src=$hit6
                else src=$miss; [ "$mode" = accept ] && src=$hit; fi
                [ "$c" != "$home" ] && forwarding "$c" 1
                if out=$(cost "$c" "$src" "$mode" 2>"$work/cost.err"); then
                    printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$c" "$mode" "${out// /$'\t'}" >>"$raw/cost.tsv"
                    read -r _ _ w d <<<"$out"
                    if [ "$mode" = flood ]; then flood[$home]=$(( ${flood[$home]:-0} + w )); else accept[$home]=$(( ${accept[$home]:-0} + w )); fi
                    delivered[$home]=$(( ${delivered[$home]:-0} + d ))
                else
                    note "size $size: $c $mode run failed: $(tail -1 "$work/cost.err")"
                fi
                [ "$c" != "$home" ] && forwarding "$c" 0
            done
        done
        for c in "${ok[@]}"; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$c" "${flood[$c]:-0}" "${accept[$c]:-0}" "${delivered[$c]:-0}" \
                "$(counters "$c" | tr ' ' '\t')" >>"$raw/checks.tsv"
        done
        unset flood accept delivered
        # The XDP programs' own time, after the checks (these frames are not counted there).
        local profiled=()
        for c in "${ok[@]}"; do
            case $c in
                floor | ebpf-full | ebpf-xdp-only | xdp-filter | floor6 | xdp-filter6 | ref6-*) profiled+=("$c") ;;
                ebpf) profiled+=(ebpf ebpf-fwd) ;;
                ebpf6) profiled+=(ebpf6 ebpf6-fwd) ;;
            esac
        done
        for ((rep = 1; rep <= reps; rep++)); do
            for c in $(rotated "$rep" "${profiled[@]}"); do
                if is_v6 "$c"; then profile "$c" "$size" "$miss6" "$rep"; else profile "$c" "$size" "$miss" "$rep"; fi
            done
        done
        in_list ebpf6 "${ok[@]}" && profile_parts6 "$size" "$miss6" "$hit6" "$(in_list floor6 "${ok[@]}" && echo floor6)"
        for c in "${active[@]}"; do rmfw "$c"; done
    done
}

# profile NAME SIZE MISS REP [ARGS...]: the XDP program's own run time per packet (BPF
# run-time statistics, held for a fraction of a second) against the thread's, and its size.
profile() {
    local c=$1 size=$2 miss=$3 rep=$4 ns out
    ns="$prefix-$(home_of "$1")"
    [ "$c" != "$(home_of "$c")" ] && forwarding "$c" 1
    if out=$(nsx "$ns" "$bench" profile --interface tap0 --source "$miss" --destination "$(tap_address "$ns")" 2>"$work/profile.err"); then
        echo "$out" | awk -v r="$rep" -v s="$size" -v c="$c" '{ v[$1] = $2 }
            END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, s, c, v["program_ns"], v["thread_ns"], v["verified_insns"], v["xlated_insns"], v["jited_bytes"], v["maps"] }' >>"$raw/profile.tsv"
    else
        note "size $size: profiling $c failed: $(tail -1 "$work/profile.err")"
    fi
    [ "$c" != "$(home_of "$c")" ] && forwarding "$c" 0
    return 0
}

# profile_parts6 SIZE MISS6 HIT6 [floor6]: the IPv6 path's cost taken apart. The same program
# (ebpf6's) is run on frames that leave it at different points of bpf/ipv6.h, each under
# the BPF run-time statistics, rotated over $reps repetitions with the bare drop (floor6):
#   early     a multicast source: passed right after the header is read (ip6_rcv_core
#             drops such sources before PREROUTING)
#   ndp       a router solicitation (ICMPv6 133): the extension-header walk and the transport
#             header, then passed (NDP is never judged)
#   port5061  a non-member to udp/5061: the judge (both entries; the first fails on the port
#             before its set test), the route check, the drop counter: a drop without the
#             set lookup
#   flood     the flood (a non-member to udp/5060): the same plus the set's LPM lookup (a miss)
#   member    a member to udp/5060: the judge's first entry with the set lookup (a hit), passed
#             up (no route check, no drop counter)
profile_parts6() {
    local size=$1 miss6=$2 hit6=$3 rep f out
    local ns="$prefix-ebpf6" dst
    dst=$(tap_address "$ns")
    local frames=(ebpf6:early ebpf6:ndp ebpf6:port5061 ebpf6:flood ebpf6:member)
    [ -n "${4:-}" ] && frames+=(floor6:flood)
    for ((rep = 1; rep <= reps; rep++)); do
        for f in $(rotated "$rep" "${frames[@]}"); do
            local c=${f%%:*} frame=${f#*:} args=()
            case $frame in
                early) args=(--source ff02::1:5060 --destination "$dst") ;;
                ndp) args=(--source "$miss6" --destination "$dst" --icmpv6-type 133) ;;
                port5061) args=(--source "$miss6" --destination "$dst" --dport 5061) ;;
                flood) args=(--source "$miss6" --destination "$(tap_address "$prefix-$c")") ;;
                member) args=(--source "$hit6" --destination "$dst") ;;
            esac
            if out=$(nsx "$prefix-$c" "$bench" profile --interface tap0 "${args[@]}" 2>"$work/profile.err"); then
                echo "$out" | awk -v r="$rep" -v s="$size" -v c="$c" -v f="$frame" '{ v[$1] = $2 }
                    END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, s, c, f, v["program_ns"], v["thread_ns"], v["runs"] }' >>"$raw/parts6.tsv"
            else
                note "size $size: IPv6 parts, $c $frame failed: $(tail -1 "$work/profile.err")"
            fi
        done
    done
}

# 2: end to end at $e2e_size members, each competitor in a namespace wired to the generator
# by a veth. The generator sends flood frames through g<k> at 40,000 packets/s (fixed) and as
# fast as one thread can (saturation); NET_RX time and NAPI packets come from the softirq
# meter, machine-wide (the idle share is recorded alongside).
phase_end_to_end() {
    printf 'rep\tcompetitor\tmode\tsent\tseconds\tnetrx_ns\tnapi_packets\tidle_pct\n' >"$raw/e2e.tsv"
    local size=$e2e_size f="$work/files/$e2e_size" c
    mkdir -p "$f"
    local miss; miss=$(python3 bench/whitelist.py "$size" "$f")
    local comps=()
    for c in "${competitors[@]}"; do can_hold "$c" "$size" && [ "$c" != ipt-nft-pass ] && comps+=("$c"); done
    for c in "${comps[@]}"; do mkfw "e2e-$c"; done
    local ok
    read -r -a ok <<<"$(setup_all "$size" fw0 e2e_ns "${comps[@]}")"
    log "end to end at $size members: ${ok[*]}"
    local rep mode
    for ((rep = 1; rep <= reps; rep++)); do
        for c in $(rotated "$rep" "${ok[@]}"); do
            local k=${slots[e2e-$c]} mac
            mac=$(ip netns exec "$prefix-e2e-$c" cat /sys/class/net/fw0/address)
            for mode in fixed saturation; do
                local rate=40000 count=40000 max=2
                [ $mode = saturation ] && { rate=0; count=150000; max=1.5; }
                local out
                if out=$("$bench" netrx --meter "$meter" --idle-ms 100 --interval-ms 1000 -- \
                    ip netns exec "$gen" "$bench" send --interface "g$k" --source "$miss" --destination "198.18.$k.2" \
                    --dst-mac "$mac" --rate $rate --count $count --max-seconds $max 2>"$work/e2e.err"); then
                    echo "$out" | awk -v rep="$rep" -v c="$c" -v m="$mode" '
                        NF == 2 && $1 ~ /^[0-9]+$/ && $2 ~ /\./ { sent = $1; secs = $2 }
                        $1 == "netrx_ns" { ns = $2 } $1 == "packets" { pk = $2 } $1 == "idle_pct" { idle = $2 }
                        END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rep, c, m, sent, secs, ns, pk, idle }' >>"$raw/e2e.tsv"
                else
                    note "end to end: $c $mode failed: $(tail -1 "$work/e2e.err")"
                fi
            done
        done
    done
    for c in "${comps[@]}"; do rmfw "e2e-$c"; done
}

# 3: the thesis's SIP flood table. SIPp (uac scenario, no responder) sends INVITEs from the
# generator to udp/5060 of each firewall namespace; the receiver's CPU is NET_RX time as %
# of one core: initial (idle window before), max (busiest 1 s interval), increase.
phase_sipp() {
    printf 'rep\trate\tconfig\tinitial_pct\tmax_pct\tnetrx_ns\twall_ns\tinvites\tretrans\n' >"$raw/sipp.tsv"
    if ! command -v sipp >/dev/null; then note "sipp: not installed, SIP flood table not measured"; return; fi
    local f="$work/files/sip"
    mkdir -p "$f"
    python3 bench/whitelist.py sip "$f"
    local configs=() r c
    for r in 0-reject 2-reject 4-reject 1-drop; do
        for c in ipt ebpf; do
            mkfw "sip-$c-$r"
            local ns=$fwns
            if [ $c = ipt ]; then
                nsx "$ns" ipset restore <"$f/sip.ipset" && nsx "$ns" iptables-nft-restore <"$f/sip-$r.rules" \
                    && configs+=("$c-$r") || note "sipp: setting up $c-$r failed"
            else
                nsx "$ns" "$cli" attach fw0 >/dev/null && nsx "$ns" "$cli" restore --reject-as-drop --ipset "$f/sip.ipset" \
                    "$f/sip-$r.rules" >/dev/null 2>>"$work/sipp-setup.log" && configs+=("$c-$r") || note "sipp: setting up $c-$r failed"
            fi
        done
    done
    log "sipp: ${configs[*]} at ${sipp_rates[*]} calls/s, $sipp_seconds s each, $reps repetitions"
    local rep rate out
    for ((rep = 1; rep <= reps; rep++)); do
        for rate in "${sipp_rates[@]}"; do
            for c in $(rotated "$rep" "${configs[@]}"); do
                local k=${slots[sip-$c]}
                # -m bounds the calls, timeout the time; SIPp prints its final screen on SIGTERM.
                out=$("$bench" netrx --meter "$meter" --idle-ms 500 --interval-ms 1000 -- \
                    ip netns exec "$gen" timeout "$sipp_seconds" sipp -sn uac "198.18.$k.2:5060" -i "198.18.$k.1" -p 5070 \
                    -r "$rate" -m $((rate * (sipp_seconds + 1))) -l 10000000 -nostdin -fd 1 2>&1) || true
                echo "$out" | awk -v rep="$rep" -v rate="$rate" -v c="$c" '
                    $1 == "idle_pct" { idle = $2 } $1 == "max_pct" { mx = $2 } $1 == "netrx_ns" { ns = $2 } $1 == "wall_ns" { w = $2 }
                    $1 == "INVITE" && $2 ~ /^-+>$/ { inv = $3; re = $4 }
                    END { if (ns == "") exit 1; printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rep, rate, c, idle, mx, ns, w, inv, re }' \
                    >>"$raw/sipp.tsv" || note "sipp: $c at $rate calls/s: no measurement"
            done
        done
    done
    # Every ebpf-iptables configuration must have dropped the flood in XDP, not in the kernel.
    printf 'phase\tconfig\tdropped\n' >"$raw/sipp-checks.tsv"
    for r in 0-reject 2-reject 4-reject 1-drop; do
        local dropped
        dropped=$(nsx "$prefix-sip-ebpf-$r" "$cli" status 2>/dev/null | awk '/^packets:/ { print $2 }')
        printf 'sipp\tebpf-%s\t%s\n' "$r" "${dropped:-0}" >>"$raw/sipp-checks.tsv"
    done
    for r in 0-reject 2-reject 4-reject 1-drop; do for c in ipt ebpf; do rmfw "sip-$c-$r"; done; done
}

# ms since the epoch, for whole-command timings.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# 4: control plane. Restore of N members into a fresh namespace: ebpf-iptables restore
# (set + rules, one command, XDP attached: a dry run in a throwaway namespace, the kernel's
# ipset restore and iptables-restore, the read-back, XDP) against ipset restore +
# iptables-restore (nft) alone. One more ebpf-iptables restore per size runs with the kernel
# tools behind timing wrappers (EBPF_IPTABLES_TOOLS_PATH), which split it into the tools'
# share and ours; restore-split times our own steps (parse, compile, XDP write) alone.
phase_control_plane() {
    printf 'rep\twhat\tmembers\tms\n' >"$raw/control.tsv"
    printf 'members\ttool\tstart\tend\tstatus\targs\n' >"$raw/control-tools.tsv"
    printf 'members\tstep\tseconds\n' >"$raw/control-split.tsv"
    local rep n t0 t1 c
    make_tool_timers "$work/tooltimers"
    for n in "${cp_sizes[@]}"; do
        mkdir -p "$work/files/$n"
        [ -f "$work/files/$n/wl.ipset" ] || python3 bench/whitelist.py "$n" "$work/files/$n" >/dev/null
    done
    for ((rep = 1; rep <= reps; rep++)); do
        for n in "${cp_sizes[@]}"; do
            local f="$work/files/$n"
            for c in $(rotated "$rep" ebpf iptables); do
                mkfw "cp-$c-$n-$rep"
                local ns=$fwns
                if [ $c = ebpf ]; then
                    nsx "$ns" "$cli" attach fw0 >/dev/null
                    t0=$(now_ms)
                    if nsx "$ns" "$cli" restore --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null 2>"$work/cp.err"; then
                        t1=$(now_ms); printf '%s\tebpf-restore\t%s\t%s\n' "$rep" "$n" $((t1 - t0)) >>"$raw/control.tsv"
                    else note "control plane: ebpf-iptables restore of $n failed: $(tail -1 "$work/cp.err")"; fi
                else
                    t0=$(now_ms)
                    if nsx "$ns" ipset restore <"$f/wl.ipset" && nsx "$ns" iptables-nft-restore <"$f/set.rules"; then
                        t1=$(now_ms); printf '%s\tipset-restore\t%s\t%s\n' "$rep" "$n" $((t1 - t0)) >>"$raw/control.tsv"
                    else note "control plane: ipset + iptables-restore of $n failed"; fi
                fi
                rmfw "cp-$c-$n-$rep"
            done
        done
    done
    for n in "${cp_sizes[@]}"; do
        local f="$work/files/$n"
        # The same restore with every kernel tool timed.
        mkfw "cp-split-$n"
        local ns=$fwns log="$work/tools-$n.log"
        : >"$log"
        nsx "$ns" "$cli" attach fw0 >/dev/null
        t0=$(now_ms)
        if nsx "$ns" env EBPF_IPTABLES_TOOLS_PATH="$work/tooltimers:/usr/sbin:/sbin:/usr/bin:/bin" BENCH_TOOL_LOG="$log" \
            "$cli" restore --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null 2>"$work/cp.err"; then
            t1=$(now_ms); printf 'split\tebpf-restore-timed\t%s\t%s\n' "$n" $((t1 - t0)) >>"$raw/control.tsv"
            awk -F'\t' -v n="$n" '{ printf "%s\t%s\t%s\t%s\t%s\t%s\n", n, $1, $2, $3, $4, $5 }' "$log" >>"$raw/control-tools.tsv"
        else note "control plane: the timed ebpf-iptables restore of $n failed: $(tail -1 "$work/cp.err")"; fi
        rmfw "cp-split-$n"
        # Our own steps alone, in one process, no kernel tools.
        local out
        if out=$("$bench" restore-split --ipset "$f/wl.ipset" --rules "$f/set.rules" 2>"$work/cp.err"); then
            echo "$out" | awk -v n="$n" '{ printf "%s\t%s\t%s\n", n, $1, $2 }' >>"$raw/control-split.tsv"
        else note "control plane: restore-split of $n failed: $(tail -1 "$work/cp.err")"; fi
    done
}
