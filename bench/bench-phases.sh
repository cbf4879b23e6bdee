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

# 1 + 2: live-frame cost per packet for every competitor and size, and the end-to-end
# NET_RX figures at $e2e_size.
phase_cost_per_packet() {
    printf 'rep\tsize\tcompetitor\tns_per_packet\tpackets\n' >"$raw/live.tsv"
    printf 'size\tcompetitor\tdropped_by_final_rule\n' >"$raw/checks.tsv"
    printf 'size\tcompetitor\tprogram_ns\tthread_ns\tverified_insns\txlated_insns\tjited_bytes\tmaps\n' >"$raw/profile.tsv"
    printf 'rep\tcompetitor\tmode\tsent\tseconds\tnetrx_ns\tnapi_packets\tidle_pct\n' >"$raw/e2e.tsv"
    local size
    for size in "${sizes[@]}"; do
        mkdir -p "$work/files/$size"
        local miss c
        miss=$(python3 bench/whitelist.py "$size" "$work/files/$size")
        local active=()
        for c in "${competitors[@]}"; do can_hold "$c" "$size" && active+=("$c"); done
        log "size $size: setting up ${active[*]}"
        for c in "${active[@]}"; do mkfw "$c"; done
        # ebpf-iptables loads in the background while the rest load one after the other
        # (iptables, ipset and libxdp take locks that parallel runs trip over).
        local ok=() ebpf_pid=""
        for c in "${active[@]}"; do
            if [ "$c" = ebpf ]; then
                setup ebpf "$size" >"$work/setup-ebpf.log" 2>&1 &
                ebpf_pid=$!
            elif setup "$c" "$size" >"$work/setup-$c.log" 2>&1; then
                ok+=("$c")
            else
                note "size $size: $c set-up failed: $(tail -1 "$work/setup-$c.log")"
            fi
        done
        if [ -n "$ebpf_pid" ]; then
            if wait "$ebpf_pid"; then ok+=(ebpf); else note "size $size: ebpf set-up failed: $(tail -1 "$work/setup-ebpf.log")"; fi
        fi
        log "size $size: measuring ${#ok[@]} competitors, $reps repetitions"
        local rep out
        for ((rep = 1; rep <= reps; rep++)); do
            for c in $(rotated "$rep" "${ok[@]}"); do
                if out=$(live "$c" "$miss" 2>"$work/live.err"); then
                    printf '%s\t%s\t%s\t%s\n' "$rep" "$size" "$c" "${out// /$'\t'}" >>"$raw/live.tsv"
                else
                    note "size $size: $c live-frame run failed: $(tail -1 "$work/live.err")"
                fi
            done
        done
        for c in "${ok[@]}"; do printf '%s\t%s\t%s\n' "$size" "$c" "$(dropped "$c")" >>"$raw/checks.tsv"; done
        for c in "${ok[@]}"; do
            case $c in floor | ebpf | xdp-filter) profile "$c" "$size" "$miss" ;; esac
        done
        [ "$size" = "$e2e_size" ] && phase_end_to_end "$miss" "${ok[@]}"
        for c in "${active[@]}"; do teardown "$c"; done
    done
}

# profile NAME SIZE MISS: the XDP program's own run time per packet (BPF run-time
# statistics, held for a fraction of a second) against the thread's, and its size.
profile() {
    local c=$1 size=$2 miss=$3 k=${slots[$1]} out
    local args=(profile --interface fw0 --source "$miss" --destination "198.18.$k.2")
    [ "$c" = floor ] && args+=(--object "$obj/xdp_drop.bpf.o" --program xdp_drop)
    if out=$(nsx "$prefix-$c" "$bench" "${args[@]}" 2>"$work/profile.err"); then
        echo "$out" | awk -v s="$size" -v c="$c" '{ v[$1] = $2 }
            END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, c, v["program_ns"], v["thread_ns"], v["verified_insns"], v["xlated_insns"], v["jited_bytes"], v["maps"] }' >>"$raw/profile.tsv"
    else
        note "size $size: profiling $c failed: $(tail -1 "$work/profile.err")"
    fi
}

# 2: end to end. The generator sends flood frames through g<k> at 40,000 packets/s (fixed)
# and as fast as one thread can (saturation); NET_RX time and NAPI packets come from the
# softirq meter, machine-wide (the idle share is recorded alongside).
phase_end_to_end() {
    local miss=$1; shift
    local comps=("$@") c rep mode
    log "end to end at $e2e_size members: ${comps[*]}"
    for c in "${comps[@]}"; do e2e_attach "$c" || note "end to end: attaching $c failed"; done
    for ((rep = 1; rep <= reps; rep++)); do
        for c in $(rotated "$rep" "${comps[@]}"); do
            local k=${slots[$c]} mac
            mac=$(ip netns exec "$prefix-$c" cat /sys/class/net/fw0/address)
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
    for r in 0-reject 2-reject 4-reject 1-drop; do for c in ipt ebpf; do rmfw "sip-$c-$r"; done; done
}

# ms since the epoch, for whole-command timings.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# 4: control plane. Restore of N members into a fresh namespace: ebpf-iptables restore
# (set + rules, one command) against ipset restore + iptables-restore (nft); then one live
# add into the 100,000-member set: `ebpf-iptables ipset add`, the full `ebpf-iptables ipset
# restore` it replaces while that command is missing, and `ipset add`.
phase_control_plane() {
    printf 'rep\twhat\tmembers\tms\n' >"$raw/control.tsv"
    local rep n t0 t1 c
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
                [ "$n" = 100000 ] && live_add "$c" "$ns" "$rep" "$f"
                rmfw "cp-$c-$n-$rep"
            done
            # The user-space share of the largest restore: the same files, no kernel.
            if [ "$n" = 1000000 ]; then
                t0=$(now_ms)
                if "$cli" restore --test --ipset "$f/wl.ipset" "$f/set.rules" >/dev/null 2>&1; then
                    t1=$(now_ms); printf '%s\tebpf-parse-compile\t%s\t%s\n' "$rep" "$n" $((t1 - t0)) >>"$raw/control.tsv"
                fi
            fi
        done
    done
}

# live_add ebpf|iptables NS REP FILES: one new member added to the running set.
live_add() {
    local c=$1 ns=$2 rep=$3 f=$4 t0 t1
    local ip="10.255.0.$rep" # not a member: the whitelist's addresses are index * odd mod 2^24
    if [ "$c" = iptables ]; then
        t0=$(now_ms)
        nsx "$ns" ipset add wl "$ip" && t1=$(now_ms) && printf '%s\tipset-add\t1\t%s\n' "$rep" $((t1 - t0)) >>"$raw/control.tsv"
        return 0
    fi
    t0=$(now_ms)
    if nsx "$ns" "$cli" ipset add wl "$ip" >/dev/null 2>"$work/add.err"; then
        t1=$(now_ms); printf '%s\tebpf-add\t1\t%s\n' "$rep" $((t1 - t0)) >>"$raw/control.tsv"
    else
        printf '%s\tebpf-add\t1\tNA\n' "$rep" >>"$raw/control.tsv"
        [ "$rep" = 1 ] && note "control plane: 'ebpf-iptables ipset add' not available: $(head -1 "$work/add.err")"
    fi
    # The other way to change a set: reload it whole, plus the line (-exist: the set exists).
    { cat "$f/wl.ipset"; echo "add wl 10.255.1.$rep"; } >"$work/add.ipset"
    t0=$(now_ms)
    if nsx "$ns" "$cli" ipset -exist restore <"$work/add.ipset" >/dev/null 2>"$work/add.err"; then
        t1=$(now_ms); printf '%s\tebpf-add-by-restore\t1\t%s\n' "$rep" $((t1 - t0)) >>"$raw/control.tsv"
    else note "control plane: ebpf-iptables ipset restore (add) failed: $(head -3 "$work/add.err" | tr '\n' ' ')"; fi
}
