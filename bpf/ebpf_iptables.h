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
#define EIPT_MAX_FRAGMENTS 16384u
#define EIPT_MAX_GUARD 1024u           /* guard_src prefixes */

/* What the program does with a packet decided at a position. Only DROP is decided in XDP;
 * ACCEPT and KERNEL pass the packet up, where the kernel's iptables (which holds the whole
 * ruleset) decides it again. KERNEL marks a rule the compiler cannot decide exactly. */
enum eipt_verdict {
	EIPT_ACCEPT = 1,
	EIPT_DROP = 2,
	EIPT_KERNEL = 3,
	/* REJECT: dropped as DROP is, and answered from XDP with the reply the kernel's REJECT
	 * sends (eipt_rule_info.reject_with), or passed up when XDP cannot be sure of it. */
	EIPT_REJECT = 4,
	/* A position that matches and lets the walk go on (no target, MARK, CONNMARK, the
	 * charge of a stateful test on a jump): the judge records it and scans on; it is
	 * counted with the final position when XDP decides the packet (eipt_pkt.cont). */
	EIPT_CONTINUE = 5,
	/* EIPT_CONTINUE for a packet without a conntrack entry; with one (or when the lookup
	 * cannot tell) the packet goes to the kernel: CONNMARK writes the connection's mark. */
	EIPT_CONTINUE_NO_CT = 6,
};

/* eipt_rule_info.reject_with: the ICMP destination-unreachable code the kernel's REJECT
 * sends (ipt_REJECT.c: net 0, host 1, proto 2, port 3, net-prohibited 9, host-prohibited
 * 10, admin-prohibited 13), or EIPT_REJECT_TCP_RESET. */
#define EIPT_REJECT_TCP_RESET 255u

/* Connection-tracking states, the same bits as IptParse.ConntrackStates. */
enum eipt_ct_state {
	EIPT_CT_INVALID = 1 << 0,
	EIPT_CT_NEW = 1 << 1,
	EIPT_CT_RELATED = 1 << 2,
	EIPT_CT_ESTABLISHED = 1 << 3,
	EIPT_CT_UNTRACKED = 1 << 4,
	/* Not a state: the program cannot tell this packet's state (ICMP queries and replies,
	 * ICMP errors quoting neither TCP nor UDP, protocols other than TCP/UDP/ICMP: the
	 * kfunc looks up TCP and UDP only). A rule testing the state may match: its position
	 * then passes the packet to the kernel. */
	EIPT_CT_UNCERTAIN = 1 << 7,
};

/* live: ARRAY, 1 entry. Which generation packets are judged by; flipped last by a restore.
 * The program reads each word once per packet; user space changes one word per update
 * (generation, then flags), so no packet sees half of a change. */
struct eipt_live {
	__u32 generation; /* 0 or 1 */
	__u32 flags;      /* EIPT_LIVE_* */
};
/* Skip the route check of the drop path (BPF_PROG_TEST_RUN tests, whose frames arrive on
 * loopback): every judged DROP is dropped. */
#define EIPT_LIVE_ALL_DESTINATIONS (1u << 0)
/* Nothing restored yet: pass everything. */
#define EIPT_LIVE_EMPTY (1u << 1)
/* Transition: the kernel's ruleset is being changed from the one generation holds to the
 * one the other holds. A packet is dropped only if both generations drop it; counted at
 * the live generation's position. */
#define EIPT_LIVE_BOTH (1u << 2)
/* Pass every packet whose source lies in a guard_src prefix (one set member changing in
 * the kernel and in XDP, in either order). */
#define EIPT_LIVE_GUARD (1u << 3)
/* Pass everything (a change whose outcome we cannot predict is under way). */
#define EIPT_LIVE_PASS_ALL (1u << 4)

/*
 * The route check. A judged DROP is dropped only if the kernel would hand the packet to
 * filter INPUT (or drop it before): the program asks the kernel's routing with
 * bpf_fib_lookup (ingress ifindex, addresses, tos, protocol, ports, tot_len; not DIRECT,
 * so policy routing applies; SKIP_NEIGH where the kernel accepts it). No list of local
 * addresses is kept, so an address added or removed is followed at the next packet.
 * Seen on Linux 6.18 (veth in a namespace, BPF_PROG_TEST_RUN with ingress_ifindex set):
 *   forwarding off on the ingress device (net.ipv4.conf.IF.forwarding=0, also with
 *     ip_forward=1 elsewhere): FWD_DISABLED for every destination (local, other subnet,
 *     routed, blackhole, no route, 255.255.255.255, 224.0.0.1): the check comes before the
 *     lookup; the kernel then delivers local destinations and drops the rest;
 *   forwarding on: NOT_FWDED for a local address, another interface's address, the subnet
 *     broadcast, 255.255.255.255, 127.0.0.1, 224.0.0.1 and a destination without any route
 *     (all reach INPUT or are dropped by the kernel); SUCCESS for a routed destination with
 *     SKIP_NEIGH, NO_NEIGH without it (no ARP entry yet); BLACKHOLE, UNREACHABLE,
 *     PROHIBIT for routes of those types; an unknown flag bit gives -EINVAL.
 * So FWD_DISABLED, NOT_FWDED, BLACKHOLE, UNREACHABLE and PROHIBIT allow the drop; any other
 * answer (the kernel forwards it; FRAG_NEEDED, UNSUPP_LWT, NO_NEIGH; an error) passes.
 * Multicast destinations always pass on the drop path: with multicast routing
 * (mc_forwarding) the kernel may forward them, which no lookup here can see.
 * Cost on this machine (BPF_PROG_TEST_RUN, Dec 2026): about 85 ns a dropped packet with
 * forwarding on, 35 ns with it off; accepted packets never pay it.
 */

/* gen_config: ARRAY, 2 entries (one per generation). */
struct eipt_gen_config {
	__u32 policy;          /* enum eipt_verdict of the chain policy */
	__u32 catch_all_pos;   /* first rule without any condition, or EIPT_NO_RULE */
	__u32 fallback_count;  /* entries used in fallback_N, sorted by pos */
	__u32 rule_count;      /* positions used; the policy's counter sits at index rule_count */
	__u32 flags;           /* EIPT_GEN_* */
};
#define EIPT_GEN_NEEDS_CT (1u << 0) /* some fallback rule tests a conntrack state (or is a
					     * CONTINUE-without-entry position: the lookup too) */
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
/* The ruleset NATs: a DROP is first checked against conntrack (TCP/UDP connections with
 * IPS_SRC_NAT or IPS_DST_NAT pass) and every other protocol passes. */
#define EIPT_GEN_NAT_CHECK     (1u << 9)
/* --xdp-only: the kernel's INPUT is empty, so packets INPUT accepts are counted here too. */
#define EIPT_GEN_XDP_ONLY      (1u << 10)
/* What else the generation needs of the program (the program's shape, below): fallback rows
 * exist; some fallback row has extension tests; some position is `reject`. High bits, so the
 * table bits above can grow (IPv6 tables) without renumbering. */
#define EIPT_GEN_FALLBACK      (1u << 24)
#define EIPT_GEN_EXT           (1u << 25)
#define EIPT_GEN_REJECT        (1u << 26)

/*
 * The program's shape: `eipt_shape`, a `const volatile` in the object's .rodata.shape section,
 * set by the Loader before the load (libbpf freezes the section), so the verifier knows it as
 * a constant and removes every branch it rules out. Its bits are EIPT_GEN_* bits: a program
 * whose shape holds every bit of a generation's flags judges that generation exactly as the
 * full program would (EIPT_GEN_NEEDS_CT: the conntrack test of fallback rows; the table bits:
 * their lookups; NAT_CHECK, XDP_ONLY, FALLBACK, EXT, REJECT: those paths). A generation with a
 * bit the shape lacks is passed up whole (verdict KERNEL): never judged by half a program.
 * The object as built has every bit (EIPT_SHAPE_ALL): loaded unchanged it is the full program.
 */
#define EIPT_SHAPE_ALL 0xffffffffu
/* Shapes eipt_xdp_lean serves (keyed tables, --xdp-only counting): no fallback rows, ext
 * tests, conntrack, NAT check or REJECT. */
#define EIPT_SHAPE_LEAN (EIPT_GEN_PP_PORT | EIPT_GEN_PP_ANY | EIPT_GEN_SRC_HOST | EIPT_GEN_SRC_TRIE | \
			 EIPT_GEN_SPP_HOST_PORT | EIPT_GEN_SPP_HOST_ANY | EIPT_GEN_SPP_TRIE_PORT |      \
			 EIPT_GEN_SPP_TRIE_ANY | EIPT_GEN_XDP_ONLY)

/* rule_info_N: ARRAY[EIPT_MAX_RULES], indexed by position. */
struct eipt_rule_info {
	__u32 verdict; /* enum eipt_verdict */
	__u8 reject_with; /* EIPT_REJECT: the reply (see EIPT_REJECT_TCP_RESET) */
	__u8 pad[3];
};

/*
 * reject_config: ARRAY, 1 entry. What the kernel's REJECT reply depends on, read from the
 * sysctls of the namespace the program serves when tables are written: the TTL of replies
 * (net.ipv4.ip_default_ttl) and the ICMP rate limits (icmp_ratelimit in ms, icmp_ratemask,
 * icmp_msgs_per_sec, icmp_msgs_burst). ttl 0: not written yet, every REJECT is passed up.
 */
struct eipt_reject_config {
	__u32 ttl;
	__u32 ratelimit_ms;
	__u32 ratemask;
	__u32 msgs_per_sec;
	__u32 msgs_burst;
};
/* reject_peers: LRU_HASH, key the reply's destination (__u32, network order). The kernel's
 * per-destination inet_peer token bucket (inet_peer_xrlim_allow), in ns of credit. */
struct eipt_reject_peer {
	__u64 tokens_ns;
	__u64 last_ns;
};
/* reject_global: ARRAY, 1 entry. icmp_global_allow's credit and stamp (per namespace). */
struct eipt_reject_global {
	__s64 credit;
	__u64 stamp_ns;
};
#define EIPT_MAX_REJECT_PEERS 65536u

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
	__u8 ext_flags;  /* EIPT_EXT_F_* */
	__u16 ext_first; /* first entry of ext_N this rule holds */
	__u16 ext_count; /* 0: none; the rule matches only if each of them holds too */
	__u16 pad2;
};

/*
 * ext_N: ARRAY[EIPT_MAX_EXT]. The tests a fallback rule holds beyond its fixed fields
 * (extension matches: mac, addrtype, string, limit, ...), evaluated in order, only once every
 * fixed test of the rule holds. The program evaluates them outside the bpf_loop callback,
 * in a global function that has the xdp_md context (packet bytes, helpers, kfuncs):
 * `eipt_ext_holds` in ebpf_iptables.bpf.c, one function per kind in bpf/ext_*.h.
 * Each kind lays its payload out in `data` (struct eipt_ext_KIND); `neg` is the kind's own `!` (each
 * kind applies it, because a negated stateful match still acts: `! --set`).
 */
#define EIPT_MAX_EXT 2048u
/* eipt_fb_rule.ext_flags: some ext test of the rule is stateful. The judge then asks the
 * route check (does the packet reach INPUT?) before evaluating them, from its own frame:
 * called from inside a test, the call chain would outgrow BPF's 512-byte stack. */
#define EIPT_EXT_F_STATEFUL 1u

enum eipt_ext_kind {
	EIPT_EXT_NONE = 0,
	EIPT_EXT_MAC = 1,      /* -m mac --mac-source */
	EIPT_EXT_ADDRTYPE = 2, /* -m addrtype (bpf/ext_addrtype.h) */
	EIPT_EXT_PKTTYPE = 3,  /* -m pkttype (bpf/ext_pkttype.h) */
	EIPT_EXT_LIMIT = 10,     /* -m limit (bpf/ext_limit.h) */
	EIPT_EXT_HASHLIMIT = 11, /* -m hashlimit (bpf/ext_hashlimit.h) */
	EIPT_EXT_STATISTIC = 12, /* -m statistic (bpf/ext_statistic.h) */
	EIPT_EXT_STRING = 4,   /* -m string (bpf/ext_string.h) */
	EIPT_EXT_TCPOPT = 5,   /* -p tcp --tcp-option (bpf/ext_tcpopt.h) */
	EIPT_EXT_IPRANGE = 6,  /* -m iprange, one direction (bpf/ext_iprange.h) */
	EIPT_EXT_LENGTH = 7,   /* a second -m length test of one rule (bpf/ext_length.h) */
	EIPT_EXT_TTL = 8,      /* a second -m ttl test of one rule (bpf/ext_length.h) */
	EIPT_EXT_RECENT = 13,  /* -m recent (bpf/ext_recent.h) */
	EIPT_EXT_CONNTRACK = 14, /* -m conntrack / -m state (bpf/ext_conntrack.h) */
	EIPT_EXT_PROTO = 15,   /* a rule's second protocol test (bpf/ext_proto.h) */
	EIPT_EXT_TIME = 16,    /* -m time (bpf/ext_time.h) */
	/* kinds 2..: one per extension (see the union) */
};

/* What an extension test answers. */
enum eipt_ext_answer {
	EIPT_EXT_NO = 0,
	EIPT_EXT_YES = 1,
	EIPT_EXT_MAYBE = 2, /* cannot tell in XDP for this packet: the rule's position goes to the kernel */
};

struct eipt_ext_mac {
	__u8 addr[6];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_mac) <= 56, "eipt_ext_mac fits eipt_ext.data");
#endif

/* -m addrtype: the RTN_* type of the source and/or destination address, as
 * inet_dev_addr_type() gives it (see bpf/ext_addrtype.h). A mask of 0 is no test; the
 * row's `neg` negates the whole match (RETURN), the *_neg fields the one option. */
struct eipt_ext_addrtype {
	__u16 src_mask; /* 1 << RTN_*: the types --src-type accepts */
	__u16 dst_mask;
	__u8 src_neg;   /* ! --src-type */
	__u8 dst_neg;   /* ! --dst-type */
	__u8 limit_in;  /* --limit-iface-in: only routes of the ingress device count */
	__u8 pad;
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_addrtype) <= 56, "eipt_ext_addrtype fits eipt_ext.data");
#endif

/* -m pkttype --pkt-type: skb->pkt_type as eth_type_trans() sets it (PACKET_HOST 0,
 * PACKET_BROADCAST 1, PACKET_MULTICAST 2, PACKET_OTHERHOST 3); `neg` is the `!`. */
struct eipt_ext_pkttype {
	__u8 type;
	__u8 pad[3];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_pkttype) <= 56, "eipt_ext_pkttype fits eipt_ext.data");
#endif

/*
 * local_routes: LPM_TRIE[EIPT_MAX_LOCAL_ROUTES] of struct eipt_src_key (prefix, address in
 * network order) -> struct eipt_local_route. A copy of the kernel's local routing table
 * (table 255, RTM_GETROUTE), which is what inet_dev_addr_type() looks addresses up in.
 * Not per generation. Valid only while local_state says so (see bpf/ext_addrtype.h).
 */
#define EIPT_MAX_LOCAL_ROUTES 16384u
struct eipt_local_route {
	__u8 type;    /* RTN_* of the first route of the prefix */
	__u8 flags;   /* EIPT_LOCAL_* */
	__u16 pad;
	__u32 ifindex; /* its device (first nexthop) */
};
/* The prefix cannot be answered from the copy: several routes of different types or
 * devices, a TOS, a multipath or nexthop-object route, a dead or linkdown nexthop (which
 * fib_table_lookup may skip). Lookups that land on it answer MAYBE. */
#define EIPT_LOCAL_UNSURE (1u << 0)

/* local_state: ARRAY[1]. The kernel's routing generation the copy was taken at: the
 * namespace's net->ipv4.rt_genid and fib_seq (every route or address change moves one of
 * them) read before the dump and found unchanged after it. The program compares them with
 * the live values at every addrtype test: any difference, and the copy is not used. */
struct eipt_local_state {
	__u32 valid;  /* 0: no copy (addrtype answers MAYBE) */
	__u32 rt_genid;
	__u32 fib_seq;
	__u32 has_l3mdev; /* a VRF exists: --limit-iface-in may look in another table */
};
/* -m limit: xt_rateinfo's avg (interval in 1/10000 s) and burst as iptables stores them;
 * the program derives xt_limit's credits from them with the kernel's HZ. `stamp` is the same
 * for every row of one generation write and differs between writes: a state slot whose stamp
 * differs is a fresh bucket (a restore starts full buckets, as the kernel's checkentry does). */
struct eipt_ext_limit {
	__u32 avg;
	__u32 burst;
	__u64 stamp;
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_limit) <= 56, "eipt_ext_limit fits eipt_ext.data");
#endif

/* -m statistic: xt_statistic_info's fields as libxt_statistic stores them (every is n-1,
 * count the nth counter's initial value every-packet, probability a 31-bit fraction).
 * `neg` is XT_STATISTIC_INVERT. `stamp` as for limit. */
/* Pending draws one packet may hold (struct eipt_pkt.draws); one more goes to the kernel. */
#define EIPT_MAX_DRAWS 4
enum eipt_statistic_mode {
	EIPT_STATISTIC_RANDOM = 0,
	EIPT_STATISTIC_NTH = 1,
};
struct eipt_ext_statistic {
	__u32 mode; /* enum eipt_statistic_mode */
	__u32 probability;
	__u32 every;
	__u32 count;
	__u64 stamp;
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_statistic) <= 56, "eipt_ext_statistic fits eipt_ext.data");
#endif

/* -m hashlimit (revision 3, what iptables 1.8 writes): avg in 1/1000000 s, the per-table
 * key mode (EIPT_HL_* = XT_HASHLIMIT_HASH_*), masks, expire in ms; `table` names the
 * table (FNV-1a of --hashlimit-name: rules of one name share it, across restores too, as
 * the kernel's htable outlives a restore); `max`: entries XDP may create in it, at most
 * the kernel's htable-max (a new key beyond: MAYBE, where the kernel may hotdrop).
 * `neg`: --hashlimit-above (XT_HASHLIMIT_INVERT). */
enum eipt_hashlimit_mode {
	EIPT_HL_DIP = 1 << 0,
	EIPT_HL_DPT = 1 << 1,
	EIPT_HL_SIP = 1 << 2,
	EIPT_HL_SPT = 1 << 3,
};
struct eipt_ext_hashlimit {
	__u64 avg;
	__u32 burst;
	__u32 mode;
	__u32 table;
	__u32 max;
	__u32 expire_ms;
	__u8 srcmask, dstmask;
	__u16 pad;
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_hashlimit) <= 56, "eipt_ext_hashlimit fits eipt_ext.data");
#endif
/* -m string: the kernel's skb_find_text over the IP packet's bytes [from, to). `bytes` holds
 * the pattern at 0 (uppercased for --icase, as ts_bm/ts_kmp store it) and, for bm, the
 * kernel's good-shift table at EIPT_STR_BM_MAX (each < 256 since patlen <= 24). */
#define EIPT_STR_BM_MAX 24u   /* bm: pattern and good-shift table share `bytes` */
#define EIPT_STR_KMP_MAX 48u  /* kmp: the pattern alone */
#define EIPT_STR_WINDOW 2048u /* bytes of the packet one search reads; beyond: MAYBE */
enum eipt_string_flags {
	EIPT_STR_BM = 1,    /* --algo bm: the kernel's Boyer-Moore, mirrored step by step */
	EIPT_STR_ICASE = 2, /* --icase */
};
struct eipt_ext_string {
	__u16 from, to; /* host order; offsets from the start of the IP header */
	__u8 patlen;
	__u8 flags;     /* enum eipt_string_flags */
	__u8 pad[2];
	__u8 bytes[48];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_string) <= 56, "eipt_ext_string fits eipt_ext.data");
#endif

/* -p tcp --tcp-option N (xt_tcpudp tcp_find_option). */
struct eipt_ext_tcpopt {
	__u8 option;
};

/* -m iprange --src-range/--dst-range: one direction per test; `neg` is its own `!`. */
struct eipt_ext_iprange {
	__u32 lo, hi; /* host order, inclusive */
	__u8 dst;     /* 0: source address, 1: destination address */
	__u8 pad[3];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_iprange) <= 56, "eipt_ext_iprange fits eipt_ext.data");
#endif

/* A rule's second -m length test (the entry's own length field holds the first). */
struct eipt_ext_length {
	__u16 lo, hi; /* IP total length, inclusive */
};

/* A second protocol test of one conjunction (a RETURN's `! -p tcp` with the rule's own
 * `! -p udp`: the entry's own proto field holds the first); `neg` is `!`. */
struct eipt_ext_proto {
	__u8 proto;
};

/* A rule's second -m ttl test; op is enum eipt_ttl_op (EIPT_TTL_NE: `neg` of EQ). */
struct eipt_ext_ttl {
	__u8 op, value;
};

/*
 * -m recent (xt_recent.c). The lists live in `recent` (HASH, shared by every generation and
 * CPU): one entry per list and (masked) address, as the kernel's table per --name holds one
 * per address. Times are jiffies (bpf_jiffies64), compared as the kernel compares them, so
 * the entries print as /proc/net/xt_recent/NAME prints its own. `recent_lists` counts each
 * list's entries: a list may hold ip_list_tot; past that the kernel evicts its least
 * recently updated entry, which a hash map cannot name, so the list is marked `overflowed`
 * and every test of it answers MAYBE (the kernel decides) until it is cleared.
 */
#define EIPT_RECENT_STAMPS 32u        /* ring size: roundup_pow_of_two(ip_pkt_list_tot <= 32) */
#define EIPT_MAX_RECENT 65536u        /* entries of all lists together */
#define EIPT_MAX_RECENT_LISTS 1024u

enum eipt_recent_cmd {
	EIPT_RECENT_SET = 1,    /* --set */
	EIPT_RECENT_CHECK = 2,  /* --rcheck */
	EIPT_RECENT_UPDATE = 4, /* --update */
	EIPT_RECENT_REMOVE = 8, /* --remove */
};
#define EIPT_RECENT_F_DEST 1u      /* --rdest: the destination address (else --rsource) */
#define EIPT_RECENT_F_ACT_ONLY 2u  /* the rule has no target: act, then answer NO (the walk goes on) */
#define EIPT_RECENT_F_TTL 4u       /* --rttl: an entry whose TTL differs from the packet's (both nonzero) is no entry */

struct eipt_ext_recent {
	__u32 list;      /* list id (eipt_recent_key.list): FNV-1a of the name */
	__u32 mask;      /* --mask, network order */
	__u32 seconds;   /* --seconds (the program multiplies by CONFIG_HZ); 0: none */
	__u32 pad;
	__u8 cmd;        /* enum eipt_recent_cmd */
	__u8 hitcount;   /* --hitcount; 0: none */
	__u8 flags;      /* EIPT_RECENT_F_* */
	__u8 ring_mask;  /* roundup_pow_of_two(ip_pkt_list_tot) - 1, at most EIPT_RECENT_STAMPS - 1 */
	__u32 list_tot;  /* ip_list_tot: entries one list holds */
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_recent) <= 56, "eipt_ext_recent fits eipt_ext.data");
#endif

/*
 * -m conntrack (xt_conntrack revision 3), and -m state / --ctstate after a stateful test of
 * its rule. `match` and `invert` use xt_conntrack's XT_CONNTRACK_* bits (EIPT_CTM_*);
 * --ctdir REPLY is DIRECTION with its invert bit set, as libxt_conntrack stores it.
 * Addresses and masks: original source, original destination, reply source, reply
 * destination (network order); ports in the same order, host order, inclusive ranges.
 * The row's `flags`: EIPT_CTM_F_*.
 */
enum eipt_ctm_option {
	EIPT_CTM_STATE = 1 << 0,
	EIPT_CTM_PROTO = 1 << 1,
	EIPT_CTM_ORIGSRC = 1 << 2,
	EIPT_CTM_ORIGDST = 1 << 3,
	EIPT_CTM_REPLSRC = 1 << 4,
	EIPT_CTM_REPLDST = 1 << 5,
	EIPT_CTM_STATUS = 1 << 6,
	EIPT_CTM_EXPIRES = 1 << 7,
	EIPT_CTM_ORIGSRC_PORT = 1 << 8,
	EIPT_CTM_ORIGDST_PORT = 1 << 9,
	EIPT_CTM_REPLSRC_PORT = 1 << 10,
	EIPT_CTM_REPLDST_PORT = 1 << 11,
	EIPT_CTM_DIRECTION = 1 << 12,
};
/* states: enum eipt_ct_state bits and these two (XT_CONNTRACK_STATE_SNAT/DNAT). */
#define EIPT_CTM_S_SNAT (1u << 5)
#define EIPT_CTM_S_DNAT (1u << 6)
/* eipt_ext.flags: nat PREROUTING may DNAT/REDIRECT/NETMAP a connection's first packet, so
 * for a packet without an entry the reply tuple and the DNAT bit are unknown (MAYBE). */
#define EIPT_CTM_F_NEW_NAT_UNKNOWN 1u
struct eipt_ext_conntrack {
	__u16 match;   /* enum eipt_ctm_option: options present */
	__u16 invert;  /* enum eipt_ctm_option: options negated */
	__u8 states;
	__u8 proto;    /* --ctproto */
	__u8 status;   /* --ctstatus: IPS_EXPECTED 1, IPS_SEEN_REPLY 2, IPS_ASSURED 4, IPS_CONFIRMED 8 */
	__u8 pad;
	__u32 addr[4];
	__u32 mask[4];
	__u16 port_lo[4];
	__u16 port_hi[4];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_conntrack) <= 56, "eipt_ext_conntrack fits eipt_ext.data");
#endif

struct eipt_recent_key {
	__u32 list;
	__u32 addr;      /* masked, network order */
};

/* struct recent_entry of xt_recent.c: ttl, the ring of stamps, its next index and fill. */
struct eipt_recent_entry {
	struct bpf_spin_lock lock;
	__u8 ttl;
	__u8 nstamps;
	__u8 index;      /* the kernel's e->index: next slot (before masking), 1..ring */
	__u8 pad;
	__u64 stamps[EIPT_RECENT_STAMPS];
};

struct eipt_recent_list {
	__u32 entries;    /* entries of the list in `recent` */
	__u32 overflowed; /* the list reached ip_list_tot: its tests answer MAYBE */
};

/*
 * -m time (xt_time.c): the payload is struct xt_time_info as libxt_time fills it. Only UTC
 * rules are written (--kerneltz reads the kernel's sys_tz, which XDP cannot see). Seconds
 * of the day 0..86399; dates are seconds since the epoch (UTC); masks as the kernel's:
 * bit 1..31 the month days, bit 1..7 Monday..Sunday.
 */
#define EIPT_TIME_F_CONTIGUOUS 2u /* XT_TIME_CONTIGUOUS */
struct eipt_ext_time {
	__u32 date_start;
	__u32 date_stop;
	__u32 daytime_start;
	__u32 daytime_stop;
	__u32 monthdays;  /* XT_TIME_ALL_MONTHDAYS (0xfffffffe): no month-day test */
	__u8 weekdays;
	__u8 flags;       /* EIPT_TIME_F_* */
	__u8 pad[2];
};
#ifndef __BPF__
_Static_assert(sizeof(struct eipt_ext_time) <= 56, "eipt_ext_time fits eipt_ext.data");
#endif

/* time_config: ARRAY[1]. The realtime clock the program reads is bpf_ktime_get_tai_ns()
 * minus tai_offset seconds (CLOCK_TAI = CLOCK_REALTIME + the kernel's TAI offset,
 * adjtimex's `tai`), written by the Loader with every table write; valid 0 (never
 * written): every time test answers MAYBE. tai_mono_ns is CLOCK_TAI - CLOCK_MONOTONIC at
 * that write: it moves only when the clock is stepped or the TAI offset changes, and a
 * move of half a second or more makes every time test MAYBE until the next write (the
 * offset may no longer be the kernel's). */
struct eipt_time_config {
	__s64 tai_offset;
	__s64 tai_mono_ns;
	__u32 valid;
	__u32 pad;
};

struct eipt_ext {
	__u16 kind;    /* enum eipt_ext_kind */
	__u8 neg;      /* the test is negated (`!`) */
	__u8 flags;    /* kind-specific */
	__u32 id;      /* kind-specific: a state slot, a pattern index, ... */
	/* The kind's payload struct (eipt_ext_KIND above), at offset 0; a byte array rather
	 * than a union so that Swift imports the row as a plain value it can copy to a map. */
	__u8 data[56];
};
/* eipt_ext.id with this bit: a stateful test's complement, read from the per-packet memo
 * of instance (id & 63) only; MAYBE when not memoised. The compiler writes one only after a
 * position that evaluates the instance for every packet that can reach it (the charge of a
 * RETURN with a stateful test: ContinuePositions.swift). */
#define EIPT_EXT_ID_MEMO_NOT 0x80000000u
#define EIPT_EXT_DATA(e, kind) ((struct eipt_ext_##kind *)(e)->data)

/* counters_N: PERCPU_ARRAY[EIPT_MAX_RULES + 1] indexed by position; policy at rule_count.
 * Only what XDP decided itself: the packets it dropped at that position (and, with
 * EIPT_GEN_XDP_ONLY, the ones an ACCEPT position decided). A packet passed up is counted by
 * the kernel at whichever rule decides it there. */
struct eipt_counter {
	__u64 packets;
	__u64 bytes;
};

/* replies_N: PERCPU_HASH[EIPT_MAX_REPLY_POSITIONS] of __u32 position -> struct eipt_counter.
 * The replies XDP sent (XDP_TX) for a `reject` position: packets and the replies' IP bytes.
 * The kernel counts its own replies on the OUTPUT/POSTROUTING rules and policies they pass;
 * user space adds these there (Compiler/ReplyPath.swift says which). A position without a
 * slot when none is left passes its packets up: the kernel answers and counts them. */
#define EIPT_MAX_REPLY_POSITIONS 4096u

/* guard_src: LPM_TRIE[EIPT_MAX_GUARD] of struct eipt_src_key -> __u32 (unused, 1). Not
 * per generation: consulted only while live.flags has EIPT_LIVE_GUARD. */

/* fragments: LRU_HASH. First fragments XDP dropped; the rest of their datagram is dropped
 * too. A non-first fragment without an entry passes: the kernel reassembles before INPUT,
 * and a fragment that arrives before its first one is part of a datagram the kernel may
 * accept. */
struct eipt_frag_key {
	__u32 saddr, daddr;
	__u16 id;
	__u8 proto;
	__u8 pad;
};
struct eipt_frag_value {
	__u32 pos;        /* the dropping position, whose counter gets the fragments' bytes */
	__u32 generation; /* of that position */
};

/* stats: PERCPU_ARRAY[EIPT_STAT_COUNT] of __u64 packets. Every packet the program sees is
 * counted in exactly one of them. */
enum eipt_stat {
	EIPT_STAT_UNTOUCHED = 0,     /* passed unjudged: not IPv4, malformed, martian source, EMPTY, PASS_ALL */
	EIPT_STAT_PASSED = 1,        /* judged ACCEPT or KERNEL (in a transition: by both
				      * generations): passed to the kernel */
	EIPT_STAT_DROPPED = 2,       /* dropped (non-first fragments of a dropped datagram included) */
	EIPT_STAT_ROUTE_PASSED = 3,  /* judged DROP, passed: the route check says INPUT does not see it */
	EIPT_STAT_NAT_PASSED = 4,    /* judged DROP, passed: NATed connection or a protocol not looked up */
	EIPT_STAT_GUARD_PASSED = 5,  /* passed by the guard */
	EIPT_STAT_SPLIT_PASSED = 6,  /* transition: dropped by one generation only, passed */
	EIPT_STAT_FRAGMENT_PASSED = 7, /* non-first fragment with no dropped first fragment */
	EIPT_STAT_REJECTED = 8,      /* judged REJECT: the reply sent from XDP, the packet dropped */
	EIPT_STAT_REJECT_LIMITED = 9, /* judged REJECT: ICMP rate limit hit, dropped without reply (as the kernel) */
	EIPT_STAT_REJECT_PASSED = 10, /* judged REJECT, passed: the kernel rejects it (XDP cannot be sure of the reply) */
	EIPT_STAT_COUNT = 11,
};

#ifndef __BPF__
_Static_assert(sizeof(struct eipt_fb_rule) == 56, "eipt_fb_rule layout");
_Static_assert(sizeof(struct eipt_ext) == 64, "eipt_ext layout");
_Static_assert(sizeof(struct eipt_local_route) == 8, "eipt_local_route layout");
_Static_assert(sizeof(struct eipt_local_state) == 16, "eipt_local_state layout");
_Static_assert(sizeof(struct eipt_recent_entry) == 264, "eipt_recent_entry layout");
_Static_assert(sizeof(struct eipt_src_proto_port_key) == 12, "eipt_src_proto_port_key layout");
_Static_assert(sizeof(struct eipt_src_key) == 8, "eipt_src_key layout");
_Static_assert(sizeof(struct eipt_proto_port_key) == 4, "eipt_proto_port_key layout");
_Static_assert(sizeof(struct eipt_gen_config) == 20, "eipt_gen_config layout");
_Static_assert(sizeof(struct eipt_frag_key) == 12, "eipt_frag_key layout");
_Static_assert(sizeof(struct eipt_frag_value) == 8, "eipt_frag_value layout");
_Static_assert(sizeof(struct eipt_live) == 8, "eipt_live layout");
_Static_assert(sizeof(struct eipt_rule_info) == 8, "eipt_rule_info layout");
_Static_assert(sizeof(struct eipt_reject_config) == 20, "eipt_reject_config layout");
_Static_assert(sizeof(struct eipt_spp_host_key) == 8, "eipt_spp_host_key layout");
_Static_assert(sizeof(struct eipt_src_host_key) == 4, "eipt_src_host_key layout");
#endif

/*
 * The IPv6 data plane's map layouts (bpf/ipv6.h judges with them; Swift writes them
 * through the CLibbpf module). The kernel's ip6tables holds the whole IPv6 ruleset; these
 * tables let XDP drop early what its filter INPUT would certainly drop (docs/ipv6.md).
 *
 * IPv6 has its own live word and generations (live6, v6_conf): an IPv6 change never waits
 * for an IPv4 one, and the IPv4 maps keep their layout. Addresses are network order.
 */

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
	EIPT6_T_HL = 1 << 8,    /* the hop limit against hl_value by hl_op (ip6t_hl.c; != is
				 * == negated) */
	EIPT6_T_RT = 1 << 9,    /* -m rt (ip6t_rt.c): the first routing header, its segments
				 * left in [rt_segs_lo, rt_segs_hi] and the rt_flags tests; no
				 * routing header: no match, negations or not (never negated as
				 * a whole) */
	EIPT6_T_FRAG = 1 << 10, /* -m frag (ip6t_frag.c): the first fragment header, its
				 * identification in [frag_id_lo, frag_id_hi] and the frag_flags
				 * tests; no fragment header: no match (never negated as a whole) */
	EIPT6_T_HDR = 1 << 11,  /* -m ipv6header (ip6t_ipv6header.c): the headers present (hdr_match
				 * as its EIPT6_HDR_* mask) by hdr_mode; never negated by `neg` */
};
/* eipt6_rule.hdr_match and eipt6_pkt's mask: ip6t_ipv6header's MASK_* bits */
#define EIPT6_HDR_HOPOPTS 128u
#define EIPT6_HDR_DSTOPTS 64u
#define EIPT6_HDR_ROUTING 32u
#define EIPT6_HDR_FRAGMENT 16u
#define EIPT6_HDR_AH 8u
#define EIPT6_HDR_ESP 4u
#define EIPT6_HDR_NONE 2u
#define EIPT6_HDR_PROTO 1u
/* eipt6_rule.hdr_mode */
#define EIPT6_HDR_EXACTLY 0u     /* present == hdr_match */
#define EIPT6_HDR_NOT_EXACTLY 1u /* ! --header: present != hdr_match */
#define EIPT6_HDR_ALL_OF 2u      /* --soft: every header of hdr_match present */
#define EIPT6_HDR_NONE_OF 3u     /* ! --header --soft: none of hdr_match present */
/* eipt6_rule.frag_flags */
#define EIPT6_FRAG_INV_IDS 1u /* ! --fragid */
#define EIPT6_FRAG_RES 2u     /* --fragres: reserved byte and bits zero */
#define EIPT6_FRAG_FIRST 4u   /* --fragfirst: offset zero */
#define EIPT6_FRAG_MORE 8u    /* --fragmore: M set */
#define EIPT6_FRAG_LAST 16u   /* --fraglast: M clear */
/* eipt6_rule.rt_flags */
#define EIPT6_RT_TYPE 1u     /* type == rt_type */
#define EIPT6_RT_LEN 2u      /* the header's length in bytes == rt_len */
#define EIPT6_RT_INV_TYPE 4u
#define EIPT6_RT_INV_LEN 8u
#define EIPT6_RT_INV_SEGS 16u
/* eipt6_rule.hl_op */
#define EIPT6_HL_EQ 0u
#define EIPT6_HL_LT 1u
#define EIPT6_HL_GT 2u
/* eipt6_rule.set_flags */
#define EIPT6_SET_PORT 1u     /* hash:ip,port / hash:net,port: the key holds proto and port */
#define EIPT6_SET_DST_PORT 2u /* the port is the destination port (src,dst) */
#define EIPT6_SET_HOSTS 4u    /* no port, every member a /128 (hash:ip without a netmask): the
			       * members are in v6_sethost_N, not in the trie */

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
	__u8 hl_op;      /* EIPT6_HL_*: how EIPT6_T_HL compares */
	__u8 hl_value;
	__u32 rt_segs_lo, rt_segs_hi; /* EIPT6_T_RT: segments left, inclusive */
	__u16 rt_len;
	__u8 rt_type;
	__u8 rt_flags;   /* EIPT6_RT_* */
	__u32 frag_id_lo, frag_id_hi; /* EIPT6_T_FRAG: identification, inclusive */
	__u8 frag_flags; /* EIPT6_FRAG_* */
	__u8 hdr_match;  /* EIPT6_T_HDR: EIPT6_HDR_* mask */
	__u8 hdr_mode;   /* EIPT6_HDR_EXACTLY ... */
	__u8 pad;
};

/* v6_set_N: LPM_TRIE of set members: prefixlen = 32 + the member's prefix length. The
 * value is 1 for a member, 0 for a `nomatch` one (hash:net: the longest stored prefix
 * decides, as the kernel tries its prefixes from the longest). */
struct eipt6_set_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[16];
};
/* v6_sethost_N: HASH of the members of the sets whose every member is a /128 (EIPT6_SET_HOSTS);
 * the value as v6_set_N's. */
struct eipt6_set_host_key {
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
_Static_assert(sizeof(struct eipt6_rule) == 124, "eipt6_rule layout");
_Static_assert(sizeof(struct eipt6_set_key) == 24, "eipt6_set_key layout");
_Static_assert(sizeof(struct eipt6_set_host_key) == 20, "eipt6_set_host_key layout");
_Static_assert(sizeof(struct eipt6_setport_key) == 28, "eipt6_setport_key layout");
_Static_assert(sizeof(struct eipt6_conf) == 16, "eipt6_conf layout");
#endif

#endif
