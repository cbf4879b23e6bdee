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
static __always_inline int eipt_ext_tcpopt(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	__u8 opt[40];
	__u8 doff;
	__u32 l4 = sizeof(struct ethhdr) + (p->ihl & 0x3c), optlen, i;
	__u8 want = EIPT_EXT_DATA(e, tcpopt)->option;
	int found = 0;

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
	if (optlen > 0 && bpf_xdp_load_bytes(ctx, l4 + 20, opt, optlen))
		return EIPT_EXT_MAYBE;
	for (i = 0; i < 40 && i < optlen;) {
		__u8 k, step;

		k = opt[i];
		if (k == want) {
			found = 1;
			break;
		}
		if (k < 2) {
			i++;
			continue;
		}
		if (i + 1 >= optlen || i + 1 >= 40)
			break; /* the length byte lies beyond the options: whatever it is, the walk ends */
		step = opt[i + 1];
		i += step ? step : 1;
	}
	return found != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
