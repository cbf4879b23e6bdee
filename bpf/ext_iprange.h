/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m iprange --src-range/--dst-range: one direction per test. xt_iprange_mt4 compares the
 * host-order address with the inclusive bounds and applies that direction's own `!`; a
 * range whose low end is above its high end matches no address (its negation every one).
 * Included by ebpf_iptables.bpf.c.
 */
static __attribute__((noinline)) int eipt_ext_iprange(struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_iprange *r = EIPT_EXT_DATA(e, iprange);
	__u32 a = bpf_ntohl(r->dst ? p->daddr : p->saddr);
	int in = a >= r->lo && a <= r->hi;

	return in != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
