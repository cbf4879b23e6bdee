/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m mac --mac-source: the Ethernet source address, as xt_mac compares it (the frame's
 * own header; the program only sees Ethernet frames). Included by ebpf_iptables.bpf.c.
 */
static __attribute__((noinline)) int eipt_ext_mac(struct xdp_md *ctx, struct eipt_ext *e)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int eq = 1, i;

	if ((void *)(eth + 1) > data_end)
		return EIPT_EXT_NO;
	for (i = 0; i < 6; i++)
		eq &= eth->h_source[i] == EIPT_EXT_DATA(e, mac)->addr[i];
	return eq != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
