// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * ebpf-iptables data plane: the XDP layer in front of the kernel's own iptables (which
 * holds the whole ruleset, docs/two-layers.md). It drops early only what filter INPUT
 * would certainly drop and passes everything else up, from tables the Loader writes
 * (layouts and their meaning: ebpf_iptables.h).
 *
 * A packet's position is the rule at the lowest position among:
 *   catch_all_pos, proto_port, src (LPM), src_proto_port (LPM), and the first matching
 *   fallback rule whose position is below the best found so far;
 * or the chain policy when none matched. A DROP position is dropped once the route check
 * (the kernel would hand the packet to INPUT) and, when the ruleset NATs, the NAT check
 * (no NATed connection) allow it; ACCEPT and KERNEL positions pass.
 *
 * Two generations of every per-ruleset map exist; live.generation (read once per
 * packet) says which one judges it, so a restore writes the idle generation and flips
 * one word: every packet sees exactly one whole ruleset. During a transition
 * (EIPT_LIVE_BOTH) both judge it, and only what both drop is dropped.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ebpf_iptables.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The program's shape (ebpf_iptables.h: EIPT_SHAPE_ALL): set before the load, frozen by
 * libbpf, a constant to the verifier, which removes the paths it rules out. Alone in its
 * section, so user space reads a loaded program's shape at offset 0 of its .rodata.shape map. */
const volatile __u32 eipt_shape SEC(".rodata.shape") = EIPT_SHAPE_ALL;
#define EIPT_HAS(bit) (eipt_shape & (bit))

/* ---------------------------------------------------------------- maps */

#define EIPT_GENERATION_MAPS(N)                                                     \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                           \
		__uint(max_entries, EIPT_MAX_RULES);                                        \
		__type(key, __u32);                                                         \
		__type(value, struct eipt_rule_info);                                       \
	} rule_info_##N SEC(".maps");                                                   \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_HASH);                                            \
		__uint(max_entries, EIPT_MAX_PROTO_PORT);                                   \
		__type(key, struct eipt_proto_port_key);                                    \
		__type(value, struct eipt_pos);                                             \
	} proto_port_##N SEC(".maps");                                                  \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                        \
		__uint(max_entries, EIPT_MAX_PREFIXES);                                     \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                       \
		__type(key, struct eipt_src_key);                                           \
		__type(value, struct eipt_pos);                                             \
	} src_##N SEC(".maps");                                                         \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                        \
		__uint(max_entries, EIPT_MAX_PREFIXES);                                     \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                       \
		__type(key, struct eipt_src_proto_port_key);                                \
		__type(value, struct eipt_pos);                                             \
	} src_proto_port_##N SEC(".maps");                                              \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_HASH);                                            \
		__uint(max_entries, EIPT_MAX_HOSTS);                                        \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                       \
		__type(key, struct eipt_src_host_key);                                      \
		__type(value, struct eipt_pos);                                             \
	} src_host_##N SEC(".maps");                                                    \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_HASH);                                            \
		__uint(max_entries, EIPT_MAX_HOSTS);                                        \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                       \
		__type(key, struct eipt_spp_host_key);                                      \
		__type(value, struct eipt_pos);                                             \
	} src_proto_port_host_##N SEC(".maps");                                         \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                           \
		__uint(max_entries, EIPT_MAX_FALLBACK);                                     \
		__type(key, __u32);                                                         \
		__type(value, struct eipt_fb_rule);                                         \
	} fallback_##N SEC(".maps");                                                    \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                           \
		__uint(max_entries, EIPT_MAX_EXT);                                          \
		__type(key, __u32);                                                         \
		__type(value, struct eipt_ext);                                             \
	} ext_##N SEC(".maps");                                                         \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                    \
		__uint(max_entries, EIPT_MAX_RULES + 1);                                    \
		__type(key, __u32);                                                         \
		__type(value, struct eipt_counter);                                         \
	} counters_##N SEC(".maps");

EIPT_GENERATION_MAPS(0)
EIPT_GENERATION_MAPS(1)

/* replies_N (ebpf_iptables.h): the replies XDP sent per `reject` position. */
#define EIPT_REPLY_MAPS(N)                                                              \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);                                     \
		__uint(max_entries, EIPT_MAX_REPLY_POSITIONS);                              \
		__type(key, __u32);                                                         \
		__type(value, struct eipt_counter);                                         \
	} replies_##N SEC(".maps");

EIPT_REPLY_MAPS(0)
EIPT_REPLY_MAPS(1)

/*
 * Look a key up in generation `gen`'s copy of `map`. Each branch names its map as a
 * constant: the verifier types a lookup's result from the map it can prove the call
 * uses, so the map cannot be an indexed variable (a map-in-map would cost another
 * lookup per table). `gen` is a compile-time constant wherever this is used (the
 * per-generation functions below), so each use folds to a single constant map.
 */
#define GEN_LOOKUP(gen, map, key) \
	((gen) ? bpf_map_lookup_elem(&map##_1, (key)) : bpf_map_lookup_elem(&map##_0, (key)))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_live);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct eipt_gen_config);
} gen_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, EIPT_MAX_GUARD);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eipt_src_key);
	__type(value, __u32);
} guard_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EIPT_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EIPT_MAX_FRAGMENTS);
	__type(key, struct eipt_frag_key);
	__type(value, struct eipt_frag_value);
} fragments SEC(".maps");

/* ---------------------------------------------------------------- conntrack kfuncs */

/* The kernel's struct is checked by size (NF_BPF_CT_OPTS_SZ): 16 bytes on 6.18. */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};
#define EIPT_CT_OPTS_SZ 16
#define EIPT_CURRENT_NETNS (-1)
#define EIPT_IP_CT_DIR_REPLY 1
#define EIPT_IPS_EXPECTED (1UL << 0)
#define EIPT_IPS_SEEN_REPLY (1UL << 1)

/* Only the field we read; CO-RE relocates its offset against the running kernel's BTF. */
struct nf_conn {
	unsigned long status;
} __attribute__((preserve_access_index));

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 len_tuple, struct bpf_ct_opts *opts,
					 __u32 len_opts) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

/* ---------------------------------------------------------------- packet facts */

/* CONTINUE positions one packet may match; past that it goes to the kernel. */
#define EIPT_MAX_CONT 8

/* cont_scratch: PERCPU_ARRAY, 1 entry: the CONTINUE positions of the packet being judged
 * on this CPU, in order (eipt_pkt.cont_n of them). Not on the stack: the deepest call chain
 * (program, judge, ext rule, ext test, route check) is at BPF's 512 bytes already. */
struct eipt_cont_list {
	__u32 pos[EIPT_MAX_CONT];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_cont_list);
} cont_scratch SEC(".maps");

/* What the judges and the drop checks look at, parsed once. Lives on the program's stack
 * and is handed to the global functions and the bpf_loop callback by pointer. */
struct eipt_pkt {
	__u32 saddr, daddr;  /* network order */
	__u16 sport, dport;  /* host order, valid when has_ports */
	__u16 tot_len;
	__u8 proto, ttl, tos;
	__u8 has_ports;
	__u8 has_tcp_flags, tcp_flags;
	__u8 has_icmp, icmp_type, icmp_code;
	__u8 nonfirst_frag;
	__u8 first_frag; /* MF set, offset 0: INPUT sees the reassembled datagram */
	__u8 ihl;       /* IP header length in bytes */
	/* The one-byte fields below fill what alignment would leave as padding: this struct
	 * lives in the program's frame, on the judge's call chain at the 512-byte limit. */
	/* Set by eipt_ct_state when the kfunc found a conntrack entry (for the packet, or for
	 * the flow an ICMP error quotes). */
	__u8 ct_entry;
	/* out: how many CONTINUE positions the packet matched before its final one (their
	 * positions in cont_scratch): counted with the final position when XDP decides it. */
	__u8 cont_n;
	__u32 pos;      /* out: deciding position, or rule_count for the policy */
	__u32 verdict;  /* out: enum eipt_verdict; 0 when the generation has no gen_config */
	__u32 gen_flags; /* out: the judging generation's EIPT_GEN_* */
	__u32 live_flags; /* live.flags as read for this packet */
	/* Stateful extension tests (ext_stateful.h): whether the packet reaches filter INPUT
	 * (0 not asked yet, 1 yes, 2 no), and the answers of the ones already evaluated for this
	 * packet, by eipt_ext.id (< 64): a test inlined into several positions acts once. */
	__u8 input_known;
	__u8 ct_snap; /* ext_conntrack.h: the packet's conntrack snapshot is taken */
	/* statistic --mode random draws pending for this packet (bpf/draws.h: the draws
	 * themselves are in the per-CPU draw_slots), and the position whose ext tests run
	 * (positions < EIPT_MAX_RULES fit 16 bits). */
	__u16 draw_pos;
	__u64 memo_done, memo_yes;
	__u8 reject_with;  /* out: eipt_rule_info.reject_with of the deciding position */
	__u8 draw_n;
	__u16 udp_check;   /* UDP: the checksum field as sent (0: none; network order) */
};

/* One pending draw: the position that takes the packet if the draw says yes. */
struct eipt_draw {
	__u32 pos;
	__u32 probability; /* 31-bit threshold */
	__u8 neg, id;      /* XT_STATISTIC_INVERT; eipt_ext.id of the test */
	__u8 verdict, with; /* the position's eipt_rule_info (eipt_draws_plan) */
};
struct eipt_draw_slots {
	struct eipt_draw d[EIPT_MAX_DRAWS];
};
/* Per CPU: a packet is judged start to end on one CPU (as reject_scratch). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_draw_slots);
} draw_slots SEC(".maps");

struct eipt_fb_ctx {
	struct eipt_pkt *pkt;
	__u32 best;     /* in: best position so far; out: the winner */
	__u32 start;    /* first fallback index of this bpf_loop round */
	__u32 ct_state; /* 0: not looked up yet */
	__u32 need_ct;  /* set by the callback: stopped at `start` for a conntrack lookup */
	__u32 need_ext; /* set by the callback: stopped at `start`, whose fixed tests hold, for its ext tests */
	__u32 uncertain; /* set by the callback: `best` tests a state the program cannot tell */
};

/*
 * A fallback rule matches when every present test holds, a negated one must not hold,
 * and port/flag/ICMP tests are false (negated too) when the packet lacks that header,
 * as the kernel's tcp/udp/icmp matches return false for a non-first fragment whatever
 * the inversion. The tests are folded into bit masks rather than tested one by one:
 * every early `return` on a test would be a branch the verifier follows for each state
 * the function can be entered with.
 */
#define EIPT_BIT(cond, bit) ((cond) ? (bit) : 0)
#define EIPT_IN(v, lo, hi) ((v) >= (lo) && (v) <= (hi))

#define EIPT_FB_NO 0
#define EIPT_FB_MATCH 1
#define EIPT_FB_NEED_CT 2 /* everything else holds; the rule tests the conntrack state */
#define EIPT_FB_MAYBE 3   /* everything else holds; the state it tests is uncertain */

/*
 * Whether fallback rule `r` matches: EIPT_FB_*. `ct_state` is 0 until looked up.
 * A global (noinline) function, verified once on its own. Since Linux 6.7 the verifier
 * walks a bpf_loop callback as if called any number of times, until the states at its
 * entry repeat; with this body inlined in the callback its many branches (each EIPT_BIT
 * is one) multiplied across those walks and a 6.18 kernel stopped at 1,000,000
 * instructions. Behind a call the callback is a few branches.
 */
__attribute__((noinline)) int eipt_fb_match(struct eipt_pkt *p, struct eipt_fb_rule *r, __u32 ct_state)
{
	__u32 t, holds = 0, avail = ~0u, unknown = 0;
	__u8 ttl_op;

	if (!p || !r)
		return EIPT_FB_NO;
	t = r->tests;
	ttl_op = r->ttl_op;
	holds |= EIPT_BIT((p->saddr & r->src_mask) == r->src_addr, EIPT_T_SRC);
	holds |= EIPT_BIT((p->daddr & r->dst_mask) == r->dst_addr, EIPT_T_DST);
	holds |= EIPT_BIT(p->proto == r->proto, EIPT_T_PROTO);
	holds |= EIPT_BIT(p->nonfirst_frag, EIPT_T_FRAG);
	holds |= EIPT_BIT(EIPT_IN(p->tot_len, r->len_lo, r->len_hi), EIPT_T_LEN);
	holds |= EIPT_BIT(ttl_op == EIPT_TTL_LT ? p->ttl < r->ttl_val
			  : ttl_op == EIPT_TTL_GT ? p->ttl > r->ttl_val
						  : p->ttl == r->ttl_val, EIPT_T_TTL);
	holds |= EIPT_BIT(EIPT_IN(p->sport, r->sport_lo, r->sport_hi), EIPT_T_SPORT);
	holds |= EIPT_BIT(EIPT_IN(p->dport, r->dport_lo, r->dport_hi), EIPT_T_DPORT);
	holds |= EIPT_BIT(EIPT_IN(p->sport, r->dport_lo, r->dport_hi) ||
			  EIPT_IN(p->dport, r->dport_lo, r->dport_hi), EIPT_T_PORTS);
	holds |= EIPT_BIT((p->tcp_flags & r->tcp_flags_mask) == r->tcp_flags_cmp, EIPT_T_TCP_FLAGS);
	holds |= EIPT_BIT(r->icmp_type == 255 ||
			  (p->icmp_type == r->icmp_type &&
			   EIPT_IN(p->icmp_code, r->icmp_code_lo, r->icmp_code_hi)), EIPT_T_ICMP);
	if (!p->has_ports)
		avail &= ~(EIPT_T_SPORT | EIPT_T_DPORT | EIPT_T_PORTS);
	if (!p->has_tcp_flags)
		avail &= ~EIPT_T_TCP_FLAGS;
	if (!p->has_icmp)
		avail &= ~EIPT_T_ICMP;
	/* A first fragment: xt_length in INPUT measures the reassembled datagram, whose length
	 * XDP does not know. The test may hold either way: the rule may match. */
	if (p->first_frag)
		unknown = EIPT_T_LEN;

	if (((((holds ^ r->neg) & avail) | EIPT_T_CT | unknown) & t) != t)
		return EIPT_FB_NO;
	if (t & EIPT_T_CT) {
		int in_state;

		if (!EIPT_HAS(EIPT_GEN_NEEDS_CT))
			return EIPT_FB_MAYBE; /* specialised without conntrack: the kernel decides */
		if (!ct_state)
			return EIPT_FB_NEED_CT;
		if (ct_state == EIPT_CT_UNCERTAIN)
			return EIPT_FB_MAYBE;
		in_state = (ct_state & r->ct_states) != 0;
		if (in_state == !!(r->neg & EIPT_T_CT))
			return EIPT_FB_NO;
	}
	if (t & unknown)
		return EIPT_FB_MAYBE;
	return EIPT_FB_MATCH;
}

/* eipt_fb_continues' answers. */
#define EIPT_CONT_NOT 0     /* not a CONTINUE position: it decides */
#define EIPT_CONT_GO_ON 1   /* recorded (or already): scan on after it */
#define EIPT_CONT_NEED_CT 2 /* look the conntrack entry up first */
#define EIPT_CONT_KERNEL 3  /* the packet goes to the kernel at this position */

/*
 * A matching entry at position `pos`: whether it is a CONTINUE position, and what to do.
 * iptables counts a packet on a rule without a verdict (no target, MARK, CONNMARK, a jump's
 * charged limit) and goes on to the next rule (ipt_do_table: XT_CONTINUE). So the scan goes
 * on, and the position is recorded to be counted if XDP decides the packet; a position
 * that may match (`maybe`) cannot be counted exactly: the kernel decides from there.
 * EIPT_CONTINUE_NO_CT (CONNMARK writing the connection's mark): a dropped packet of an
 * existing connection would still have changed its mark (xt_connmark writes ct->mark), a
 * packet without an entry only an unconfirmed one the drop frees: only those go on.
 */
static __always_inline int eipt_fb_continues(struct eipt_fb_ctx *c, struct eipt_pkt *p, __u32 pos,
					     int maybe, const int gen)
{
	struct eipt_rule_info *ri = GEN_LOOKUP(gen, rule_info, &pos);
	struct eipt_cont_list *l;
	__u32 n, zero = 0;

	if (!ri || (ri->verdict != EIPT_CONTINUE && ri->verdict != EIPT_CONTINUE_NO_CT))
		return EIPT_CONT_NOT;
	n = p->cont_n;
	l = bpf_map_lookup_elem(&cont_scratch, &zero);
	if (!l)
		return EIPT_CONT_KERNEL;
	if (n && l->pos[(n - 1) & (EIPT_MAX_CONT - 1)] == pos)
		return EIPT_CONT_GO_ON; /* another alternative of the position just recorded */
	if (maybe)
		return EIPT_CONT_KERNEL;
	if (ri->verdict == EIPT_CONTINUE_NO_CT) {
		if (!c->ct_state)
			return EIPT_CONT_NEED_CT;
		if (c->ct_state == EIPT_CT_UNCERTAIN || p->ct_entry)
			return EIPT_CONT_KERNEL;
	}
	if (n >= EIPT_MAX_CONT)
		return EIPT_CONT_KERNEL;
	l->pos[n & (EIPT_MAX_CONT - 1)] = pos;
	p->cont_n = n + 1;
	return EIPT_CONT_GO_ON;
}

static __always_inline long eipt_fallback_step(__u32 i, void *data, const int gen)
{
	struct eipt_fb_ctx *c = data;
	struct eipt_pkt *p = c->pkt;
	__u32 idx = c->start + i;
	struct eipt_fb_rule *r;
	__u32 t;
	int m;

	r = GEN_LOOKUP(gen, fallback, &idx);
	if (!r)
		return 1;
	if (r->pos >= c->best)
		return 1; /* sorted by pos: nothing later can win */
	t = r->tests & ~r->neg;
	/* Cheap rejections first (most rules name a protocol or a port), before the call. */
	if ((t & EIPT_T_PROTO) && p->proto != r->proto)
		return 0;
	if ((t & EIPT_T_DPORT) && !(p->has_ports && EIPT_IN(p->dport, r->dport_lo, r->dport_hi)))
		return 0;
	m = eipt_fb_match(p, r, c->ct_state);
	if (m == EIPT_FB_NEED_CT) {
		/* The conntrack kfunc needs the xdp_md context, which a bpf_loop callback does
		 * not get. So stop here, let the judge look the state up once, and resume at this
		 * rule. Tested last, so the lookup only happens when everything else matched. */
		c->need_ct = 1;
		c->start = idx;
		return 1;
	}
	if ((m == EIPT_FB_MATCH || m == EIPT_FB_MAYBE) && r->ext_count) {
		/* Extension tests need the context (packet bytes, helpers): stop here, let the
		 * judge evaluate them, and go on after this rule if they do not hold. */
		c->need_ext = 1;
		c->start = idx;
		c->uncertain = m == EIPT_FB_MAYBE;
		return 1;
	}
	if (m == EIPT_FB_MATCH || m == EIPT_FB_MAYBE) {
		int k = eipt_fb_continues(c, p, r->pos, m == EIPT_FB_MAYBE, gen);

		if (k == EIPT_CONT_GO_ON)
			return 0;
		if (k == EIPT_CONT_NEED_CT) {
			c->need_ct = 1;
			c->start = idx;
			return 1;
		}
		/* A rule that may match holds its place: the kernel decides from here. */
		c->best = r->pos;
		if (k == EIPT_CONT_KERNEL)
			m = EIPT_FB_MAYBE;
		c->uncertain = m == EIPT_FB_MAYBE;
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- conntrack state */

static __always_inline __u32 eipt_ct_tuple_state(struct xdp_md *ctx, __u32 saddr, __u32 daddr,
						 __u16 sport_be, __u16 dport_be, __u8 proto,
						 __u32 found_state)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts opts = {};
	struct nf_conn *ct;
	__u32 state;

	tup.ipv4.saddr = saddr;
	tup.ipv4.daddr = daddr;
	tup.ipv4.sport = sport_be;
	tup.ipv4.dport = dport_be;
	opts.netns_id = EIPT_CURRENT_NETNS;
	opts.l4proto = proto;
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, EIPT_CT_OPTS_SZ);
	if (!ct)
		return 0;
	if (found_state) {
		state = found_state;
	} else {
		unsigned long status = ct->status;
		if (opts.dir == EIPT_IP_CT_DIR_REPLY || (status & EIPT_IPS_SEEN_REPLY))
			state = EIPT_CT_ESTABLISHED;
		else if (status & EIPT_IPS_EXPECTED)
			state = EIPT_CT_RELATED;
		else
			state = EIPT_CT_NEW;
	}
	/* The verifier insists the acquired reference is released on every path. */
	bpf_ct_release(ct);
	return state;
}

/*
 * A TCP segment conntrack has no entry for. The kernel starts tracking only from a
 * segment that can open a connection: a SYN, or (nf_conntrack_tcp_loose, on by default)
 * a mid-stream ACK; every other flag combination (SYN-ACK, FIN, RST, none, nonsense) is
 * refused by tcp_error()/tcp_new() and the packet is INVALID. PSH, ECE and CWR never
 * change that decision, so they are masked first, as the kernel does.
 */
static __always_inline __u32 eipt_tcp_new_state(__u8 flags)
{
	__u8 f = flags & ~(0x08 | 0x40 | 0x80); /* PSH, ECE, CWR */

	if (f == 0x02 || f == (0x02 | 0x20) || f == 0x10 || f == (0x10 | 0x20))
		return EIPT_CT_NEW; /* SYN, SYN|URG, ACK, ACK|URG */
	return EIPT_CT_INVALID;
}

/*
 * The conntrack state of the packet. The kfunc only knows TCP and UDP tuples; other
 * protocols get the documented guesses. A global (non-static, noinline) function: the
 * verifier checks it once on its own instead of once per path that reaches it, which
 * keeps verification time small. Global functions may only take the context and plain
 * memory, not packet pointers, so it finds the transport header again from ctx.
 */
__attribute__((noinline)) int eipt_ct_state(struct xdp_md *ctx, struct eipt_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *l4;
	__u32 s, ihl;

	if (!p)
		return EIPT_CT_UNCERTAIN;
	ihl = p->ihl;
	if (ihl < 20 || ihl > 60)
		return EIPT_CT_UNCERTAIN;
	l4 = data + sizeof(struct ethhdr) + ihl;

	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		if (!p->has_ports)
			return p->proto == IPPROTO_TCP && !p->nonfirst_frag ? EIPT_CT_INVALID : EIPT_CT_NEW;
		s = eipt_ct_tuple_state(ctx, p->saddr, p->daddr, bpf_htons(p->sport),
					bpf_htons(p->dport), p->proto, 0);
		if (s) {
			p->ct_entry = 1;
			return s;
		}
		if (p->proto == IPPROTO_TCP && p->has_tcp_flags)
			return eipt_tcp_new_state(p->tcp_flags);
		return EIPT_CT_NEW;
	}
	if (p->proto == IPPROTO_ICMP && p->has_icmp) {
		__u8 t = p->icmp_type;
		if (t == 3 || t == 4 || t == 5 || t == 11 || t == 12) {
			/* An ICMP error quotes the offending packet: ours, original direction. */
			struct iphdr *in = l4 + 8;
			__u32 ihl;
			__u16 *ports;

			if ((void *)(in + 1) > data_end)
				return EIPT_CT_INVALID;
			ihl = in->ihl * 4;
			if (ihl < sizeof(*in) || ihl > 60)
				return EIPT_CT_INVALID;
			/* RELATED to a flow the kfunc cannot look up (an ICMP query, GRE, ...), or
			 * INVALID: the kernel knows, we do not. */
			if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
				return EIPT_CT_UNCERTAIN;
			ports = (void *)in + ihl;
			if ((void *)(ports + 2) > data_end)
				return EIPT_CT_INVALID;
			s = eipt_ct_tuple_state(ctx, in->saddr, in->daddr, ports[0], ports[1],
						in->protocol, EIPT_CT_RELATED);
			if (s)
				p->ct_entry = 1;
			return s ? s : EIPT_CT_INVALID;
		}
		/*
		 * Queries (echo, timestamp, info, mask) and their replies. The kfunc cannot look
		 * ICMP flows up: a request is NEW, or ESTABLISHED once this host answered an
		 * earlier one with the same id (ping repeats its id); a reply is ESTABLISHED when
		 * it answers this host's own request, else INVALID. We cannot tell: uncertain.
		 * Other types never open a flow in the kernel (icmp_new()): INVALID.
		 */
		if (t == 0 || t == 14 || t == 16 || t == 18 || t == 8 || t == 13 || t == 15 || t == 17)
			return EIPT_CT_UNCERTAIN;
		return EIPT_CT_INVALID;
	}
	if (p->proto == IPPROTO_ICMP)
		return EIPT_CT_INVALID; /* shorter than an ICMP header: conntrack refuses it */
	/* GRE, ESP, SCTP, ...: NEW, or ESTABLISHED once a reply was seen; the kfunc cannot say. */
	return EIPT_CT_UNCERTAIN;
}

/* ---------------------------------------------------------------- the drop path */

/* Not in Debian 12's uapi header as a macro (an enum there, and absent before 6.3): the
 * value is BPF_FIB_LOOKUP_SKIP_NEIGH's, BIT(2) since Linux 6.3. */
#define EIPT_FIB_SKIP_NEIGH (1u << 2)
#define EIPT_AF_INET 2
#define EIPT_EINVAL 22

/* conntrack status bits (enum ip_conntrack_status). IPS_SRC_NAT / IPS_DST_NAT are set only
 * when NAT changed the tuple. The *_NAT_DONE bits are not used: they mean "NAT was
 * decided", and a null binding (no nat rule matched) sets them too, so every connection
 * that crossed a nat hook has them. */
#define EIPT_IPS_SRC_NAT (1UL << 4)
#define EIPT_IPS_DST_NAT (1UL << 5)

/*
 * The kernel structures the route check reads to learn, without a helper call, whether the
 * ingress device forwards IPv4 at all (IN_DEV_FORWARD, the first thing bpf_fib_lookup
 * checks). Only the fields read; CO-RE relocates them against the running kernel's BTF.
 */
struct ipv4_devconf {
	int data[1]; /* data[IPV4_DEVCONF_FORWARDING - 1] is the device's `forwarding` */
} __attribute__((preserve_access_index));
struct in_device {
	struct ipv4_devconf cnf;
} __attribute__((preserve_access_index));
struct net_device {
	struct in_device *ip_ptr;
} __attribute__((preserve_access_index));
struct xdp_rxq_info {
	struct net_device *dev;
} __attribute__((preserve_access_index));
struct xdp_buff {
	struct xdp_rxq_info *rxq;
} __attribute__((preserve_access_index));
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* Whether the device the packet arrived on forwards IPv4: when it does not, the kernel
 * either delivers the packet to this host (INPUT) or drops it, and bpf_fib_lookup would
 * answer FWD_DISABLED before looking anything up. Reading the flag costs a few loads; the
 * helper call (device lookup by index, then the check) cost about 35 ns a dropped packet. */
static __always_inline int eipt_ingress_forwards(struct xdp_md *ctx)
{
	struct xdp_buff *xb = bpf_cast_to_kern_ctx(ctx);
	struct in_device *in;

	if (!xb || !xb->rxq || !xb->rxq->dev)
		return 1; /* cannot tell: ask the routing */
	in = xb->rxq->dev->ip_ptr;
	if (!in)
		return 0; /* no IPv4 on the device: nothing is forwarded from it */
	return in->cnf.data[0] != 0;
}

#define EIPT_CHECK_ROUTE 1u /* ask the routing (not ALL_DESTINATIONS) */
#define EIPT_CHECK_NAT 2u   /* EIPT_GEN_NAT_CHECK */

/*
 * The checks a judged DROP must pass before it is dropped (see the header: the route
 * check, and the NAT check): 0 when the drop stands, else the EIPT_STAT_* of the reason
 * it passes. Only the drop path calls it: accepted packets never pay for a lookup.
 * A global function like eipt_ct_state, so the verifier checks it once.
 */
static __always_inline int eipt_drop_overruled_inl(struct xdp_md *ctx, struct eipt_pkt *p, __u32 checks)
{
	if (!p)
		return EIPT_STAT_ROUTE_PASSED;
	if (checks & EIPT_CHECK_ROUTE) {
		struct bpf_fib_lookup fib = {};
		long rc;

		if ((bpf_ntohl(p->daddr) >> 28) == 0xe)
			return EIPT_STAT_ROUTE_PASSED; /* multicast: see the header */
		if (!eipt_ingress_forwards(ctx))
			goto route_ok;
		fib.family = EIPT_AF_INET;
		fib.tos = p->tos;
		fib.l4_protocol = p->proto;
		if (p->has_ports) {
			fib.sport = bpf_htons(p->sport);
			fib.dport = bpf_htons(p->dport);
		}
		fib.tot_len = p->tot_len;
		fib.ifindex = ctx->ingress_ifindex;
		fib.ipv4_src = p->saddr;
		fib.ipv4_dst = p->daddr;
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), EIPT_FIB_SKIP_NEIGH);
		if (rc == -EIPT_EINVAL) /* a kernel before 6.3 refuses the flag before looking */
			rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
		switch (rc) {
		case BPF_FIB_LKUP_RET_FWD_DISABLED:
		case BPF_FIB_LKUP_RET_NOT_FWDED:
		case BPF_FIB_LKUP_RET_BLACKHOLE:
		case BPF_FIB_LKUP_RET_UNREACHABLE:
		case BPF_FIB_LKUP_RET_PROHIBIT:
			break; /* for INPUT, or dropped by the kernel before it */
		default:
			return EIPT_STAT_ROUTE_PASSED; /* forwarded, or we cannot tell */
		}
	}
route_ok:
	if (checks & EIPT_CHECK_NAT) {
		struct bpf_sock_tuple tup = {};
		struct bpf_ct_opts opts = {};
		struct nf_conn *ct;
		unsigned long status;

		/* Only TCP and UDP can be looked up; the replies of other NATed protocols are
		 * de-NATed by address and forwarded, so everything else passes. */
		if ((p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) || !p->has_ports)
			return EIPT_STAT_NAT_PASSED;
		/* The tuple as it arrives: conntrack finds either direction of a connection. */
		tup.ipv4.saddr = p->saddr;
		tup.ipv4.daddr = p->daddr;
		tup.ipv4.sport = bpf_htons(p->sport);
		tup.ipv4.dport = bpf_htons(p->dport);
		opts.netns_id = EIPT_CURRENT_NETNS;
		opts.l4proto = p->proto;
		ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, EIPT_CT_OPTS_SZ);
		if (ct) {
			status = ct->status;
			bpf_ct_release(ct);
			if (status & (EIPT_IPS_SRC_NAT | EIPT_IPS_DST_NAT))
				return EIPT_STAT_NAT_PASSED;
		}
	}
	return 0;
}

__attribute__((noinline)) int eipt_drop_overruled(struct xdp_md *ctx, struct eipt_pkt *p, __u32 checks)
{
	return eipt_drop_overruled_inl(ctx, p, checks);
}

/* ---------------------------------------------------------------- extension tests */

/* Shared by the stateful kinds: reaching INPUT, once per packet. */
#include "ext_stateful.h"
/* One function per kind, each in its own header (bpf/ext_*.h): answers EIPT_EXT_*. Every
 * kind is noinline: inlined, their frames (addresses, keys, search state) would add up in
 * eipt_ext_holds, and the deepest call chain (program, judge, ext
 * rule, ext test, route check) must stay within BPF's 512-byte stack. */
#include "ext_mac.h"
#include "ext_addrtype.h"
#include "ext_pkttype.h"
#include "ext_limit.h"
#include "ext_statistic.h"
#include "ext_hashlimit.h"
#include "ext_string.h"
#include "ext_tcpopt.h"
#include "ext_iprange.h"
#include "ext_length.h"
#include "ext_proto.h"
/* REJECT's reply built in XDP. */
#include "reject.h"
#include "ext_recent.h"
#include "ext_conntrack.h"
#include "ext_time.h"
/* statistic --mode random: the pending draws. */
#include "draws.h"

/*
 * Whether extension test `e` holds for the packet. A global function: verified once,
 * whatever the number of rules and kinds. An unknown kind (an object older than the
 * tables) may match: its rule's position goes to the kernel.
 */
__attribute__((noinline)) int eipt_ext_holds(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	if (!p || !e)
		return EIPT_EXT_MAYBE;
	switch (e->kind) {
	case EIPT_EXT_MAC:
		return eipt_ext_mac(ctx, e);
	case EIPT_EXT_ADDRTYPE:
		return eipt_ext_addrtype(ctx, p, e);
	case EIPT_EXT_PKTTYPE:
		return eipt_ext_pkttype(ctx, e);
	case EIPT_EXT_LIMIT:
		return eipt_ext_limit(ctx, p, e);
	case EIPT_EXT_STATISTIC:
		return eipt_ext_statistic(ctx, p, e);
	case EIPT_EXT_HASHLIMIT:
		return eipt_ext_hashlimit(ctx, p, e);
	case EIPT_EXT_STRING:
		return eipt_ext_string(ctx, p, e);
	case EIPT_EXT_TCPOPT:
		return eipt_ext_tcpopt(ctx, p, e);
	case EIPT_EXT_IPRANGE:
		return eipt_ext_iprange(p, e);
	case EIPT_EXT_LENGTH:
		return eipt_ext_length(ctx, p, e);
	case EIPT_EXT_TTL:
		return eipt_ext_ttl(p, e);
	case EIPT_EXT_RECENT:
		return eipt_ext_recent(ctx, p, e);
	case EIPT_EXT_CONNTRACK:
		return eipt_ext_conntrack(ctx, p, e);
	case EIPT_EXT_TIME:
		return eipt_ext_time(e);
	case EIPT_EXT_PROTO:
		return eipt_ext_proto(p, e);
	default:
		return EIPT_EXT_MAYBE;
	}
}

/* Tests one rule may hold (a rule with more goes to the kernel: the compiler never writes one). */
#define EIPT_MAX_EXT_PER_RULE 8

/* The extension tests of fallback rule `idx` of generation `gen`, in order: EIPT_EXT_NO at
 * the first that does not hold, MAYBE at the first that cannot tell, else YES. */
static __always_inline int eipt_ext_rule(struct xdp_md *ctx, struct eipt_pkt *p, __u32 idx, const int gen)
{
	struct eipt_fb_rule *r = GEN_LOOKUP(gen, fallback, &idx);
	__u32 first, count, i;

	if (!r)
		return EIPT_EXT_MAYBE;
	first = r->ext_first;
	count = r->ext_count;
	p->draw_pos = r->pos; /* for a draw left pending (bpf/ext_statistic.h) */
	if (count > EIPT_MAX_EXT_PER_RULE)
		return EIPT_EXT_MAYBE;
	for (i = 0; i < EIPT_MAX_EXT_PER_RULE; i++) {
		__u32 k = first + i;
		struct eipt_ext *e;
		int a;

		if (i >= count)
			break;
		e = GEN_LOOKUP(gen, ext, &k);
		if (!e)
			return EIPT_EXT_MAYBE;
		a = eipt_ext_holds(ctx, p, e);
		if (a != EIPT_EXT_YES)
			return a == EIPT_EXT_NO ? EIPT_EXT_NO : EIPT_EXT_MAYBE;
	}
	return EIPT_EXT_YES;
}

/* ---------------------------------------------------------------- the program */

/* The reply counter of `reject` position `pos` of generation `gen`, made on first use. Its
 * own (global) function: verified apart, it leaves the main program's code as it was. */
static __always_inline struct eipt_counter *eipt_reply_counter(__u32 gen, __u32 pos)
{
	struct eipt_counter zero = {}, *c;

	if (gen) {
		c = bpf_map_lookup_elem(&replies_1, &pos);
		if (!c) {
			bpf_map_update_elem(&replies_1, &pos, &zero, BPF_NOEXIST);
			c = bpf_map_lookup_elem(&replies_1, &pos);
		}
	} else {
		c = bpf_map_lookup_elem(&replies_0, &pos);
		if (!c) {
			bpf_map_update_elem(&replies_0, &pos, &zero, BPF_NOEXIST);
			c = bpf_map_lookup_elem(&replies_0, &pos);
		}
	}
	return c;
}

/* Whether `pos` has a reply counter (made now if not): 0 when the map is full, and then the
 * packet goes up (the kernel's REJECT answers and counts it). */
__attribute__((noinline)) int eipt_reply_slot(__u32 gen, __u32 pos)
{
	return eipt_reply_counter(gen, pos) != 0;
}

/* Counts the reply now in the frame, sent from `pos`: one packet and its IP length (the
 * kernel's OUTPUT counters count IP bytes). */
__attribute__((noinline)) int eipt_reply_sent(struct xdp_md *ctx, __u32 gen, __u32 pos)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct eipt_counter *c = eipt_reply_counter(gen, pos);

	if (!c || (void *)(ip + 1) > data_end)
		return 0;
	c->packets += 1; /* per-CPU: no atomics needed */
	c->bytes += bpf_ntohs(ip->tot_len);
	return 1;
}

/*
 * Count at position `idx` of generation `gen`, a run-time value here. The verifier inlines a
 * lookup only when its call site names one constant map; clang would merge the two lookups
 * below into one call on a selected map (a generic helper call with an indirect jump: about
 * 12 ns a packet more here), and the empty asm in one branch keeps them apart.
 */
static __always_inline void eipt_count(__u32 gen, __u32 idx, __u64 packets, __u64 bytes)
{
	struct eipt_counter *c;

	if (gen) {
		c = bpf_map_lookup_elem(&counters_1, &idx);
	} else {
		c = bpf_map_lookup_elem(&counters_0, &idx);
		asm volatile("" ::: "memory");
	}
	if (c) { /* per-CPU: no atomics needed */
		c->packets += packets;
		c->bytes += bytes;
	}
}

/* The CONTINUE positions the packet matched on its way to the one XDP decides it at: the
 * kernel would have counted it on each (ipt_do_table counts every rule whose matches hold). */
__attribute__((noinline)) int eipt_count_cont(__u32 gen, struct eipt_pkt *p, __u32 bytes)
{
	struct eipt_cont_list *l;
	__u32 i, n, zero = 0;

	if (!p)
		return 0;
	n = p->cont_n;
	if (!n)
		return 0;
	l = bpf_map_lookup_elem(&cont_scratch, &zero);
	if (!l)
		return 0;
	for (i = 0; i < EIPT_MAX_CONT; i++) {
		if (i >= n)
			break;
		eipt_count(gen, l->pos[i], 1, bytes);
	}
	return 0;
}

static __always_inline int eipt_stat(__u32 idx, int action)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &idx);

	if (n)
		*n += 1;
	return action;
}

static __always_inline __u32 eipt_min(__u32 best, struct eipt_pos *v)
{
	return (v && v->pos < best) ? v->pos : best;
}

/*
 * Judge a parsed packet by generation `gen` (a compile-time constant after inlining, so
 * every GEN_LOOKUP folds to one constant map). Sets p->pos, p->verdict and p->gen_flags.
 */
#define EIPT_MAX_ROUNDS 16

/* Open-coded number iterator (Linux 6.4+). Debian 12's uapi header predates the struct; the
 * verifier recognises it by name and size. */
#ifndef EIPT_HAVE_BPF_ITER_NUM
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));
#endif
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

static __always_inline int eipt_judge(struct xdp_md *ctx, struct eipt_pkt *p, const int gen, const int lean,
				      void *step, int (*ext_rule)(struct xdp_md *, struct eipt_pkt *, __u32),
				      int (*ext_cont)(struct xdp_md *, struct eipt_pkt *, struct eipt_fb_ctx *, __u32, int))
{
	struct eipt_fb_ctx fc = {};
	struct eipt_gen_config *cfg;
	__u32 cfg_key = gen, best, count, tables, idx, finished = 0;
	struct bpf_iter_num rounds;

	cfg = bpf_map_lookup_elem(&gen_config, &cfg_key);
	if (!cfg)
		return 0;
	best = cfg->catch_all_pos;
	tables = cfg->flags;
	p->gen_flags = tables;
	if (tables & ~eipt_shape) {
		/* The generation needs a path this program was specialised without (the Loader
		 * widens the program before it writes such tables; this is the safety net). */
		p->verdict = EIPT_KERNEL;
		p->pos = cfg->rule_count;
		return 0;
	}
	/* Constant-folded: lookups of tables the shape rules out are gone from the program. */
	tables &= eipt_shape;
	{
		struct eipt_proto_port_key k = { .proto = p->proto };
		if (p->has_ports && (tables & EIPT_GEN_PP_PORT)) {
			k.dport = bpf_htons(p->dport);
			best = eipt_min(best, GEN_LOOKUP(gen, proto_port, &k));
		}
		if (tables & EIPT_GEN_PP_ANY) {
			k.any_port = 1;
			k.dport = 0;
			best = eipt_min(best, GEN_LOOKUP(gen, proto_port, &k));
		}
	}
	{
		/* An exact /32 hit is the longest match; only a miss needs the trie. */
		struct eipt_src_host_key h = { .addr = p->saddr };
		struct eipt_pos *v = NULL;
		if (tables & EIPT_GEN_SRC_HOST)
			v = GEN_LOOKUP(gen, src_host, &h);
		if (!v && (tables & EIPT_GEN_SRC_TRIE)) {
			struct eipt_src_key k = { .prefixlen = 32, .addr = p->saddr };
			v = GEN_LOOKUP(gen, src, &k);
		}
		best = eipt_min(best, v);
	}
	{
		struct eipt_spp_host_key h = { .proto = p->proto, .addr = p->saddr };
		struct eipt_src_proto_port_key k = { .prefixlen = 64, .proto = p->proto,
						     .addr = p->saddr };
		struct eipt_pos *v = NULL;
		if (p->has_ports) {
			h.dport = bpf_htons(p->dport);
			if (tables & EIPT_GEN_SPP_HOST_PORT)
				v = GEN_LOOKUP(gen, src_proto_port_host, &h);
			if (!v && (tables & EIPT_GEN_SPP_TRIE_PORT)) {
				k.dport = h.dport;
				v = GEN_LOOKUP(gen, src_proto_port, &k);
			}
			best = eipt_min(best, v);
		}
		v = NULL;
		h.any_port = 1;
		h.dport = 0;
		if (tables & EIPT_GEN_SPP_HOST_ANY)
			v = GEN_LOOKUP(gen, src_proto_port_host, &h);
		if (!v && (tables & EIPT_GEN_SPP_TRIE_ANY)) {
			k.any_port = 1;
			k.dport = 0;
			v = GEN_LOOKUP(gen, src_proto_port, &k);
		}
		best = eipt_min(best, v);
	}

	/* Fallback rules through bpf_loop: the verifier checks the callback instead of
	 * unrolling up to EIPT_MAX_FALLBACK iterations of a long body. */
	fc.pkt = p;
	fc.best = best;
	count = cfg->fallback_count;
	if (count > EIPT_MAX_FALLBACK)
		count = EIPT_MAX_FALLBACK;
	if (lean) {
		/* The lean program (eipt_xdp_lean) has no fallback walk at all, not even in its
		 * code: rows (which its shape rules out) go to the kernel. */
		finished = count == 0;
		goto walked;
	}
	if (!EIPT_HAS(EIPT_GEN_FALLBACK)) {
		/* Specialised without fallback rows: the fail-safe above saw none (no FALLBACK bit
		 * in the generation), so the whole walk below is gone. Rows it has anyway (a
		 * writer that did not say so) are not walked: the kernel decides. */
		finished = count == 0;
		goto walked;
	}
	/* Rounds: the callback stops for the one conntrack lookup, and at each rule whose
	 * extension tests must be evaluated; the next round resumes there. A packet that needs
	 * more rounds than EIPT_MAX_ROUNDS goes to the kernel.
	 * An open-coded iterator, not a counted loop: the verifier walks a counted loop once per
	 * iteration (each with the bpf_loop callback and the calls), 16 times per generation —
	 * 12 s of verification on this machine — while an iterator's body is checked until
	 * its states repeat (two or three walks). */
	bpf_iter_num_new(&rounds, 0, EIPT_MAX_ROUNDS);
	while (bpf_iter_num_next(&rounds)) {
		if (fc.start >= count) {
			finished = 1;
			break;
		}
		bpf_loop(count - fc.start, step, &fc, 0);
		if (fc.need_ct && !EIPT_HAS(EIPT_GEN_NEEDS_CT))
			break; /* specialised without conntrack (cannot happen: see eipt_fb_match): the kernel decides */
		if (fc.need_ct) {
			fc.need_ct = 0;
			fc.ct_state = eipt_ct_state(ctx, p);
			continue;
		}
		if (!fc.need_ext) {
			finished = 1;
			break;
		}
		fc.need_ext = 0;
		{
			struct eipt_fb_rule *er;
			int a;

			idx = fc.start;
			er = GEN_LOOKUP(gen, fallback, &idx);
			if (!EIPT_HAS(EIPT_GEN_EXT)) {
				a = EIPT_EXT_MAYBE; /* specialised without them: cannot tell */
			} else {
				if (er && (er->ext_flags & EIPT_EXT_F_STATEFUL))
					eipt_reaches_input(ctx, p);
				a = ext_rule(ctx, p, fc.start);
			}
			if (a == EIPT_EXT_NO) {
				fc.uncertain = 0;
				fc.start++;
				continue;
			}
			idx = fc.start;
			{
				struct eipt_fb_rule *r = GEN_LOOKUP(gen, fallback, &idx);
				if (r) {
					int k = ext_cont(ctx, p, &fc, r->pos, a == EIPT_EXT_MAYBE || fc.uncertain);

					/* The verifier takes memory a global function was given as
					 * overwritten with plain numbers: store the pointer again. */
					fc.pkt = p;

					if (k == EIPT_CONT_GO_ON) {
						fc.uncertain = 0;
						fc.start++;
						continue;
					}
					if (k != EIPT_CONT_NOT)
						a = EIPT_EXT_MAYBE;
					fc.best = r->pos;
				}
			}
			if (a == EIPT_EXT_MAYBE)
				fc.uncertain = 1;
			finished = 1;
			break;
		}
	}
	bpf_iter_num_destroy(&rounds);
walked:
	best = fc.best;

	if (best == EIPT_NO_RULE || best >= EIPT_MAX_RULES) {
		p->verdict = cfg->policy;
		p->pos = cfg->rule_count;
	} else {
		struct eipt_rule_info *ri = GEN_LOOKUP(gen, rule_info, &best);
		p->verdict = ri ? ri->verdict : cfg->policy;
		p->reject_with = ri ? ri->reject_with : 0;
		if (fc.uncertain)
			p->verdict = EIPT_KERNEL;
		p->pos = best;
	}
	/* Rounds ran out before the fallback list was: a later rule might have matched below
	 * the best found so far (or at all, where the policy stands): the kernel decides. */
	if (!finished)
		p->verdict = EIPT_KERNEL;
	return 0;
}

/* One callback and one global judge per generation, each with constant maps. The judges
 * are global functions: verified once each, so two generations cost twice one, not the
 * product of every branch on the generation. */
#define EIPT_GENERATION_CODE(N)                                                         \
	static long eipt_fallback_step_##N(__u32 i, void *data)                             \
	{                                                                                   \
		return eipt_fallback_step(i, data, N);                                          \
	}                                                                                   \
	__attribute__((noinline)) int eipt_ext_rule_##N(struct xdp_md *ctx, struct eipt_pkt *p, \
							__u32 idx)                                       \
	{                                                                                   \
		if (!p)                                                                         \
			return EIPT_EXT_MAYBE;                                                  \
		return eipt_ext_rule(ctx, p, idx, N);                                           \
	}                                                                                   \
	/* A fallback entry whose ext tests held (or may hold): eipt_fb_continues, with the \
	 * conntrack lookup it may need. Its own global function: the judge's frame is on   \
	 * the deepest call chain. */                                                       \
	__attribute__((noinline)) int eipt_ext_cont_##N(struct xdp_md *ctx, struct eipt_pkt *p, \
							struct eipt_fb_ctx *c, __u32 pos, int maybe)     \
	{                                                                                   \
		int k;                                                                          \
		if (!p || !c)                                                                   \
			return EIPT_CONT_KERNEL;                                                \
		k = eipt_fb_continues(c, p, pos, maybe, N);                                     \
		if (k == EIPT_CONT_NEED_CT && !EIPT_HAS(EIPT_GEN_NEEDS_CT))                     \
			return EIPT_CONT_KERNEL;                                                \
		if (k == EIPT_CONT_NEED_CT) {                                                   \
			c->ct_state = eipt_ct_state(ctx, p);                                    \
			k = eipt_fb_continues(c, p, pos, maybe, N);                             \
		}                                                                               \
		return k == EIPT_CONT_NEED_CT ? EIPT_CONT_KERNEL : k;                           \
	}                                                                                   \
	__attribute__((noinline)) int eipt_judge_##N(struct xdp_md *ctx, struct eipt_pkt *p) \
	{                                                                                   \
		if (!p)                                                                         \
			return 0;                                                               \
		return eipt_judge(ctx, p, N, 0, eipt_fallback_step_##N, eipt_ext_rule_##N,      \
				  eipt_ext_cont_##N);                                           \
	}

EIPT_GENERATION_CODE(0)
EIPT_GENERATION_CODE(1)

static __always_inline void eipt_judge_by(struct xdp_md *ctx, struct eipt_pkt *p, __u32 gen, const int lean)
{
	p->verdict = 0;
	p->gen_flags = 0;
	p->cont_n = 0;
	p->draw_n = 0;
	if (lean) {
		/* Inline: a call to a global function costs ~20 ns a packet on this machine, the
		 * judge's own work little more; only the lean program's small body can afford it
		 * within BPF's 512-byte stack. */
		if (gen)
			eipt_judge(ctx, p, 1, 1, eipt_fallback_step_1, eipt_ext_rule_1, eipt_ext_cont_1);
		else
			eipt_judge(ctx, p, 0, 1, eipt_fallback_step_0, eipt_ext_rule_0, eipt_ext_cont_0);
	} else if (gen)
		eipt_judge_1(ctx, p);
	else
		eipt_judge_0(ctx, p);
}

#include "ipv6.h"

/*
 * Order of the decisions: unjudged passes (not IPv4, malformed, EMPTY, PASS_ALL, martian
 * source), the guard, fragments of a datagram whose first fragment was dropped, the
 * judge(s), and on the drop path only the route and NAT checks.
 *
 * Two programs share this body: eipt_xdp (lean = 0), every path, and eipt_xdp_lean
 * (lean = 1), for shapes of keyed tables only (EIPT_SHAPE_LEAN: no fallback rows, ext tests,
 * conntrack, NAT check or REJECT, the SIP-edge whitelist's shape): clang leaves those paths
 * out of its code, and the judge and the route check are inlined (calls cost more than the
 * work there). The Loader loads one of the two, by shape.
 */
static __always_inline int eipt_main(struct xdp_md *ctx, const int lean)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct eipt_live *lv;
	struct eipt_pkt pkt = {};
	struct eipt_frag_key fk = {};
	__u32 zero = 0, gen, flags, ihl, frag, l4len, verdict, pos, gen_flags, checks;
	void *l4;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(EIPT6_ETH_P_IPV6))
		return eipt6_xdp(ctx) == XDP_DROP ? XDP_DROP : XDP_PASS; /* bpf/ipv6.h */
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS); /* not IPv4, VLAN-tagged included */
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->version != 4)
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS); /* the kernel drops malformed headers itself */
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip) || (void *)ip + ihl > data_end)
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS);
	pkt.ihl = ihl;
	pkt.tot_len = bpf_ntohs(ip->tot_len);
	if (pkt.tot_len < ihl || (void *)ip + pkt.tot_len > data_end)
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS);

	lv = bpf_map_lookup_elem(&live, &zero);
	if (!lv)
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS);
	/* Read once each (volatile: the compiler may not load them again): everything below
	 * judges by this one generation and these flags, whatever user space writes meanwhile. */
	gen = *(volatile __u32 *)&lv->generation ? 1 : 0;
	flags = *(volatile __u32 *)&lv->flags;
	if (flags & (EIPT_LIVE_EMPTY | EIPT_LIVE_PASS_ALL))
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS);

	pkt.saddr = ip->saddr;
	pkt.daddr = ip->daddr;
	pkt.live_flags = flags;
	{
		/* Martian sources (0.0.0.0, 127/8, multicast, 255.255.255.255) are dropped by the
		 * kernel's route lookup before INPUT: iptables never sees them, so neither do we.
		 * The rest of 0/8 does reach INPUT on this kernel (the oracle showed it). */
		__u32 src = bpf_ntohl(ip->saddr);
		if (src == 0 || (src >> 24) == 127 || (src >> 28) == 0xe || src == 0xffffffff)
			return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS);
	}
	if (flags & EIPT_LIVE_GUARD) {
		struct eipt_src_key gk = { .prefixlen = 32, .addr = ip->saddr };
		if (bpf_map_lookup_elem(&guard_src, &gk))
			return eipt_stat(EIPT_STAT_GUARD_PASSED, XDP_PASS);
	}
	pkt.proto = ip->protocol;
	pkt.ttl = ip->ttl;
	pkt.tos = ip->tos;

	/* Fragments: INPUT sees reassembled datagrams, judged by their first fragment's
	 * headers. Only a first fragment XDP dropped is remembered, and the rest of its
	 * datagram dropped; any other non-first fragment goes up for the kernel to reassemble
	 * (it may have come before its first fragment, which XDP has not judged yet). */
	frag = bpf_ntohs(ip->frag_off);
	fk.saddr = ip->saddr;
	fk.daddr = ip->daddr;
	fk.id = ip->id;
	fk.proto = ip->protocol;
	if (frag & 0x1fff) {
		struct eipt_frag_value *stored = bpf_map_lookup_elem(&fragments, &fk);
		if (!stored)
			return eipt_stat(EIPT_STAT_FRAGMENT_PASSED, XDP_PASS);
		/* Bytes only: the kernel counts one packet per datagram, at its first fragment. */
		eipt_count(stored->generation, stored->pos, 0, pkt.tot_len - ihl);
		return eipt_stat(EIPT_STAT_DROPPED, XDP_DROP);
	}
	pkt.first_frag = (frag & 0x2000) != 0;

	/* Transport header: bounded by the IP total length (not Ethernet padding). */
	l4 = (void *)ip + ihl;
	l4len = pkt.tot_len - ihl;
	switch (pkt.proto) {
	case IPPROTO_TCP:
		if (l4len >= 14 && l4 + 14 <= data_end) {
			pkt.has_tcp_flags = 1;
			pkt.tcp_flags = ((__u8 *)l4)[13];
		}
		/* fallthrough */
	case IPPROTO_UDP:
		if (pkt.proto == IPPROTO_UDP && l4len >= 8 && l4 + 8 <= data_end)
			pkt.udp_check = ((__u16 *)l4)[3];
		/* fallthrough */
	case 132: /* sctp */
	case 136: /* udplite */
	case 33:  /* dccp */
		if (l4len >= 4 && l4 + 4 <= data_end) {
			pkt.has_ports = 1;
			pkt.sport = bpf_ntohs(((__u16 *)l4)[0]);
			pkt.dport = bpf_ntohs(((__u16 *)l4)[1]);
		}
		break;
	case IPPROTO_ICMP:
		if (l4len >= 8 && l4 + 8 <= data_end) {
			pkt.has_icmp = 1;
			pkt.icmp_type = ((__u8 *)l4)[0];
			pkt.icmp_code = ((__u8 *)l4)[1];
		}
		break;
	}

	eipt_judge_by(ctx, &pkt, gen, lean);
	if (!lean && EIPT_HAS(EIPT_GEN_EXT) && pkt.draw_n && !(flags & EIPT_LIVE_BOTH))
		eipt_draws_settle(ctx, &pkt, gen, frag); /* may change pos, verdict, reject_with */
	verdict = pkt.verdict;
	pos = pkt.pos;
	gen_flags = pkt.gen_flags;
	if (!verdict)
		return eipt_stat(EIPT_STAT_UNTOUCHED, XDP_PASS); /* no gen_config: cannot happen once loaded */
	if (flags & EIPT_LIVE_BOTH) {
		/* Transition: the kernel holds either ruleset meanwhile; drop only what both drop. */
		__u8 reject_with = pkt.reject_with;

		/* CONTINUE positions are counted on one generation's positions: while both judge,
		 * a packet that met any goes up and the kernel counts it. */
		if (pkt.cont_n)
			return eipt_stat(EIPT_STAT_SPLIT_PASSED, XDP_PASS);
		eipt_judge_by(ctx, &pkt, !gen, lean);
		if (pkt.cont_n)
			return eipt_stat(EIPT_STAT_SPLIT_PASSED, XDP_PASS);
		if ((verdict == EIPT_DROP) != (pkt.verdict == EIPT_DROP))
			return eipt_stat(EIPT_STAT_SPLIT_PASSED, XDP_PASS);
		/* REJECT in either: only the same reply from both (the kernel's is one of them). */
		if ((verdict == EIPT_REJECT || pkt.verdict == EIPT_REJECT) &&
		    (verdict != pkt.verdict || reject_with != pkt.reject_with))
			return eipt_stat(EIPT_STAT_SPLIT_PASSED, XDP_PASS);
		pkt.reject_with = reject_with;
		gen_flags |= pkt.gen_flags;
	} else if (EIPT_HAS(EIPT_GEN_XDP_ONLY) && verdict == EIPT_ACCEPT && (gen_flags & EIPT_GEN_XDP_ONLY)) {
		eipt_count(gen, pos, 1, pkt.tot_len); /* the kernel's INPUT is empty: no one else counts it */
		if (!lean && EIPT_HAS(EIPT_GEN_FALLBACK)) /* CONTINUE positions are fallback rows */
			eipt_count_cont(gen, &pkt, pkt.tot_len);
	}
	if (verdict != EIPT_DROP && verdict != EIPT_REJECT)
		return eipt_stat(EIPT_STAT_PASSED, XDP_PASS);

	/* A first fragment: its later fragments add their bytes to the deciding position only;
	 * one that met CONTINUE positions goes up, and the kernel counts the datagram. */
	if ((frag & 0x2000) && pkt.cont_n)
		return eipt_stat(EIPT_STAT_FRAGMENT_PASSED, XDP_PASS);
	checks = (flags & EIPT_LIVE_ALL_DESTINATIONS) ? 0 : EIPT_CHECK_ROUTE;
	if (!lean && EIPT_HAS(EIPT_GEN_NAT_CHECK) && (gen_flags & EIPT_GEN_NAT_CHECK))
		checks |= EIPT_CHECK_NAT;
	if (checks) {
		int why = lean ? eipt_drop_overruled_inl(ctx, &pkt, checks) : eipt_drop_overruled(ctx, &pkt, checks);
		if (why)
			return eipt_stat(why, XDP_PASS);
	}
	if (verdict == EIPT_REJECT) {
		/* The drop path's checks held: answer as the kernel's REJECT would, or pass the
		 * packet up for the kernel to answer (then the kernel counts it). */
		__u32 tot_len = pkt.tot_len;
		int r;

		if (lean || !EIPT_HAS(EIPT_GEN_REJECT)) /* specialised without REJECT: the kernel answers */
			return eipt_stat(EIPT_STAT_REJECT_PASSED, XDP_PASS);
		if (!eipt_reply_slot(gen, pos))
			return eipt_stat(EIPT_STAT_REJECT_PASSED, XDP_PASS);
		r = eipt_reject_reply(ctx, &pkt, pkt.reject_with, frag);
		if (r == EIPT_STAT_REJECT_PASSED)
			return eipt_stat(r, XDP_PASS);
		eipt_count(gen, pos, 1, tot_len);
		if (r == EIPT_STAT_REJECTED)
			eipt_reply_sent(ctx, gen, pos);
		if (!lean && EIPT_HAS(EIPT_GEN_FALLBACK))
			eipt_count_cont(gen, &pkt, tot_len);
		return eipt_stat(r, r == EIPT_STAT_REJECTED ? XDP_TX : XDP_DROP);
	}
	eipt_count(gen, pos, 1, pkt.tot_len);
	if (!lean && EIPT_HAS(EIPT_GEN_FALLBACK))
		eipt_count_cont(gen, &pkt, pkt.tot_len);
	if (frag & 0x2000) { /* first fragment (MF, offset 0): drop the rest of the datagram too */
		struct eipt_frag_value fv = { .pos = pos, .generation = gen };
		bpf_map_update_elem(&fragments, &fk, &fv, BPF_ANY);
	}
	return eipt_stat(EIPT_STAT_DROPPED, XDP_DROP);
}

SEC("xdp")
int eipt_xdp(struct xdp_md *ctx)
{
	return eipt_main(ctx, 0);
}

SEC("xdp")
int eipt_xdp_lean(struct xdp_md *ctx)
{
	return eipt_main(ctx, 1);
}

/*
 * Not attached anywhere: user space runs it with BPF_PROG_TEST_RUN (the frame then arrives
 * on the caller's namespace's loopback) to read the routing generation that local_state
 * records (bpf/ext_addrtype.h): it writes rt_genid and fib_seq (host order, __u32 each)
 * into the first 8 bytes of the frame, which the test run returns. Frames shorter than
 * 8 bytes are left as they are.
 */
SEC("xdp")
int eipt_route_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct net_device___eipt *dev = eipt_ingress_dev(ctx);
	__u32 *out = data;
	struct net___eipt *net;

	if ((void *)(out + 2) > data_end || !dev)
		return XDP_PASS;
	net = dev->nd_net.net;
	if (!net || !bpf_core_field_exists(net->ipv4.fib_seq))
		return XDP_PASS;
	out[0] = (__u32)net->ipv4.rt_genid.counter;
	out[1] = net->ipv4.fib_seq;
	return XDP_DROP;
}
