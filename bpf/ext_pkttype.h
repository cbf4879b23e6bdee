/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m pkttype --pkt-type: xt_pkttype compares skb->pkt_type (PACKET_LOOPBACK never reaches
 * XDP) with the rule's type. eth_type_trans() sets it from the destination MAC: a group
 * address is PACKET_BROADCAST when it is ff:ff:ff:ff:ff:ff, else PACKET_MULTICAST; a
 * unicast one is PACKET_HOST when it is the device's own address, else PACKET_OTHERHOST
 * (which ip_rcv drops unless something above the device — a bridge, macvlan — makes it
 * HOST). So: a group MAC decides; a unicast MAC is neither BROADCAST nor MULTICAST,
 * whatever the device; it is HOST when it is the device's address, and any other unicast
 * MAC is MAYBE for a host/otherhost test (the kernel decides). Uses eipt_ingress_dev
 * (ext_addrtype.h).
 */
#define EIPT_PACKET_HOST 0
#define EIPT_PACKET_BROADCAST 1
#define EIPT_PACKET_MULTICAST 2

static __attribute__((noinline)) int eipt_ext_pkttype(struct xdp_md *ctx, struct eipt_ext *e)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct net_device___eipt *dev;
	unsigned char own[6];
	int type, i, eq = 1;

	if ((void *)(eth + 1) > data_end)
		return EIPT_EXT_MAYBE;
	if (eth->h_dest[0] & 1) {
		int all = 1;
		for (i = 0; i < 6; i++)
			all &= eth->h_dest[i] == 0xff;
		type = all ? EIPT_PACKET_BROADCAST : EIPT_PACKET_MULTICAST;
	} else if (EIPT_EXT_DATA(e, pkttype)->type == EIPT_PACKET_BROADCAST ||
		   EIPT_EXT_DATA(e, pkttype)->type == EIPT_PACKET_MULTICAST) {
		type = EIPT_PACKET_HOST; /* or OTHERHOST: not the type tested either way */
	} else {
		dev = eipt_ingress_dev(ctx);
		if (!dev || bpf_probe_read_kernel(own, sizeof(own), dev->dev_addr) != 0)
			return EIPT_EXT_MAYBE;
		for (i = 0; i < 6; i++)
			eq &= eth->h_dest[i] == own[i];
		if (!eq)
			return EIPT_EXT_MAYBE;
		type = EIPT_PACKET_HOST;
	}
	return (type == EIPT_EXT_DATA(e, pkttype)->type) != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
