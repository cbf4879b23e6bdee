/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m addrtype: xt_addrtype's addrtype_mt_v1 for IPv4. The type of an address is what
 * inet_dev_addr_type() (net/ipv4/fib_frontend.c, __inet_dev_addr_type) answers:
 *   0.0.0.0 and 255.255.255.255: BROADCAST; 224.0.0.0/4: MULTICAST;
 *   else the type of the route fib_table_lookup() finds in the local table (255), when
 *   found and (--limit-iface-in) its first nexthop's device is the input device; else UNICAST.
 * The program cannot walk the kernel's FIB: user space keeps a copy of table 255 in
 * local_routes (prefix -> type, device, EIPT_LOCAL_UNSURE) and, in local_state, the routing
 * generation it was taken at (net->ipv4.rt_genid and fib_seq: adding or removing an address
 * or a route moves them). Each test compares that generation with the live one, read from
 * the ingress device's namespace; when they differ (an address changed and no agent has
 * refreshed the copy yet) the answer is MAYBE and the kernel decides: the copy is never
 * trusted beyond the moment it was taken. Included by ebpf_iptables.bpf.c.
 */
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, EIPT_MAX_LOCAL_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eipt_src_key);
	__type(value, struct eipt_local_route);
} local_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_local_state);
} local_state SEC(".maps");

/* The kernel fields read (CO-RE flavours: relocated against the running kernel's BTF). */
struct netns_ipv4___eipt {
	struct {
		int counter;
	} rt_genid;
	unsigned int fib_seq;
} __attribute__((preserve_access_index));
struct net___eipt {
	struct netns_ipv4___eipt ipv4;
} __attribute__((preserve_access_index));
struct net_device___eipt {
	unsigned long priv_flags : 32;
	struct {
		struct net___eipt *net;
	} nd_net;
	const unsigned char *dev_addr;
} __attribute__((preserve_access_index));

/* enum netdev_priv_flags: the device is a VRF or enslaved to one (l3mdev_fib_table()
 * then names the VRF's table, not 255). */
#define EIPT_IFF_L3MDEV_MASTER (1u << 18)
#define EIPT_IFF_L3MDEV_SLAVE (1u << 21)

/* enum rtn_type values used here. */
#define EIPT_RTN_UNICAST 1
#define EIPT_RTN_BROADCAST 3
#define EIPT_RTN_MULTICAST 5

/* The ingress device (NULL when it cannot be read). */
static __always_inline struct net_device___eipt *eipt_ingress_dev(struct xdp_md *ctx)
{
	struct xdp_buff *xb = bpf_cast_to_kern_ctx(ctx);

	if (!xb || !xb->rxq)
		return 0;
	return (struct net_device___eipt *)xb->rxq->dev;
}

/* The live routing generation of the device's namespace equals the copy's. */
static __always_inline int eipt_local_copy_current(struct net_device___eipt *dev, struct eipt_local_state *st)
{
	struct net___eipt *net;

	if (!st->valid || !dev)
		return 0;
	net = dev->nd_net.net;
	if (!net)
		return 0;
	/* A kernel without fib_seq (before 4.13): never trust the copy (the access below is
	 * then dead code, which the verifier skips; the program still loads). */
	if (!bpf_core_field_exists(net->ipv4.fib_seq))
		return 0;
	return (__u32)net->ipv4.rt_genid.counter == st->rt_genid && net->ipv4.fib_seq == st->fib_seq;
}

/* inet_dev_addr_type(addr) as a bit (1 << RTN_*), 0 when the copy cannot tell. `ifindex` is
 * the --limit-iface-in device, 0 for none. */
static __always_inline __u32 eipt_addr_type_bit(__u32 addr, __u32 ifindex)
{
	struct eipt_src_key k = { .prefixlen = 32, .addr = addr };
	struct eipt_local_route *r;
	__u32 h = bpf_ntohl(addr);

	if (h == 0 || h == 0xffffffff)
		return 1u << EIPT_RTN_BROADCAST;
	/* ipv4_is_zeronet() was all of 0/8 before Linux 5.3 and is 0.0.0.0 alone since: the
	 * rest of 0/8 is left to the kernel rather than assuming one. */
	if ((h >> 24) == 0)
		return 0;
	if ((h >> 28) == 0xe)
		return 1u << EIPT_RTN_MULTICAST;
	r = bpf_map_lookup_elem(&local_routes, &k);
	if (!r)
		return 1u << EIPT_RTN_UNICAST; /* no route in table 255 */
	if (r->flags & EIPT_LOCAL_UNSURE)
		return 0;
	if (ifindex && r->ifindex != ifindex)
		return 1u << EIPT_RTN_UNICAST; /* the route belongs to another device */
	return 1u << (r->type & 15);
}

static __attribute__((noinline)) int eipt_ext_addrtype(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_addrtype *a = EIPT_EXT_DATA(e, addrtype);
	struct net_device___eipt *dev = eipt_ingress_dev(ctx);
	struct eipt_local_state *st;
	__u32 zero = 0, ifindex = 0, bit;
	int ok = 1;

	st = bpf_map_lookup_elem(&local_state, &zero);
	if (!st || !eipt_local_copy_current(dev, st))
		return EIPT_EXT_MAYBE;
	if (a->limit_in) {
		/* A VRF device looks in its own table (l3mdev_fib_table): not in the copy. */
		if (!dev || (BPF_CORE_READ_BITFIELD(dev, priv_flags) & (EIPT_IFF_L3MDEV_MASTER | EIPT_IFF_L3MDEV_SLAVE)))
			return EIPT_EXT_MAYBE;
		ifindex = ctx->ingress_ifindex;
	}
	/* addrtype_mt_v1: the source test first, the destination test only if it held. */
	if (a->src_mask) {
		bit = eipt_addr_type_bit(p->saddr, ifindex);
		if (!bit)
			return EIPT_EXT_MAYBE;
		ok = !!(a->src_mask & bit) != !!a->src_neg;
	}
	if (ok && a->dst_mask) {
		bit = eipt_addr_type_bit(p->daddr, ifindex);
		if (!bit)
			return EIPT_EXT_MAYBE;
		ok = !!(a->dst_mask & bit) != !!a->dst_neg;
	}
	return ok != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
