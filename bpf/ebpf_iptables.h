/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one place where map keys and values are laid out. The XDP program and
 * Swift (through the CLibbpf module) both include this file, so they cannot drift.
 * All addresses are in network byte order; ports in keys are in network byte order
 * (LPM tries compare bytes), ports in fallback rules in host byte order.
 */
#ifndef EBPF_IPTABLES_H
#define EBPF_IPTABLES_H

/* Linux userspace too: libbpf's headers pull <linux/types.h>, whose __u64 (unsigned long
 * long) would clash with a uint64_t typedef. */
#if defined(__BPF__) || defined(__linux__)
#include <linux/types.h>
#else
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
#endif

/* Positions index the compiled rules of one generation; NO_RULE is "none matched". */
#define EIPT_NO_RULE 0xffffffffu
#define EIPT_MAX_RULES 65536u          /* positions per generation (rule_info, counters) */
#define EIPT_MAX_FALLBACK 512u         /* fallback rules per generation */
#define EIPT_MAX_PROTO_PORT 65536u
#define EIPT_MAX_PREFIXES 2097152u     /* LPM entries per generation and table */
#define EIPT_MAX_LOCAL_ADDRS 1024u
#define EIPT_MAX_FRAGMENTS 16384u

enum eipt_verdict {
	EIPT_ACCEPT = 1,
	EIPT_DROP = 2,
};

/* Connection-tracking states, the same bits as IptParse.ConntrackStates. */
enum eipt_ct_state {
	EIPT_CT_INVALID = 1 << 0,
	EIPT_CT_NEW = 1 << 1,
	EIPT_CT_RELATED = 1 << 2,
	EIPT_CT_ESTABLISHED = 1 << 3,
	EIPT_CT_UNTRACKED = 1 << 4,
};

/* live: ARRAY, 1 entry. Which generation packets are judged by; flipped last by a restore. */
struct eipt_live {
	__u32 generation; /* 0 or 1 */
	__u32 flags;      /* EIPT_LIVE_* */
};
/* Judge every IPv4 packet, not only those to local_addrs (BPF_PROG_TEST_RUN tests). */
#define EIPT_LIVE_ALL_DESTINATIONS (1u << 0)
/* Nothing restored yet: pass everything. */
#define EIPT_LIVE_EMPTY (1u << 1)

/* gen_config: ARRAY, 2 entries (one per generation). */
struct eipt_gen_config {
	__u32 policy;          /* enum eipt_verdict of the chain policy */
	__u32 catch_all_pos;   /* first rule without any condition, or EIPT_NO_RULE */
	__u32 fallback_count;  /* entries used in fallback_N, sorted by pos */
	__u32 rule_count;      /* positions used; the policy's counter sits at index rule_count */
	__u32 flags;           /* EIPT_GEN_* */
};
#define EIPT_GEN_NEEDS_CT (1u << 0) /* some fallback rule tests a conntrack state */
/* Which keyed tables of the generation hold entries of each shape: the program skips the
 * lookups that cannot hit (a host whitelist on one port fills two of the eight). A set bit
 * on an empty table only costs a lookup, so live edits set bits and never clear them. */
#define EIPT_GEN_PP_PORT       (1u << 1) /* proto_port, exact port */
#define EIPT_GEN_PP_ANY        (1u << 2) /* proto_port, any port */
#define EIPT_GEN_SRC_HOST      (1u << 3) /* src_host (/32) */
#define EIPT_GEN_SRC_TRIE      (1u << 4) /* src (shorter prefixes) */
#define EIPT_GEN_SPP_HOST_PORT (1u << 5) /* src_proto_port_host, exact port */
#define EIPT_GEN_SPP_HOST_ANY  (1u << 6) /* src_proto_port_host, any port */
#define EIPT_GEN_SPP_TRIE_PORT (1u << 7) /* src_proto_port, exact port */
#define EIPT_GEN_SPP_TRIE_ANY  (1u << 8) /* src_proto_port, any port */

/* rule_info_N: ARRAY[EIPT_MAX_RULES], indexed by position. */
struct eipt_rule_info {
	__u32 verdict; /* enum eipt_verdict */
};

/* Value of every keyed table: the best (lowest) position among the rules a key stands for. */
struct eipt_pos {
	__u32 pos;
};

/* proto_port_N: HASH. any_port=1 (dport 0) stands for "protocol, any port". */
struct eipt_proto_port_key {
	__u8 proto;
	__u8 any_port;
	__u16 dport; /* network order */
};

/* src_N: LPM_TRIE on the source address. */
struct eipt_src_key {
	__u32 prefixlen; /* 0..32 */
	__u32 addr;
};

/* src_proto_port_N: LPM_TRIE; prefixlen = 32 (proto, any_port, dport) + source prefix length. */
struct eipt_src_proto_port_key {
	__u32 prefixlen; /* 32..64 */
	__u8 proto;
	__u8 any_port;
	__u16 dport; /* network order */
	__u32 addr;
};

/*
 * src_host_N and src_proto_port_host_N: HASH. The /32 entries of src_N and
 * src_proto_port_N, kept apart because an exact hit is always the longest match and a
 * hash lookup costs the same for 10 members as for 1,000,000; the tries then hold only
 * shorter prefixes and stay shallow. The program asks the hash first, the trie on a miss.
 */
struct eipt_src_host_key {
	__u32 addr;
};
struct eipt_spp_host_key {
	__u8 proto;
	__u8 any_port;
	__u16 dport; /* network order */
	__u32 addr;
};
#define EIPT_MAX_HOSTS 2097152u

/* Which tests of a fallback rule are present, and which of them are negated. */
enum eipt_fb_test {
	EIPT_T_SRC = 1 << 0,
	EIPT_T_DST = 1 << 1,
	EIPT_T_PROTO = 1 << 2,
	EIPT_T_SPORT = 1 << 3,
	EIPT_T_DPORT = 1 << 4,
	EIPT_T_TCP_FLAGS = 1 << 5,
	EIPT_T_ICMP = 1 << 6,
	EIPT_T_CT = 1 << 7,
	EIPT_T_FRAG = 1 << 8,   /* -f: a non-first fragment */
	EIPT_T_LEN = 1 << 9,    /* IP total length in [len_lo, len_hi] */
	EIPT_T_TTL = 1 << 10,   /* ttl_op on ttl_val */
	EIPT_T_PORTS = 1 << 11, /* sport or dport (multiport --ports) in [dport_lo, dport_hi] */
};

enum eipt_ttl_op {
	EIPT_TTL_EQ = 0,
	EIPT_TTL_LT = 1,
	EIPT_TTL_GT = 2,
};

/* fallback_N: ARRAY[EIPT_MAX_FALLBACK]; a rule matches when every present test holds
 * (a negated test must not hold). A rule with a disjunction (multiport, iprange) is
 * several entries with the same pos. Port tests never match a non-first fragment,
 * as in the kernel's tcp/udp matches. */
struct eipt_fb_rule {
	__u32 pos;
	__u32 tests; /* enum eipt_fb_test */
	__u32 neg;   /* enum eipt_fb_test: negated tests */
	__u32 src_addr, src_mask;
	__u32 dst_addr, dst_mask;
	__u16 sport_lo, sport_hi; /* host order */
	__u16 dport_lo, dport_hi; /* host order */
	__u16 len_lo, len_hi;
	__u8 proto;
	__u8 tcp_flags_mask, tcp_flags_cmp;
	__u8 icmp_type; /* 255 = any type */
	__u8 icmp_code_lo, icmp_code_hi;
	__u8 ct_states; /* enum eipt_ct_state bits accepted */
	__u8 ttl_op, ttl_val;
	__u8 pad[3];
};

/* counters_N: PERCPU_ARRAY[EIPT_MAX_RULES + 1] indexed by position; policy at rule_count. */
struct eipt_counter {
	__u64 packets;
	__u64 bytes;
};

/* local_addrs: HASH {addr} -> 1. Packets to other addresses belong to FORWARD and pass untouched. */
struct eipt_local_key {
	__u32 addr;
};

/* fragments: LRU_HASH. The verdict of a first fragment, applied to the rest of its datagram. */
struct eipt_frag_key {
	__u32 saddr, daddr;
	__u16 id;
	__u8 proto;
	__u8 pad;
};
struct eipt_frag_value {
	__u32 verdict;
	__u32 pos;
};

#ifndef __BPF__
_Static_assert(sizeof(struct eipt_fb_rule) == 52, "eipt_fb_rule layout");
_Static_assert(sizeof(struct eipt_src_proto_port_key) == 12, "eipt_src_proto_port_key layout");
_Static_assert(sizeof(struct eipt_src_key) == 8, "eipt_src_key layout");
_Static_assert(sizeof(struct eipt_proto_port_key) == 4, "eipt_proto_port_key layout");
_Static_assert(sizeof(struct eipt_gen_config) == 20, "eipt_gen_config layout");
_Static_assert(sizeof(struct eipt_frag_key) == 12, "eipt_frag_key layout");
_Static_assert(sizeof(struct eipt_spp_host_key) == 8, "eipt_spp_host_key layout");
_Static_assert(sizeof(struct eipt_src_host_key) == 4, "eipt_src_host_key layout");
#endif

#endif
