# Sourced by scripts/bench and scripts/bench-live.
# make_tool_timers DIR: for each kernel tool ebpf-iptables runs, a wrapper in DIR that runs
# the real one and appends `tool start end status args` to $BENCH_TOOL_LOG (bash's
# EPOCHREALTIME: no fork for the clock; about 2 ms of bash start-up per call).
make_tool_timers() {
    local dir=$1 tool real
    mkdir -p "$dir"
    for tool in unshare ipset iptables-restore iptables-save iptables nft; do
        real=$(PATH=/usr/sbin:/sbin:/usr/bin:/bin command -v "$tool") || continue
        cat >"$dir/$tool" <<WRAP
#!/bin/bash
start=\$EPOCHREALTIME
"$real" "\$@"
rc=\$?
args="\$*"
printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "\$start" "\$EPOCHREALTIME" "\$rc" "\${args//\$'\n'/ }" >>"\${BENCH_TOOL_LOG:-/dev/null}"
exit \$rc
WRAP
        chmod +x "$dir/$tool"
    done
}
