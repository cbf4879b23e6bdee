/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * statistic --mode random as pending draws (Compiler/PendingDraws.swift is the long
 * story). The kernel draws each time a packet reaches the rule; it judges again every
 * packet XDP passes up, and draws again. So XDP never draws where it meets the test: the
 * judge records a pending draw (eipt_draw_pend) and goes on as if the rule did not match;
 * eipt_draws_resolve, after the judge, draws only when XDP carries out every outcome the
 * draws can lead to (each pending position's verdict and the one found), so whether the
 * packet goes up never depends on a draw: either it goes up undrawn (the kernel draws
 * once) or XDP draws once and acts. The first draw that says yes decides, in position
 * order, with its verdict and its counter, as iptables' first match does.
 * Included by ebpf_iptables.bpf.c after reject.h.
 */

/* The judge met a pending draw at fallback rule `r` (eipt_statistic_pend filled the slot):
 * count it, and answer NO (go on as if the rule did not match); MAYBE when it cannot. */
static __always_inline int eipt_draw_pend(struct eipt_pkt *p, struct eipt_fb_rule *r)
{
	__u32 n = p->draw_n;

	if (!r || n >= EIPT_MAX_DRAWS)
		return EIPT_EXT_MAYBE;
	p->draws[n].pos = r->pos;
	p->draw_n = n + 1;
	return EIPT_EXT_NO;
}

/* Whether the packet stays in XDP when judged `verdict`: DROP; REJECT whose reply XDP
 * answers (sent, or limited and dropped) and does not pass up; ACCEPT when the kernel's
 * INPUT is empty (--xdp-only). The drop path's route and NAT checks are the same for
 * every outcome: what they pass up goes up whatever the draws said, and nothing is counted. */
static __always_inline int eipt_draw_carried_out(struct xdp_md *ctx, struct eipt_pkt *p, __u32 verdict,
						 __u32 with, __u32 frag)
{
	if (verdict == EIPT_DROP)
		return 1;
	if (verdict == EIPT_REJECT)
		return eipt_reject_reply(ctx, p, with, frag | EIPT_REJECT_DRY) != EIPT_STAT_REJECT_PASSED;
	if (verdict == EIPT_ACCEPT)
		return (p->gen_flags & EIPT_GEN_XDP_ONLY) != 0;
	return 0;
}

static __always_inline struct eipt_rule_info *eipt_draw_info(__u32 gen, __u32 pos)
{
	return GEN_LOOKUP(gen, rule_info, &pos);
}

/*
 * After the judge of generation `gen`, for a packet with pending draws: leaves p->pos,
 * verdict and reject_with as found, or sets them to the first draw that says yes, or sets
 * the verdict to EIPT_KERNEL (up, undrawn) when some outcome would not stay in XDP.
 * xt_statistic: (get_random_u32() & 0x7FFFFFFF) < probability, inverted by `!`.
 * A global function: verified once.
 */
__attribute__((noinline)) int eipt_draws_resolve(struct xdp_md *ctx, struct eipt_pkt *p, __u32 gen, __u32 frag)
{
	struct eipt_rule_info *ri;
	__u32 n, i, hit;

	if (!p)
		return 0;
	n = p->draw_n;
	if (n > EIPT_MAX_DRAWS)
		goto up;
	if (!eipt_draw_carried_out(ctx, p, p->verdict, p->reject_with, frag))
		goto up;
	for (i = 0; i < EIPT_MAX_DRAWS; i++) {
		if (i >= n)
			break;
		ri = eipt_draw_info(gen, p->draws[i].pos);
		if (!ri || !eipt_draw_carried_out(ctx, p, ri->verdict, ri->reject_with, frag))
			goto up;
	}
	for (i = 0; i < EIPT_MAX_DRAWS; i++) {
		if (i >= n)
			break;
		hit = (bpf_get_prandom_u32() & 0x7FFFFFFFu) < p->draws[i].probability;
		if (hit == !!p->draws[i].neg)
			continue;
		ri = eipt_draw_info(gen, p->draws[i].pos);
		if (!ri)
			goto up;
		p->pos = p->draws[i].pos;
		p->verdict = ri->verdict;
		p->reject_with = ri->reject_with;
		return 0;
	}
	return 0;
up:
	p->verdict = EIPT_KERNEL;
	return 0;
}
