/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * A rule's second -m length / -m ttl test: the fallback entry's own fields hold one of each,
 * the others are ext rows. xt_length compares the IP total length with [min, max] and
 * applies `!` (to the reassembled datagram: a first fragment is MAYBE); xt_ttl compares the TTL with eq/ne/lt/gt (ne: `neg` of eq here).
 * Included by ebpf_iptables.bpf.c.
 */
static __attribute__((noinline)) int eipt_ext_length(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_length *l = EIPT_EXT_DATA(e, length);
	int in;

	/* A first fragment: INPUT sees the reassembled datagram's length (eipt_more_fragments
	 * in ext_string.h). */
	if (eipt_more_fragments(ctx) != 0)
		return EIPT_EXT_MAYBE;
	in = p->tot_len >= l->lo && p->tot_len <= l->hi;

	return in != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}

static __attribute__((noinline)) int eipt_ext_ttl(struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_ttl *t = EIPT_EXT_DATA(e, ttl);
	int holds = t->op == EIPT_TTL_LT ? p->ttl < t->value
		  : t->op == EIPT_TTL_GT ? p->ttl > t->value
					 : p->ttl == t->value;

	return holds != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
