/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * REJECT answered from XDP: the reply the kernel's REJECT sends (net/ipv4/netfilter/
 * nf_reject_ipv4.c: nf_send_unreach -> icmp_send, nf_send_reset), built in place in the
 * frame and sent back with XDP_TX. Included by ebpf_iptables.bpf.c.
 *
 * eipt_reject_reply answers one of
 *   EIPT_STAT_REJECTED        the reply is in the frame: XDP_TX;
 *   EIPT_STAT_REJECT_LIMITED  the kernel would send nothing (an ICMP error quoting an ICMP
 *                             error, a RST answering a RST, a truncated TCP header, the ICMP
 *                             rate limit): dropped, as REJECT's NF_DROP does;
 *   EIPT_STAT_REJECT_PASSED   XDP cannot be sure what the kernel would send: the packet goes
 *                             up and the kernel's REJECT answers it itself.
 * Passed up: fragments (the kernel answers the reassembled datagram), IP options (echoed in
 * the reply by __ip_options_echo), a destination that is not an address of the ingress
 * device (another device's address, a broadcast: RTCF_BROADCAST), a frame not addressed to
 * the device's MAC (pkt_type), a bad transport checksum (the kernel verifies it unless the
 * driver vouched for it: CHECKSUM_UNNECESSARY), a reply route that is not SUCCESS through the
 * ingress device with a neighbour entry (FWD_DISABLED included: forwarding off on the
 * ingress device makes bpf_fib_lookup refuse), frames over EIPT_REJECT_MAX_FRAME.
 */

#define EIPT_REJECT_MAX_FRAME 1600u /* larger (jumbo) frames go up */
#define EIPT_REJECT_SCRATCH 2048u   /* per-CPU buffer for checksums: 4 chunks of 512 */
#define EIPT_ICMP_ROOM 576u         /* icmp_send: "return as much as we can without exceeding 576 bytes" */
#define EIPT_IPTOS_PREC_INTERNETCONTROL 0xc0
#define EIPT_IPTOS_TOS_MASK 0x1e    /* RT_TOS() */
#define EIPT_IP_DF 0x4000
#define EIPT_NSEC 1000000000ull

struct eipt_reject_scratch {
	__u8 b[EIPT_REJECT_SCRATCH + 4]; /* + the zero padding after the last byte */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_reject_scratch);
} reject_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_reject_config);
} reject_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EIPT_MAX_REJECT_PEERS);
	__type(key, __u32);
	__type(value, struct eipt_reject_peer);
} reject_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_reject_global);
} reject_global SEC(".maps");

/* Only the fields read; CO-RE relocates them against the running kernel's BTF. */
struct in_ifaddr {
	struct in_ifaddr *ifa_next;
	__u32 ifa_local;
	__u32 ifa_broadcast;
} __attribute__((preserve_access_index));
struct in_device___reject {
	struct in_ifaddr *ifa_list;
} __attribute__((preserve_access_index));
struct net_device___reject {
	struct in_device___reject *ip_ptr;
} __attribute__((preserve_access_index));
struct xdp_rxq_info___reject {
	struct net_device___reject *dev;
} __attribute__((preserve_access_index));
struct xdp_buff___reject {
	struct xdp_rxq_info___reject *rxq;
} __attribute__((preserve_access_index));

static __always_inline __u32 eipt_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u32)s;
}

/*
 * The ones' complement sum (unfolded, in memory order) of `len` bytes of the frame from
 * `off`, plus `seed`: copied to a per-CPU buffer, zero-padded to a multiple of 4, summed in
 * chunks of 512 (bpf_csum_diff's limit). -1 when the bytes cannot be read.
 */
__attribute__((noinline)) __s64 eipt_frame_sum(struct xdp_md *ctx, __u32 off, __u32 len_in, __u32 seed)
{
	__u64 n = len_in;
	__u32 len;
	struct eipt_reject_scratch *s;
	__u32 zero = 0, at;
	__s64 sum = seed;
	int i;

	s = bpf_map_lookup_elem(&reject_scratch, &zero);
	if (!s)
		return -1;
	/* The bound on a 64-bit register the compiler may not fold away (the verifier must see it). */
	asm volatile("%0 &= 0xffff" : "+r"(n));
	if (n == 0 || n > EIPT_REJECT_MAX_FRAME)
		return -1;
	len = n;
	if (bpf_xdp_load_bytes(ctx, off, s->b, len) < 0)
		return -1;
	s->b[len] = 0;
	s->b[len + 1] = 0;
	s->b[len + 2] = 0;
	for (i = 0; i < 4; i++) {
		__u32 chunk;

		at = i * 512;
		if (at >= len)
			break;
		chunk = len - at;
		if (chunk > 512)
			chunk = 512;
		chunk = (chunk + 3) & ~3u;
		if (chunk > 512)
			chunk = 512;
		sum = bpf_csum_diff(NULL, 0, (void *)(s->b + at), chunk, (__u32)sum);
		if (sum < 0)
			return -1;
	}
	return sum;
}

/* Whether `daddr` is a local address of the ingress device and none of its broadcasts: the
 * kernel's route for it is then RTCF_LOCAL, and the reply's source is `daddr` (icmp_send,
 * nf_reject_iphdr_put). Read from the device's own address list, so changes are followed at
 * the next packet. */
static __always_inline int eipt_reject_local(struct xdp_md *ctx, __u32 daddr)
{
	struct xdp_buff___reject *xb = bpf_cast_to_kern_ctx(ctx);
	struct in_ifaddr *ifa;
	int i, local = 0;

	if (!xb || !xb->rxq || !xb->rxq->dev || !xb->rxq->dev->ip_ptr)
		return 0;
	ifa = xb->rxq->dev->ip_ptr->ifa_list;
	for (i = 0; i < 16; i++) {
		if (!ifa)
			return local;
		if (ifa->ifa_broadcast == daddr)
			return 0;
		if (ifa->ifa_local == daddr)
			local = 1;
		ifa = ifa->ifa_next;
	}
	return 0; /* more addresses than we look at: cannot tell */
}

/*
 * The ICMP rate limits of icmp_send for a destination-unreachable `code` to `peer`
 * (net/ipv4/icmp.c): 1 to send, 0 suppressed. icmpv4_mask_allow (types outside
 * icmp_ratemask and FRAG_NEEDED are never limited), then icmp_global_allow (credit refilled
 * at icmp_msgs_per_sec, at most every 20 ms and for at most 1 s, capped at icmp_msgs_burst),
 * then the per-destination inet_peer bucket (inet_peer_xrlim_allow: icmp_ratelimit per
 * message, up to 6 of them banked; a new peer starts full), and icmp_global_consume (0, 1
 * or 2 credits at random) once sent. Kept in time units of ns instead of jiffies.
 */
static __always_inline int eipt_reject_allow(struct eipt_reject_config *cfg, __u32 code, __u32 peer_addr)
{
	struct eipt_reject_global *g;
	struct eipt_reject_peer *peer, fresh = {};
	__u64 now = bpf_ktime_get_ns(), rl, cap, delta;
	__u32 zero = 0;

	if (code == 4 || !(cfg->ratemask & (1u << 3)))
		return 1;
	g = bpf_map_lookup_elem(&reject_global, &zero);
	if (!g)
		return 0;
	if (g->credit <= 0) {
		__u64 stamp = g->stamp_ns, incr;

		delta = now - stamp;
		if (delta > EIPT_NSEC)
			delta = EIPT_NSEC;
		if (delta < EIPT_NSEC / 50)
			return 0;
		incr = (__u64)cfg->msgs_per_sec * delta / EIPT_NSEC;
		if (!incr)
			return 0;
		if (__sync_val_compare_and_swap(&g->stamp_ns, stamp, now) == stamp) {
			__s64 c = g->credit + (__s64)incr;
			if (c > (__s64)cfg->msgs_burst)
				c = cfg->msgs_burst;
			g->credit = c;
		}
	}
	rl = (__u64)cfg->ratelimit_ms * 1000000ull;
	if (rl) {
		cap = 6 * rl;
		peer = bpf_map_lookup_elem(&reject_peers, &peer_addr);
		if (!peer) {
			/* inet_getpeer: rate_last = now - 60 s, so the first bucket is full. */
			fresh.tokens_ns = cap < 60 * EIPT_NSEC ? cap : 60 * EIPT_NSEC;
			fresh.last_ns = now;
			bpf_map_update_elem(&reject_peers, &peer_addr, &fresh, BPF_NOEXIST);
			peer = bpf_map_lookup_elem(&reject_peers, &peer_addr);
			if (!peer)
				return 0;
		}
		{
			__u64 tokens = peer->tokens_ns;

			delta = now - peer->last_ns;
			if (delta && now > peer->last_ns) {
				peer->last_ns = now;
				tokens += delta;
				if (tokens > cap)
					tokens = cap;
			}
			if (tokens < rl) {
				peer->tokens_ns = tokens;
				return 0;
			}
			peer->tokens_ns = tokens - rl;
		}
	}
	{
		__u32 credits = bpf_get_prandom_u32() % 3;
		if (credits)
			__sync_fetch_and_sub(&g->credit, (__s64)credits);
	}
	return 1;
}

/* Protocols whose checksum the kernel checks before replying (nf_reject_verify_csum):
 * every one but UDP without a checksum, GRE, AH, ESP, SCTP, UDP-Lite and DCCP. */
static __always_inline int eipt_reject_checks_csum(__u8 proto, __u16 udp_check)
{
	switch (proto) {
	case IPPROTO_UDP:
		return udp_check != 0;
	case 47: /* GRE */
	case 51: /* AH */
	case 50: /* ESP */
	case 132: /* SCTP */
	case 136: /* UDP-Lite */
	case 33: /* DCCP */
		return 0;
	}
	return 1;
}

/*
 * Whether the transport checksum holds, as nf_ip_checksum checks it at LOCAL_IN: TCP and
 * UDP with the pseudo-header; any other protocol as the plain sum of its bytes (the IP
 * header, summed too there, adds nothing since its own checksum is valid).
 */
static __always_inline int eipt_reject_csum_ok(struct xdp_md *ctx, struct eipt_pkt *p)
{
	__u32 l4len = p->tot_len - p->ihl;
	__u64 seed = 0;
	__s64 sum;

	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		seed = (__u64)(p->saddr & 0xffff) + (p->saddr >> 16) + (p->daddr & 0xffff) + (p->daddr >> 16) +
		       bpf_htons((__u16)p->proto) + bpf_htons((__u16)l4len);
	}
	if (l4len == 0)
		return p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP; /* only the IP header, whose sum holds */
	sum = eipt_frame_sum(ctx, sizeof(struct ethhdr) + p->ihl, l4len, eipt_fold(seed));
	if (sum < 0)
		return 0;
	return eipt_fold((__u64)sum) == 0xffff;
}

/* The reply's route: SUCCESS through the ingress device, with its neighbour entry and an
 * MTU that holds 576 bytes (else the kernel would quote less). */
static __always_inline int eipt_reject_route(struct xdp_md *ctx, struct eipt_pkt *p, struct bpf_fib_lookup *fib,
					     __u8 proto, __u8 tos, __u16 len)
{
	long rc;

	fib->family = EIPT_AF_INET;
	fib->tos = tos;
	fib->l4_protocol = proto;
	fib->tot_len = len;
	fib->ifindex = ctx->ingress_ifindex;
	fib->ipv4_src = p->daddr;
	fib->ipv4_dst = p->saddr;
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	return rc == BPF_FIB_LKUP_RET_SUCCESS && fib->ifindex == ctx->ingress_ifindex;
}

static __always_inline void eipt_reject_eth(struct ethhdr *eth, struct bpf_fib_lookup *fib)
{
	__builtin_memcpy(eth->h_dest, fib->dmac, 6);
	__builtin_memcpy(eth->h_source, fib->smac, 6);
	eth->h_proto = bpf_htons(ETH_P_IP);
}

static __always_inline void eipt_reject_ip_csum(struct iphdr *ip)
{
	__s64 s;

	ip->check = 0;
	s = bpf_csum_diff(NULL, 0, (void *)ip, sizeof(*ip), 0);
	ip->check = ~eipt_fold((__u64)(s < 0 ? 0 : s));
}

static __always_inline int eipt_dest_mac_is(struct xdp_md *ctx, struct bpf_fib_lookup *fib)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int i, eq = 1;

	if ((void *)(eth + 1) > data_end)
		return 0;
	for (i = 0; i < 6; i++)
		eq &= eth->h_dest[i] == fib->smac[i];
	return eq;
}

/* icmp_send(skb, ICMP_DEST_UNREACH, code, 0) for a packet without IP options. */
static __always_inline int eipt_reject_icmp(struct xdp_md *ctx, struct eipt_pkt *p, __u32 code,
					    struct eipt_reject_config *cfg, __u32 dry)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth;
	struct iphdr *ip;
	__u8 *icmp;
	__u32 frame_len = data_end - data, quoted, l4len = p->tot_len - p->ihl;
	__u8 tos = (p->tos & EIPT_IPTOS_TOS_MASK) | EIPT_IPTOS_PREC_INTERNETCONTROL;
	__s64 sum;

	/* No error in answer to an ICMP error (RFC 1122 3.2.2.1): unknown types count as errors. */
	if (p->proto == IPPROTO_ICMP) {
		__u8 *t = data + sizeof(struct ethhdr) + p->ihl;
		__u8 type;

		if (l4len < 1 || (void *)(t + 1) > data_end)
			return EIPT_STAT_REJECT_LIMITED;
		type = *t;
		if (!(type == 0 || type == 8 || (type >= 13 && type <= 18)))
			return EIPT_STAT_REJECT_LIMITED;
	}
	/* Past the cases where the kernel sends nothing wherever the packet was addressed. */
	if (!eipt_reject_local(ctx, p->daddr))
		return EIPT_STAT_REJECT_PASSED;
	if (p->proto == IPPROTO_UDP && l4len < 8)
		return EIPT_STAT_REJECT_PASSED; /* no whole UDP header: cannot tell what the kernel checks */
	if (eipt_reject_checks_csum(p->proto, p->udp_check) && !eipt_reject_csum_ok(ctx, p))
		return EIPT_STAT_REJECT_PASSED;
	if (!eipt_reject_route(ctx, p, &fib, IPPROTO_ICMP, tos, EIPT_ICMP_ROOM))
		return EIPT_STAT_REJECT_PASSED;
	if (!eipt_dest_mac_is(ctx, &fib))
		return EIPT_STAT_REJECT_PASSED;
	if (dry)
		return EIPT_STAT_REJECTED; /* answered from XDP (or limited): see EIPT_REJECT_DRY */
	if (!eipt_reject_allow(cfg, code, p->saddr))
		return EIPT_STAT_REJECT_LIMITED;

	quoted = p->tot_len;
	if (quoted > EIPT_ICMP_ROOM - 28)
		quoted = EIPT_ICMP_ROOM - 28;
	/* Room for the new IP and ICMP headers in front of the original packet, which becomes
	 * the quoted part in place; then cut after what is quoted. */
	if (bpf_xdp_adjust_head(ctx, -28))
		return EIPT_STAT_REJECT_PASSED;
	if (bpf_xdp_adjust_tail(ctx, (int)(14 + 28 + quoted) - (int)(28 + frame_len)))
		return EIPT_STAT_REJECT_LIMITED; /* the frame is already changed: it cannot go up */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 8) > data_end)
		return EIPT_STAT_REJECT_LIMITED;
	eipt_reject_eth(eth, &fib);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = tos;
	ip->tot_len = bpf_htons(28 + quoted);
	ip->id = bpf_get_prandom_u32(); /* ip_select_ident: a hashed counter, which tests mask */
	ip->frag_off = 0;               /* the ICMP socket does not set DF (IP_PMTUDISC_DONT) */
	ip->ttl = cfg->ttl;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = p->daddr;
	ip->daddr = p->saddr;
	eipt_reject_ip_csum(ip);
	icmp[0] = 3; /* ICMP_DEST_UNREACH */
	icmp[1] = code;
	icmp[2] = 0;
	icmp[3] = 0;
	*(__u32 *)(icmp + 4) = 0;
	sum = eipt_frame_sum(ctx, 14 + 20, 8 + quoted, 0);
	if (sum < 0)
		return EIPT_STAT_REJECT_LIMITED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	icmp = data + 14 + 20;
	if ((void *)(icmp + 8) > data_end)
		return EIPT_STAT_REJECT_LIMITED;
	*(__u16 *)(icmp + 2) = ~eipt_fold((__u64)sum);
	return EIPT_STAT_REJECTED;
}

struct eipt_tcphdr {
	__u16 source, dest;
	__u32 seq, ack_seq;
	__u8 doff_res, flags;
	__u16 window, check, urg_ptr;
};

/* nf_send_reset for a TCP packet without IP options. */
static __always_inline int eipt_reject_reset(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_reject_config *cfg,
					     __u32 dry)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct eipt_tcphdr *oth, th = {};
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 frame_len = data_end - data, l4len = p->tot_len - p->ihl, doff, payload;
	__u64 seed;
	__s64 sum;

	if (p->proto != IPPROTO_TCP)
		return EIPT_STAT_REJECT_LIMITED; /* nf_reject_ip_tcphdr_get: not TCP, nothing sent */
	oth = data + sizeof(struct ethhdr) + 20;
	if (l4len < sizeof(*oth) || (void *)(oth + 1) > data_end)
		return EIPT_STAT_REJECT_LIMITED; /* no whole TCP header: nothing sent */
	if (oth->flags & 0x04)
		return EIPT_STAT_REJECT_LIMITED; /* no RST in answer to a RST */
	doff = (oth->doff_res >> 4) * 4;
	if (doff < 20 || doff > l4len)
		return EIPT_STAT_REJECT_PASSED;
	if (!eipt_reject_local(ctx, p->daddr))
		return EIPT_STAT_REJECT_PASSED;
	th.source = oth->dest;
	th.dest = oth->source;
	th.doff_res = 5 << 4;
	if (oth->flags & 0x10) { /* ACK: the reset takes its sequence from it */
		th.seq = oth->ack_seq;
		th.flags = 0x04;
	} else {
		payload = l4len - doff;
		th.ack_seq = bpf_htonl(bpf_ntohl(oth->seq) + !!(oth->flags & 0x02) + (oth->flags & 0x01) + payload);
		th.flags = 0x04 | 0x10;
	}
	if (!eipt_reject_csum_ok(ctx, p))
		return EIPT_STAT_REJECT_PASSED;
	if (!eipt_reject_route(ctx, p, &fib, IPPROTO_TCP, 0, 40))
		return EIPT_STAT_REJECT_PASSED;
	if (!eipt_dest_mac_is(ctx, &fib))
		return EIPT_STAT_REJECT_PASSED;
	if (dry)
		return EIPT_STAT_REJECTED;

	seed = (__u64)(p->saddr & 0xffff) + (p->saddr >> 16) + (p->daddr & 0xffff) + (p->daddr >> 16) +
	       bpf_htons((__u16)IPPROTO_TCP) + bpf_htons((__u16)sizeof(th));
	sum = bpf_csum_diff(NULL, 0, (void *)&th, sizeof(th), eipt_fold(seed));
	th.check = ~eipt_fold((__u64)(sum < 0 ? 0 : sum));

	if (bpf_xdp_adjust_tail(ctx, 54 - (int)frame_len))
		return EIPT_STAT_REJECT_PASSED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) + sizeof(th) > data_end)
		return EIPT_STAT_REJECT_LIMITED;
	eipt_reject_eth(eth, &fib);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(40);
	ip->id = 0;
	ip->frag_off = bpf_htons(EIPT_IP_DF);
	ip->ttl = cfg->ttl;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = p->daddr;
	ip->daddr = p->saddr;
	eipt_reject_ip_csum(ip);
	__builtin_memcpy((void *)(ip + 1), &th, sizeof(th));
	return EIPT_STAT_REJECTED;
}

/*
 * The reply for a packet judged REJECT (`with`: eipt_rule_info.reject_with) that passed the
 * drop checks: EIPT_STAT_REJECTED (XDP_TX), _LIMITED (XDP_DROP) or _PASSED (XDP_PASS).
 * A global function: verified once.
 * With EIPT_REJECT_DRY in `frag`: only whether the reply would be passed up (_PASSED) or
 * not, with the frame and the rate limit untouched (pending draws, bpf/draws.h). What is
 * left after the dry checks cannot pass the packet up but for bpf_xdp_adjust_head/tail
 * failing, which the headroom every XDP frame has (XDP_PACKET_HEADROOM) rules out.
 */
#define EIPT_REJECT_DRY (1u << 16)

__attribute__((noinline)) int eipt_reject_reply(struct xdp_md *ctx, struct eipt_pkt *p, __u32 with, __u32 frag)
{
	struct eipt_reject_config *cfg;
	__u32 zero = 0;

	if (!p)
		return EIPT_STAT_REJECT_PASSED;
	cfg = bpf_map_lookup_elem(&reject_config, &zero);
	if (!cfg || !cfg->ttl)
		return EIPT_STAT_REJECT_PASSED;
	if (frag & 0x3fff & ~EIPT_IP_DF)
		return EIPT_STAT_REJECT_PASSED; /* MF or an offset: the kernel answers the reassembled datagram */
	if (p->ihl != 20 || p->tot_len > EIPT_REJECT_MAX_FRAME - 14)
		return EIPT_STAT_REJECT_PASSED;
	if (with == EIPT_REJECT_TCP_RESET)
		return eipt_reject_reset(ctx, p, cfg, frag & EIPT_REJECT_DRY);
	if (with > 15)
		return EIPT_STAT_REJECT_PASSED;
	return eipt_reject_icmp(ctx, p, with, cfg, frag & EIPT_REJECT_DRY);
}
