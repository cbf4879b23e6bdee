#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The SIP whitelist of scripts/bench in every competitor's syntax.

whitelist.py N DIR writes, for N members of 10.0.0.0/8:
  wl.ipset       ipset save text (hash:ip set "wl")
  set.rules      iptables-save text: udp/5060 from @wl accepted, the rest dropped; read by
                 iptables-restore (nft and legacy) and by ebpf-iptables restore alike
  linear.rules   the same whitelist as N rules, one per address (only written for N <= 10,000)
  set.nft        nftables: the same with a native set
and prints the address of a non-member (the flood's source).

whitelist.py --member N prints the address of one member of that whitelist (the accepted
packet's source), writing nothing.

whitelist.py --inet6 N DIR writes the same whitelist over IPv6, N members of 2001:db8::/32:
  wl6.ipset      ipset save text (hash:ip family inet6 set "wl6")
  set6.rules     ip6tables-save text: udp/5060 from @wl6 accepted, the rest dropped; read by
                 ip6tables-restore (nft and legacy) and by ebpf-ip6tables-restore alike
  set6.nft       nftables: the same with a native ipv6_addr set
and prints the address of a non-member. whitelist.py --inet6-member N prints a member;
whitelist.py --bpftool6 N TARGET KIND prints bpftool batch lines filling an IPv6 map with
the members (xdp-filter's, or bench/xdp_whitelist6.bpf.c's hash or LPM trie).

whitelist.py sip DIR writes the rulesets of the thesis's SIP flood table: sip.ipset with
four disjoint 10,000-member whitelists wl1..wl4, and sip-K-reject.rules (K = 0, 2, 4
whitelists accepted on udp/5060, then REJECT) and sip-1-drop.rules (one, then DROP).
Addresses follow WhitelistRuleset.address in Sources/ebpf-iptables-bench: index times an
odd constant modulo 2^24, so they are distinct and spread over the /8.
"""
import os
import sys


def address(i):
    a = 0x0A000000 | ((i * 0x9E3779B1) & 0xFFFFFF)
    return "%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255)


def address6(i):
    """Member i over IPv6: the same 24 bits as address(i), in the routing prefix (bits 40-63:
    where the SIP peers of different carriers differ), interface ID ::1."""
    a = (i * 0x9E3779B1) & 0xFFFFFF
    return "2001:db8:%x:%x::1" % (a >> 16, a & 0xFFFF)


def inet6(n, d):
    members = [address6(i) for i in range(n)]
    hashsize = 1024
    while hashsize < n // 4:
        hashsize *= 2
    head = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    with open(os.path.join(d, "wl6.ipset"), "w") as f:
        f.write("create wl6 hash:ip family inet6 hashsize %d maxelem %d\n" % (hashsize, max(n + 1024, 65536)))
        f.writelines("add wl6 %s\n" % a for a in members)
    with open(os.path.join(d, "set6.rules"), "w") as f:
        f.write(head + "-A INPUT -m set --match-set wl6 src -p udp --dport 5060 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n")
    with open(os.path.join(d, "set6.nft"), "w") as f:
        f.write("table inet bench {\n  set wl6 {\n    type ipv6_addr\n    size %d\n" % max(n, 65536))
        if members:
            f.write("    elements = {\n")
            f.writelines("      %s,\n" % a for a in members)
            f.write("    }\n")
        f.write("  }\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
                "    ip6 saddr @wl6 udp dport 5060 accept\n    counter drop\n  }\n}\n")
    print(address6(n))


def sip(d):
    per = 10000
    with open(os.path.join(d, "sip.ipset"), "w") as f:
        for k in range(1, 5):
            f.write("create wl%d hash:ip family inet hashsize 4096 maxelem 65536\n" % k)
            f.writelines("add wl%d %s\n" % (k, address((k - 1) * per + i)) for i in range(per))
    head = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    for k, last in ((0, "REJECT"), (2, "REJECT"), (4, "REJECT"), (1, "DROP")):
        with open(os.path.join(d, "sip-%d-%s.rules" % (k, last.lower())), "w") as f:
            f.write(head)
            f.writelines("-A INPUT -m set --match-set wl%d src -p udp --dport 5060 -j ACCEPT\n" % j for j in range(1, k + 1))
            f.write("-A INPUT -j %s\nCOMMIT\n" % last)


def main():
    if sys.argv[1] == "--member":
        print(address(int(sys.argv[2]) // 2))
        return
    if sys.argv[1] == "--inet6-member":
        print(address6(int(sys.argv[2]) // 2))
        return
    if sys.argv[1] == "--bpftool6":
        # bpftool batch lines that put members 0..N-1 in map TARGET ("pinned PATH", "id N"):
        # KIND xdp-filter: xdp-filter's filter_ipv6 (16-byte key, MAP_FLAG_SRC on every CPU),
        # what `xdp-filter ip ADDR --mode src` does for one address; hash / lpm: the members6
        # map of bench/xdp_whitelist6.bpf.c (16-byte key, or prefixlen 128 + address).
        # One process for all of them instead of one per address.
        n, target, kind = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        import ipaddress
        head = {"xdp-filter": "", "hash": "", "lpm": "80 00 00 00 "}[kind]
        value = "01 00 00 00 00 00 00 00" if kind == "xdp-filter" else "01 00 00 00"
        out = sys.stdout
        for i in range(n):
            key = " ".join("%02x" % b for b in ipaddress.IPv6Address(address6(i)).packed)
            out.write("map update %s key hex %s%s value hex %s\n" % (target, head, key, value))
        return
    if sys.argv[1] == "--inet6":
        inet6(int(sys.argv[2]), sys.argv[3])
        return
    if sys.argv[1] == "sip":
        sip(sys.argv[2])
        return
    n, d = int(sys.argv[1]), sys.argv[2]
    members = [address(i) for i in range(n)]
    hashsize = 1024
    while hashsize < n // 4:
        hashsize *= 2
    head = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    with open(os.path.join(d, "wl.ipset"), "w") as f:
        f.write("create wl hash:ip family inet hashsize %d maxelem %d\n" % (hashsize, max(n + 1024, 65536)))
        f.writelines("add wl %s\n" % a for a in members)
    with open(os.path.join(d, "set.rules"), "w") as f:
        f.write(head + "-A INPUT -m set --match-set wl src -p udp --dport 5060 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n")
    if n <= 10000:
        with open(os.path.join(d, "linear.rules"), "w") as f:
            f.write(head)
            f.writelines("-A INPUT -s %s/32 -p udp -m udp --dport 5060 -j ACCEPT\n" % a for a in members)
            f.write("-A INPUT -j DROP\nCOMMIT\n")
    with open(os.path.join(d, "set.nft"), "w") as f:
        f.write("table inet bench {\n  set wl {\n    type ipv4_addr\n    size %d\n" % max(n, 65536))
        if members:
            f.write("    elements = {\n")
            f.writelines("      %s,\n" % a for a in members)
            f.write("    }\n")
        f.write("  }\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
                "    ip saddr @wl udp dport 5060 accept\n    counter drop\n  }\n}\n")
    print(address(n))


if __name__ == "__main__":
    main()
