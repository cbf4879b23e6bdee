/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Map layouts of the IPv6 data plane (bpf/ipv6.h judges with them; Swift writes them
 * through the CLibbpf module). The kernel's ip6tables holds the whole IPv6 ruleset; these
 * tables let XDP drop early what its filter INPUT would certainly drop (docs/ipv6.md).
 *
 * IPv6 has its own live word and generations (live6, v6_conf): an IPv6 change never waits
 * for an IPv4 one, and the IPv4 maps keep their layout. Addresses are network order.
 */
#ifndef EBPF_IPTABLES_IPV6_LAYOUT_H
#define EBPF_IPTABLES_IPV6_LAYOUT_H

#define EIPT6_MAX_ENTRIES 1024u   /* first-match entries per generation */
#define EIPT6_MAX_POSITIONS 1024u /* counted positions per generation (policy at v6_conf.positions) */
#define EIPT6_MAX_SET_KEYS 1048576u /* set members per generation (all sets together) */
#define EIPT6_MAX_EXT_HDRS 8      /* extension headers walked; one more: the packet passes unjudged */

/* v6_conf: ARRAY, 2 entries (one per generation). */
struct eipt6_conf {
	__u32 policy;    /* enum eipt_verdict: ACCEPT or DROP */
	__u32 count;     /* entries used in v6_rules_N */
	__u32 positions; /* positions used; the policy's counter sits at index `positions` */
	__u32 flags;     /* EIPT6_GEN_* */
};
/* The ruleset NATs or needs what XDP cannot see: every IPv6 packet passes. */
#define EIPT6_GEN_PASS_ALL (1u << 0)
/* The ruleset loads conntrack for IPv6 (a state or conntrack match, a CT target), so
 * nf_defrag_ipv6 reassembles before PREROUTING: a first fragment passes, and the kernel
 * judges (and counts) the whole datagram, or drops an incomplete one without counting. */
#define EIPT6_GEN_FRAGMENTS_UP (1u << 1)
/* Some entry tests the conntrack state: the judge looks the packet up first. */
#define EIPT6_GEN_NEEDS_CT (1u << 2)

/* v6_rules_N: ARRAY[EIPT6_MAX_ENTRIES]. Scanned in order; the first entry whose every
 * present test holds (a negated one must not) decides by its verdict. Several entries of
 * one position are the alternatives of one rule (multiport). */
enum eipt6_test {
	EIPT6_T_SRC = 1 << 0,   /* source & src_mask == src */
	EIPT6_T_DST = 1 << 1,
	EIPT6_T_PROTO = 1 << 2, /* the upper-layer protocol, after the extension headers */
	EIPT6_T_SPORT = 1 << 3, /* [sport_lo, sport_hi]: TCP, UDP, SCTP, UDP-Lite */
	EIPT6_T_DPORT = 1 << 4,
	EIPT6_T_ICMP = 1 << 5,  /* ICMPv6 type == icmp_type, code in [code_lo, code_hi] */
	EIPT6_T_SET = 1 << 6,   /* the source (and port) in set `set_id` (v6_set_N / v6_setport_N) */
	EIPT6_T_CT = 1 << 7,    /* the conntrack state in ct_states (enum eipt_ct_state); a packet
				 * whose state XDP cannot tell (EIPT_CT_UNCERTAIN) stops the walk
				 * there and goes to the kernel */
};
/* eipt6_rule.set_flags */
#define EIPT6_SET_PORT 1u     /* hash:ip,port / hash:net,port: the key holds proto and port */
#define EIPT6_SET_DST_PORT 2u /* the port is the destination port (src,dst) */

struct eipt6_rule {
	__u32 pos;       /* the counted position */
	__u32 verdict;   /* enum eipt_verdict: ACCEPT, DROP, KERNEL */
	__u32 tests;     /* enum eipt6_test */
	__u32 neg;       /* enum eipt6_test: negated */
	__u8 src[16], src_mask[16];
	__u8 dst[16], dst_mask[16];
	__u16 sport_lo, sport_hi; /* host order */
	__u16 dport_lo, dport_hi;
	__u32 set_id;
	__u8 proto;
	__u8 icmp_type, icmp_code_lo, icmp_code_hi;
	__u8 set_flags;  /* EIPT6_SET_* */
	__u8 ct_states;  /* enum eipt_ct_state bits the test accepts */
	__u8 pad[2];
};

/* v6_set_N: LPM_TRIE of set members: prefixlen = 32 + the member's prefix length. The
 * value is 1 for a member, 0 for a `nomatch` one (hash:net: the longest stored prefix
 * decides, as the kernel tries its prefixes from the longest). */
struct eipt6_set_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[16];
};
/* v6_setport_N: LPM_TRIE of hash:ip,port / hash:net,port members: prefixlen = 64 + the
 * prefix length. port: as ipset keeps it (TCP/UDP/SCTP/UDP-Lite port, ICMPv6
 * type << 8 | code, 0 for other protocols), network order. */
struct eipt6_setport_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 proto;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

/* live6: ARRAY, 1 entry: struct eipt_live (generation, EIPT_LIVE_* flags: EMPTY, BOTH,
 * PASS_ALL, ALL_DESTINATIONS as for IPv4; GUARD is not used). */

/* v6_counters_N: PERCPU_ARRAY[EIPT6_MAX_POSITIONS + 1] of struct eipt_counter: the packets
 * XDP dropped at each position. */

/* v6_stats: PERCPU_ARRAY[EIPT6_STAT_COUNT] of __u64. */
enum eipt6_stat {
	EIPT6_STAT_UNTOUCHED = 0, /* passed unjudged: malformed, too many headers, AH, EMPTY, PASS_ALL */
	EIPT6_STAT_PASSED = 1,    /* judged ACCEPT or KERNEL */
	EIPT6_STAT_DROPPED = 2,
	EIPT6_STAT_ROUTE_PASSED = 3, /* judged DROP, the route check says INPUT does not see it */
	EIPT6_STAT_NDP_PASSED = 4,   /* ICMPv6 133..137: never judged */
	EIPT6_STAT_FRAGMENT_PASSED = 5, /* a non-first fragment, or a first one without its whole transport header */
	EIPT6_STAT_SPLIT_PASSED = 6, /* transition: dropped by one generation only */
	EIPT6_STAT_COUNT = 7,
};

#ifndef __BPF__
_Static_assert(sizeof(struct eipt6_rule) == 100, "eipt6_rule layout");
_Static_assert(sizeof(struct eipt6_set_key) == 24, "eipt6_set_key layout");
_Static_assert(sizeof(struct eipt6_setport_key) == 28, "eipt6_setport_key layout");
_Static_assert(sizeof(struct eipt6_conf) == 16, "eipt6_conf layout");
#endif

#endif
