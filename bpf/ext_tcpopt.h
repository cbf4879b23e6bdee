/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -p tcp --tcp-option N, as xt_tcpudp's tcp_mt and tcp_find_option decide it:
 * - a non-first fragment: the tcp match is false, negated or not;
 * - a data offset below 5 words, or options the packet does not hold: the kernel drops the
 *   packet (hotdrop) at this rule: MAYBE, the kernel does it (for a first fragment whose
 *   options end in a later fragment the kernel sees them reassembled: MAYBE too);
 * - otherwise walk the options: kinds 0 and 1 take one byte, the others their length byte,
 *   a length of 0 counts as 1 (the kernel's `op[i+1] ? : 1`); the option is present when
 *   some walked kind equals N. `!` is the complement.
 * Included by ebpf_iptables.bpf.c.
 */
struct eipt_tcpopt_walk {
	__u8 opt[64]; /* 40 bytes at most; indexes masked with 63 for the verifier */
	__u32 i, optlen, found;
	__u8 want;
};

/* One step of tcp_find_option's walk (each advances at least one byte). */
static long eipt_tcpopt_step(__u64 idx, void *arg)
{
	struct eipt_tcpopt_walk *w = arg;
	__u32 i = w->i;
	__u8 k, len;

	if (i >= w->optlen)
		return 1;
	k = w->opt[i & 63];
	if (k == w->want) {
		w->found = 1;
		return 1;
	}
	if (k < 2) {
		w->i = i + 1;
		return 0;
	}
	if (i + 1 >= w->optlen)
		return 1; /* the length byte lies beyond the options: whatever it is, the walk ends */
	len = w->opt[(i + 1) & 63];
	w->i = i + (len ? len : 1);
	return 0;
}

static __attribute__((noinline)) int eipt_ext_tcpopt(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_tcpopt_walk w = {};
	__u8 doff;
	__u32 l4 = sizeof(struct ethhdr) + (p->ihl & 0x3c), optlen;

	if (p->proto != IPPROTO_TCP)
		return EIPT_EXT_MAYBE; /* the lowering pairs it with -p tcp; never guess */
	if (p->nonfirst_frag)
		return EIPT_EXT_NO;
	if (bpf_xdp_load_bytes(ctx, l4 + 12, &doff, 1))
		return EIPT_EXT_MAYBE;
	doff >>= 4;
	if (doff < 5)
		return EIPT_EXT_MAYBE;
	optlen = ((__u32)doff * 4 - 20) & 63;
	if (optlen > 40)
		return EIPT_EXT_MAYBE;
	/* Options past the IP total length: in the kernel they are cut short (hotdrop) or, for
	 * a first fragment, in the next fragment: MAYBE either way. */
	if (l4 + 20 + optlen > sizeof(struct ethhdr) + (__u32)p->tot_len)
		return EIPT_EXT_MAYBE;
	if (optlen > 0 && bpf_xdp_load_bytes(ctx, l4 + 20, w.opt, optlen))
		return EIPT_EXT_MAYBE;
	w.optlen = optlen;
	w.want = EIPT_EXT_DATA(e, tcpopt)->option;
	bpf_loop(40, eipt_tcpopt_step, &w, 0);
	return w.found != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
