/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The IPv6 path of the XDP program (layouts: ebpf_iptables.h; design: docs/ipv6.md).
 *
 * Only what ip6tables' filter INPUT would certainly drop is dropped; everything else
 * passes, and the kernel's ip6tables (which holds the whole ruleset) decides it again.
 * Passed unjudged (the kernel decides alone):
 *   - malformed or truncated headers, a jumbogram (payload length 0), more than
 *     EIPT6_MAX_EXT_HDRS extension headers, an AH header (nft's meta l4proto stops at AH:
 *     nft_set_pktinfo_ipv6 asks ipv6_find_hdr with IP6_FH_F_AUTH);
 *   - a hop-by-hop header with any option but Pad1/PadN (ip6_rcv_core parses hop-by-hop
 *     options before PREROUTING and may drop the packet there: INPUT would never count it);
 *   - sources the kernel drops before PREROUTING (multicast, ::1, v4-mapped) and a
 *     loopback or unspecified destination;
 *   - non-first fragments (the kernel reassembles before INPUT when conntrack is loaded,
 *     and judges each fragment alone when not: either way the first fragment carries the
 *     headers a rule tests); a first fragment whose transport header is not complete; every
 *     first fragment when the ruleset loads conntrack (EIPT6_GEN_FRAGMENTS_UP);
 *   - NDP (ICMPv6 133..137): never dropped by XDP, whatever the ruleset says;
 *   - on the drop path: multicast destinations, and any destination the routing says is
 *     forwarded (eipt6_ingress_forwards, then bpf_fib_lookup AF_INET6 as the IPv4 route
 *     check).
 */
#ifndef EBPF_IPTABLES_IPV6_H
#define EBPF_IPTABLES_IPV6_H

#include <linux/ipv6.h>
#include "ebpf_iptables.h"

#define EIPT6_ETH_P_IPV6 0x86DD
#define EIPT_AF_INET6 10

#define EIPT6_GEN_MAPS(N)                                                               \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                       \
		__uint(max_entries, EIPT6_MAX_ENTRIES);                                 \
		__type(key, __u32);                                                     \
		__type(value, struct eipt6_rule);                                       \
	} v6_rules_##N SEC(".maps");                                                    \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                    \
		__uint(max_entries, EIPT6_MAX_SET_KEYS);                                \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                   \
		__type(key, struct eipt6_set_key);                                      \
		__type(value, __u32);                                                   \
	} v6_set_##N SEC(".maps");                                                      \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_HASH);                                        \
		__uint(max_entries, EIPT6_MAX_SET_KEYS);                                \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                   \
		__type(key, struct eipt6_set_host_key);                                 \
		__type(value, __u32);                                                   \
	} v6_sethost_##N SEC(".maps");                                                  \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                    \
		__uint(max_entries, EIPT6_MAX_SET_KEYS);                                \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                   \
		__type(key, struct eipt6_setport_key);                                  \
		__type(value, __u32);                                                   \
	} v6_setport_##N SEC(".maps");                                                  \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                \
		__uint(max_entries, EIPT6_MAX_POSITIONS + 1);                           \
		__type(key, __u32);                                                     \
		__type(value, struct eipt_counter);                                     \
	} v6_counters_##N SEC(".maps");

EIPT6_GEN_MAPS(0)
EIPT6_GEN_MAPS(1)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_live);
} live6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct eipt6_conf);
} v6_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EIPT6_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} v6_stats SEC(".maps");

/* What the judge tests, found once per packet. */
struct eipt6_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport, dport; /* host order; valid when has_ports */
	__u16 ipset_port;   /* network order: the port ipset's get_port reads (see below) */
	__u8 proto;         /* the upper-layer protocol (after the extension headers) */
	__u8 has_ports;
	__u8 has_icmp;
	__u8 icmp_type, icmp_code;
	__u8 first_frag;    /* a fragment header with offset 0 and more fragments */
	__u8 tcp_flags;     /* TCP: byte 13 of the header */
	__u8 ct_state;      /* enum eipt_ct_state, when the generation needs it */
	__u8 hop_limit;     /* as INPUT sees it: a local delivery does not decrement it */
	__u8 has_rt;        /* the first routing header (ipv6_find_hdr's for -m rt): */
	__u8 rt_type, rt_segs;
	__u16 rt_len;       /* its length in bytes ((hdrlen + 1) * 8) */
	__u8 has_frag;      /* the first fragment header (ip6t_frag's); its offset is 0 here */
	__u8 frag_more;     /* M */
	__u8 frag_res;      /* its reserved byte and bits are zero */
	__u32 frag_id;      /* host order */
	__u8 hdr_mask;      /* the headers present, as ip6t_ipv6header counts them (EIPT6_HDR_*) */
	__u8 esp_short;     /* ESP with under 2 bytes left: ip6t_ipv6header answers no */
	__u32 tot_len;      /* 40 + payload length: what ip6tables counts (skb->len) */
	/* judge output */
	__u32 verdict;
	__u32 pos;
};

static __always_inline int eipt6_stat(__u32 idx, int action)
{
	__u64 *n = bpf_map_lookup_elem(&v6_stats, &idx);

	if (n)
		*n += 1;
	return action;
}

/* (a & m) == v over 16 bytes. */
static __always_inline int eipt6_masked_eq(const __u8 *a, const __u8 *m, const __u8 *v)
{
	const __u64 *a8 = (const void *)a, *m8 = (const void *)m, *v8 = (const void *)v;

	return (a8[0] & m8[0]) == v8[0] && (a8[1] & m8[1]) == v8[1];
}

struct eipt6_judge_ctx {
	struct eipt6_pkt *p;
	__u32 count;
	__u32 found;     /* index of the deciding entry + 1; 0 none */
};

/*
 * One entry. The set test looks the member up as the kernel's ipset kadt does:
 * hash:ip / hash:net by the source address (longest stored prefix decides, nomatch
 * members answer no); hash:ip,port / hash:net,port with the packet's protocol and the
 * port ipset's get_port reads (a non-first fragment never gets here).
 */
static __always_inline int eipt6_entry_holds(const struct eipt6_rule *r, const struct eipt6_pkt *p,
					     const int gen)
{
	__u32 t = r->tests, neg = r->neg;

#define EIPT6_CHECK(bit, cond)                                                          \
	if (t & (bit)) {                                                                \
		int ok_ = (cond) ? 1 : 0;                                               \
		if (ok_ == ((neg & (bit)) ? 1 : 0))                                     \
			return 0;                                                       \
	}
	EIPT6_CHECK(EIPT6_T_SRC, eipt6_masked_eq(p->saddr, r->src_mask, r->src));
	EIPT6_CHECK(EIPT6_T_DST, eipt6_masked_eq(p->daddr, r->dst_mask, r->dst));
	EIPT6_CHECK(EIPT6_T_PROTO, p->proto == r->proto);
	/* Port and ICMPv6 tests read the transport header, which the judge only runs on when
	 * it is complete: a packet of another protocol never matches one, negated or not (the
	 * rule's own -p says which protocol; nft's payload expression breaks the rule). */
	if (t & (EIPT6_T_SPORT | EIPT6_T_DPORT)) {
		if (!p->has_ports)
			return 0;
	}
	EIPT6_CHECK(EIPT6_T_SPORT, p->sport >= r->sport_lo && p->sport <= r->sport_hi);
	EIPT6_CHECK(EIPT6_T_DPORT, p->dport >= r->dport_lo && p->dport <= r->dport_hi);
	if ((t & EIPT6_T_ICMP) && !p->has_icmp)
		return 0;
	EIPT6_CHECK(EIPT6_T_ICMP, p->icmp_type == r->icmp_type && p->icmp_code >= r->icmp_code_lo &&
				   p->icmp_code <= r->icmp_code_hi);
	if ((t & EIPT6_T_RT) && !p->has_rt)
		return 0;
	EIPT6_CHECK(EIPT6_T_RT, ((p->rt_segs >= r->rt_segs_lo && p->rt_segs <= r->rt_segs_hi) ^
				 !!(r->rt_flags & EIPT6_RT_INV_SEGS)) &&
				(!(r->rt_flags & EIPT6_RT_TYPE) ||
				 ((p->rt_type == r->rt_type) ^ !!(r->rt_flags & EIPT6_RT_INV_TYPE))) &&
				(!(r->rt_flags & EIPT6_RT_LEN) ||
				 ((p->rt_len == r->rt_len) ^ !!(r->rt_flags & EIPT6_RT_INV_LEN))));
	if (t & EIPT6_T_HDR) {
		__u8 m = r->hdr_match, have = p->hdr_mask;
		int ok = r->hdr_mode == EIPT6_HDR_EXACTLY	? have == m
			 : r->hdr_mode == EIPT6_HDR_NOT_EXACTLY ? have != m
			 : r->hdr_mode == EIPT6_HDR_ALL_OF	? (have & m) == m
								: (have & m) == 0;
		if (p->esp_short || !ok)
			return 0;
	}
	if ((t & EIPT6_T_FRAG) && !p->has_frag)
		return 0;
	/* --fraglen is not tested: frag_mt6 ignores ip6t_frag.hdrlen. --fragfirst always holds
	 * here (a fragment with an offset passes before the judge). */
	EIPT6_CHECK(EIPT6_T_FRAG, ((p->frag_id >= r->frag_id_lo && p->frag_id <= r->frag_id_hi) ^
				   !!(r->frag_flags & EIPT6_FRAG_INV_IDS)) &&
				  (!(r->frag_flags & EIPT6_FRAG_RES) || p->frag_res) &&
				  (!(r->frag_flags & EIPT6_FRAG_MORE) || p->frag_more) &&
				  (!(r->frag_flags & EIPT6_FRAG_LAST) || !p->frag_more));
	EIPT6_CHECK(EIPT6_T_HL, r->hl_op == EIPT6_HL_LT   ? p->hop_limit < r->hl_value
				: r->hl_op == EIPT6_HL_GT ? p->hop_limit > r->hl_value
							  : p->hop_limit == r->hl_value);
	if (t & EIPT6_T_SET) {
		__u32 *v = 0;
		int member;

		if (r->set_flags & EIPT6_SET_PORT) {
			struct eipt6_setport_key k = { .prefixlen = 64 + 128, .set_id = r->set_id,
						       .proto = p->proto };
			k.port = (r->set_flags & EIPT6_SET_DST_PORT) ? p->ipset_port
								     : (p->has_ports ? bpf_htons(p->sport) : p->ipset_port);
			__builtin_memcpy(k.addr, p->saddr, 16);
			v = gen ? bpf_map_lookup_elem(&v6_setport_1, &k) : bpf_map_lookup_elem(&v6_setport_0, &k);
		} else if (r->set_flags & EIPT6_SET_HOSTS) {
			/* Every member a /128: one hash lookup finds what the trie's longest
			 * prefix would. */
			struct eipt6_set_host_key k = { .set_id = r->set_id };
			__builtin_memcpy(k.addr, p->saddr, 16);
			v = gen ? bpf_map_lookup_elem(&v6_sethost_1, &k) : bpf_map_lookup_elem(&v6_sethost_0, &k);
		} else {
			struct eipt6_set_key k = { .prefixlen = 32 + 128, .set_id = r->set_id };
			__builtin_memcpy(k.addr, p->saddr, 16);
			v = gen ? bpf_map_lookup_elem(&v6_set_1, &k) : bpf_map_lookup_elem(&v6_set_0, &k);
		}
		member = v && *v;
		if (member == ((neg & EIPT6_T_SET) ? 1 : 0))
			return 0;
	}
	if (t & EIPT6_T_CT) {
		/* Last: every other test holds. A state XDP cannot tell may match. */
		if (p->ct_state & EIPT_CT_UNCERTAIN)
			return 2;
		EIPT6_CHECK(EIPT6_T_CT, (p->ct_state & r->ct_states) != 0);
	}
#undef EIPT6_CHECK
	return 1;
}

#define EIPT6_STEP(N)                                                                   \
	static long eipt6_step_##N(__u32 i, void *data)                                 \
	{                                                                               \
		struct eipt6_judge_ctx *c = data;                                       \
		struct eipt6_rule *r;                                                   \
		__u32 k = i;                                                            \
		if (k >= c->count)                                                      \
			return 1;                                                       \
		r = bpf_map_lookup_elem(&v6_rules_##N, &k);                             \
		if (!r)                                                                 \
			return 1;                                                       \
		int h_ = eipt6_entry_holds(r, c->p, N);                                 \
		if (h_) {                                                               \
			c->found = k + 1;                                               \
			c->p->verdict = h_ == 2 ? EIPT_KERNEL : r->verdict;             \
			c->p->pos = r->pos;                                             \
			return 1;                                                       \
		}                                                                       \
		return 0;                                                               \
	}
EIPT6_STEP(0)
EIPT6_STEP(1)

/* First match over generation `gen`'s entries; the policy (at index `positions`) when none
 * matches. 0 when the generation has no configuration (then the packet passes). */
static __noinline int eipt6_ct_state(struct xdp_md *ctx, struct eipt6_pkt *p);

static __always_inline int eipt6_judge(struct xdp_md *ctx, struct eipt6_pkt *p, __u32 gen)
{
	struct eipt6_conf *conf = bpf_map_lookup_elem(&v6_conf, &gen);
	struct eipt6_judge_ctx c = { .p = p };

	if (!conf || !conf->policy)
		return 0;
	if ((conf->flags & EIPT6_GEN_PASS_ALL) || (p->first_frag && (conf->flags & EIPT6_GEN_FRAGMENTS_UP))) {
		p->verdict = EIPT_KERNEL;
		p->pos = conf->positions;
		return 1;
	}
	c.count = conf->count;
	if (c.count > EIPT6_MAX_ENTRIES)
		c.count = EIPT6_MAX_ENTRIES;
	p->verdict = conf->policy;
	p->pos = conf->positions;
	if ((conf->flags & EIPT6_GEN_NEEDS_CT) && !p->ct_state)
		p->ct_state = eipt6_ct_state(ctx, p);
	/* One callback per call site: the verifier then inlines bpf_loop into a plain loop of
	 * direct calls (inline_bpf_loop); a callback chosen at run time costs an indirect call
	 * per entry. The barrier keeps the compiler from merging the two calls into one. */
	if (c.count) {
		if (gen) {
			bpf_loop(c.count, eipt6_step_1, &c, 0);
		} else {
			bpf_loop(c.count, eipt6_step_0, &c, 0);
			asm volatile("" ::: "memory");
		}
	}
	return 1;
}

/* Whether ip6_rcv_core accepts a hop-by-hop header without dropping the packet and
 * without an option the kernel acts on. Only the two plain 8-byte forms are judged: six
 * Pad1, or one PadN of four zero bytes (ip6_parse_tlv refuses more than 7 bytes of padding
 * and PadN bytes that are not zero); any other goes up unjudged. */
static __always_inline int eipt6_hbh_plain(const __u8 *h, __u32 hdrlen)
{
	if (hdrlen != 8 || h[4] || h[5] || h[6] || h[7])
		return 0;
	return (h[2] == 0 && h[3] == 0) || (h[2] == 1 && h[3] == 4);
}

/* The kernel fields the route check reads (CO-RE flavours, relocated against the running
 * kernel's BTF). force_forwarding is Linux 6.17's; older kernels lack it. */
struct ipv6_devconf___eipt6 {
	__s32 forwarding;
	__s32 force_forwarding;
} __attribute__((preserve_access_index));
struct inet6_dev___eipt6 {
	struct ipv6_devconf___eipt6 cnf;
} __attribute__((preserve_access_index));
struct netns_ipv6___eipt6 {
	struct ipv6_devconf___eipt6 *devconf_all;
} __attribute__((preserve_access_index));
struct net___eipt6 {
	struct netns_ipv6___eipt6 ipv6;
} __attribute__((preserve_access_index));
struct net_device___eipt6 {
	struct inet6_dev___eipt6 *ip6_ptr;
	struct {
		struct net___eipt6 *net;
	} nd_net;
} __attribute__((preserve_access_index));

/*
 * Whether the kernel may forward an IPv6 packet that arrived on the ingress device, read
 * without a helper call: 0 never (the drop needs no route lookup), 1 it may (ask the
 * routing), 2 it may, but bpf_fib_lookup cannot tell (answers FWD_DISABLED without looking).
 * The kernel forwards only through ip6_forward, which drops the packet unless the
 * namespace's net.ipv6.conf.all.forwarding is on, or (6.17+) the ingress device's
 * force_forwarding; everything else the routing gives is local delivery (INPUT) or a
 * drop. bpf_fib_lookup asks the ingress device's own `forwarding` instead, so with `all`
 * on and the device's off its FWD_DISABLED proves nothing. No IPv6 on the device: ipv6_rcv
 * drops the packet.
 */
static __always_inline int eipt6_ingress_forwards(struct xdp_md *ctx)
{
	struct xdp_buff *xb = bpf_cast_to_kern_ctx(ctx);
	struct net_device___eipt6 *dev;
	struct inet6_dev___eipt6 *idev;
	struct ipv6_devconf___eipt6 *all;
	struct net___eipt6 *net;
	int force = 0;

	if (!xb || !xb->rxq || !xb->rxq->dev)
		return 1;
	dev = (struct net_device___eipt6 *)xb->rxq->dev;
	idev = dev->ip6_ptr;
	if (!idev)
		return 0;
	net = dev->nd_net.net;
	if (!net)
		return 1;
	all = net->ipv6.devconf_all;
	if (!all)
		return 1;
	if (bpf_core_field_exists(idev->cnf.force_forwarding))
		force = idev->cnf.force_forwarding;
	if (!all->forwarding && !force)
		return 0;
	return idev->cnf.forwarding ? 1 : 2;
}

/* The route check of the drop path (see the IPv4 one in ebpf_iptables.h): 0 when the
 * drop stands. */
static __always_inline int eipt6_route_passes(struct xdp_md *ctx, const struct eipt6_pkt *p)
{
	struct bpf_fib_lookup fib = {};
	long r;
	int fwd;

	if (p->daddr[0] == 0xff)
		return 1; /* multicast: the kernel may route it (mc_forwarding); no lookup can tell */
	fwd = eipt6_ingress_forwards(ctx);
	if (fwd != 1)
		return fwd; /* never forwarded: the drop stands; or no lookup can tell: it passes */
	fib.family = EIPT_AF_INET6;
	fib.l4_protocol = p->proto;
	fib.sport = p->has_ports ? bpf_htons(p->sport) : 0;
	fib.dport = p->has_ports ? bpf_htons(p->dport) : 0;
	fib.tot_len = p->tot_len;
	fib.ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(fib.ipv6_src, p->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, p->daddr, 16);
	r = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (r) {
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
	case BPF_FIB_LKUP_RET_NOT_FWDED:
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return 0;
	}
	return 1;
}

static __always_inline void eipt6_count(__u32 gen, __u32 pos, __u64 bytes)
{
	struct eipt_counter *c = gen ? bpf_map_lookup_elem(&v6_counters_1, &pos)
				     : bpf_map_lookup_elem(&v6_counters_0, &pos);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

/*
 * The conntrack state of the packet, as eipt_ct_state finds it for IPv4: TCP and UDP are
 * looked up with the kfunc (an IPv6 tuple); found: ESTABLISHED once a reply was seen (or
 * the packet is a reply), RELATED for an expected connection, else NEW; not found: a UDP
 * datagram is NEW, a TCP segment NEW when it may open a connection (eipt_tcp_new_state),
 * else INVALID. Every other protocol (ICMPv6 included: errors quote a packet behind
 * extension headers XDP does not walk) is uncertain.
 */
static __noinline int eipt6_ct_state(struct xdp_md *ctx, struct eipt6_pkt *p)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts opts = {};
	struct nf_conn *ct;
	__u32 state;

	if (!p || (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) || !p->has_ports)
		return EIPT_CT_UNCERTAIN;
	__builtin_memcpy(tup.ipv6.saddr, p->saddr, 16);
	__builtin_memcpy(tup.ipv6.daddr, p->daddr, 16);
	tup.ipv6.sport = bpf_htons(p->sport);
	tup.ipv6.dport = bpf_htons(p->dport);
	opts.netns_id = EIPT_CURRENT_NETNS;
	opts.l4proto = p->proto;
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv6), &opts, EIPT_CT_OPTS_SZ);
	if (!ct) {
		if (p->proto == IPPROTO_TCP)
			return eipt_tcp_new_state(p->tcp_flags);
		return EIPT_CT_NEW;
	}
	{
		unsigned long status = ct->status;
		if (opts.dir == EIPT_IP_CT_DIR_REPLY || (status & EIPT_IPS_SEEN_REPLY))
			state = EIPT_CT_ESTABLISHED;
		else if (status & EIPT_IPS_EXPECTED)
			state = EIPT_CT_RELATED;
		else
			state = EIPT_CT_NEW;
	}
	bpf_ct_release(ct);
	return state;
}

/* The extension headers ipv6_find_hdr walks (ipv6_ext_hdr(); NONE ends the walk). */
static __always_inline int eipt6_is_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

/* The IPv6 path: `ip` is the header right after Ethernet. A global function: the verifier
 * checks it once on its own instead of within each entry program's state (inside the lean
 * program, whose judge is inlined, that came to ~890,000 verified instructions, close to the
 * kernel's 1,000,000 limit). Its result is unknown to the caller, so the caller maps it back
 * to XDP_DROP or XDP_PASS. */
__noinline int eipt6_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip = data + sizeof(struct ethhdr);
	struct eipt6_pkt pkt = {};
	struct eipt_live *lv;
	__u32 zero = 0, gen, flags, off, plen, verdict, pos;
	__u8 nh;
	__u8 *h;
	int i, first_frag = 0;

	if ((void *)(ip + 1) > data_end || ip->version != 6)
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	lv = bpf_map_lookup_elem(&live6, &zero);
	if (!lv)
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	gen = *(volatile __u32 *)&lv->generation ? 1 : 0;
	flags = *(volatile __u32 *)&lv->flags;
	if (flags & (EIPT_LIVE_EMPTY | EIPT_LIVE_PASS_ALL))
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	plen = bpf_ntohs(ip->payload_len);
	if (plen == 0 || (void *)(ip + 1) + plen > data_end)
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS); /* jumbogram or truncated */
	pkt.tot_len = plen + sizeof(*ip);
	__builtin_memcpy(pkt.saddr, &ip->saddr, 16);
	pkt.hop_limit = ip->hop_limit;
	__builtin_memcpy(pkt.daddr, &ip->daddr, 16);
	{
		/* ip6_rcv_core drops these before PREROUTING: never judged. */
		const __u32 *s = (const void *)pkt.saddr, *d = (const void *)pkt.daddr;
		if (pkt.saddr[0] == 0xff)
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
		if (s[0] == 0 && s[1] == 0 && (s[2] == bpf_htonl(0xffff) || (s[2] == 0 && s[3] == bpf_htonl(1))))
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
		if (d[0] == 0 && d[1] == 0 && (d[2] == bpf_htonl(0xffff) ||
					       (d[2] == 0 && (d[3] == 0 || d[3] == bpf_htonl(1)))))
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	}

	/* The extension-header chain, as ipv6_find_hdr walks it for nft's meta l4proto. */
	nh = ip->nexthdr;
	off = 0; /* from the end of the fixed header */
	for (i = 0; i < EIPT6_MAX_EXT_HDRS + 1; i++) {
		__u32 hdrlen;

		if (!eipt6_is_ext(nh))
			break;
		if (i == EIPT6_MAX_EXT_HDRS || nh == 51)
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
		if (off > 2048 || off + 8 > plen)
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
		h = (__u8 *)(ip + 1) + (off & 2047);
		if ((void *)(h + 8) > data_end)
			return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
		if (nh == 44) {
			__u16 fo = bpf_ntohs(*(__u16 *)(h + 2));
			if (fo & 0xfff8)
				return eipt6_stat(EIPT6_STAT_FRAGMENT_PASSED, XDP_PASS);
			if (fo & 1)
				first_frag = 1;
			if (!pkt.has_frag) {
				pkt.has_frag = 1;
				pkt.frag_more = fo & 1;
				pkt.frag_res = h[1] == 0 && !(fo & 6);
				pkt.frag_id = bpf_ntohl(*(__u32 *)(h + 4));
			}
			hdrlen = 8;
		} else {
			hdrlen = ((__u32)h[1] + 1) * 8;
			if (nh == 43 && !pkt.has_rt) {
				pkt.has_rt = 1;
				pkt.rt_type = h[2];
				pkt.rt_segs = h[3];
				pkt.rt_len = hdrlen;
			}
			if (nh == 0 && (i != 0 || !eipt6_hbh_plain(h, hdrlen)))
				return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS); /* not first: dropped after INPUT */
		}
		pkt.hdr_mask |= nh == 0 ? EIPT6_HDR_HOPOPTS : nh == 60 ? EIPT6_HDR_DSTOPTS :
				nh == 43 ? EIPT6_HDR_ROUTING : EIPT6_HDR_FRAGMENT;
		nh = h[0];
		off += hdrlen;
	}
	if (off > plen)
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	pkt.proto = nh;
	pkt.first_frag = first_frag;
	/* ip6t_ipv6header ends its walk at ESP and at "no next header"; anything else there
	 * is the upper-layer protocol. */
	if (nh == 50) {
		pkt.hdr_mask |= EIPT6_HDR_ESP;
		pkt.esp_short = plen - off < 2;
	} else {
		pkt.hdr_mask |= nh == 59 ? EIPT6_HDR_NONE : EIPT6_HDR_PROTO;
	}
	h = (__u8 *)(ip + 1) + (off & 4095);
	{
		/* The transport header, whole within the payload, or the packet goes up. */
		__u32 need = 0;
		switch (nh) {
		case 6: need = 20; break;   /* TCP */
		case 17: need = 8; break;   /* UDP */
		case 136: need = 8; break;  /* UDP-Lite */
		case 132: need = 12; break; /* SCTP */
		case 58: need = 8; break;   /* ICMPv6 */
		}
		if (need) {
			/* The payload lies within the frame (checked above), so off + need <= plen
			 * puts the whole header there; the verifier wants its own bound for the
			 * four bytes read. */
			if (off + need > plen || (void *)(h + 8) > data_end)
				return eipt6_stat(first_frag ? EIPT6_STAT_FRAGMENT_PASSED : EIPT6_STAT_UNTOUCHED,
						  XDP_PASS);
			if (nh == 58) {
				pkt.has_icmp = 1;
				pkt.icmp_type = h[0];
				pkt.icmp_code = h[1];
				pkt.ipset_port = bpf_htons(((__u16)h[0] << 8) | h[1]);
				if (h[0] >= 133 && h[0] <= 137)
					return eipt6_stat(EIPT6_STAT_NDP_PASSED, XDP_PASS);
			} else {
				pkt.has_ports = 1;
				if (nh == 6 && (void *)(h + 14) <= data_end)
					pkt.tcp_flags = h[13];
				pkt.sport = bpf_ntohs(*(__u16 *)h);
				pkt.dport = bpf_ntohs(*(__u16 *)(h + 2));
				pkt.ipset_port = *(__u16 *)(h + 2);
			}
		}
	}

	if (!eipt6_judge(ctx, &pkt, gen))
		return eipt6_stat(EIPT6_STAT_UNTOUCHED, XDP_PASS);
	verdict = pkt.verdict;
	pos = pkt.pos;
	if (flags & EIPT_LIVE_BOTH) {
		if (!eipt6_judge(ctx, &pkt, !gen) || (verdict == EIPT_DROP) != (pkt.verdict == EIPT_DROP))
			return eipt6_stat(EIPT6_STAT_SPLIT_PASSED, XDP_PASS);
	}
	if (verdict != EIPT_DROP)
		return eipt6_stat(EIPT6_STAT_PASSED, XDP_PASS);
	if (!(flags & EIPT_LIVE_ALL_DESTINATIONS) && eipt6_route_passes(ctx, &pkt))
		return eipt6_stat(EIPT6_STAT_ROUTE_PASSED, XDP_PASS);
	eipt6_count(gen, pos, pkt.tot_len);
	return eipt6_stat(EIPT6_STAT_DROPPED, XDP_DROP);
}

#endif
