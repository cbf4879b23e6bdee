/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * statistic --mode random as pending draws (Compiler/PendingDraws.swift is the long
 * story). The kernel draws each time a packet reaches the rule; it judges again every
 * packet XDP passes up, and draws again. So XDP never draws where it meets the test: the
 * test records a pending draw (eipt_statistic_pend) and answers NO, so the judge goes on;
 * eipt_draws_settle, after the judge, draws only when XDP carries out every outcome the
 * draws can lead to (each pending position's verdict and the one found), so whether the
 * packet goes up never depends on a draw: either it goes up undrawn (the kernel draws
 * once) or XDP draws once and acts. The first draw that says yes decides, in position
 * order, with its verdict and its counter, as iptables' first match does.
 * Included by ebpf_iptables.bpf.c after reject.h.
 */

/* The bit of a REJECT kind among the outcomes: ICMP codes 0..15, tcp-reset 16; -1 for a
 * kind eipt_reject_reply always passes up. */
static __always_inline int eipt_draw_reject_bit(__u32 with)
{
	if (with == EIPT_REJECT_TCP_RESET)
		return 16;
	return with <= 15 ? (int)with : -1;
}

/* Whether XDP may carry out an outcome `verdict` (the packet does not go up): DROP; REJECT
 * when its reply is answered from XDP (sent, or limited and dropped: checked by the caller
 * through `rejects`); ACCEPT when the kernel's INPUT is empty (--xdp-only). The drop path's
 * route and NAT checks are the same for every outcome: what they pass up goes up whatever
 * the draws said, and nothing is counted. */
static __always_inline int eipt_draw_outcome(struct eipt_pkt *p, __u32 verdict, __u32 with, __u32 *rejects)
{
	int bit;

	if (verdict == EIPT_DROP)
		return 1;
	if (verdict == EIPT_REJECT) {
		bit = eipt_draw_reject_bit(with);
		if (bit < 0)
			return 0;
		*rejects |= 1u << bit;
		return 1;
	}
	return verdict == EIPT_ACCEPT && (p->gen_flags & EIPT_GEN_XDP_ONLY);
}

/* The verdict and REJECT kind of each pending draw's position, into its slot; answers -1
 * when some outcome (the verdict found, or a draw's) would go up: the packet then goes up
 * undrawn; else the REJECT kinds among the outcomes (eipt_draw_reject_bit), whose replies
 * the caller checks. A global function, like eipt_draws_draw: neither calls
 * eipt_reject_reply, whose call chain (program, reply, checksum loop) has no stack to spare:
 * the program calls it itself. */
__attribute__((noinline)) int eipt_draws_plan(struct eipt_pkt *p, __u32 gen)
{
	struct eipt_draw_slots *ds;
	struct eipt_rule_info *ri;
	__u32 i, zero = 0, pos, rejects = 0;

	if (!p || p->draw_n > EIPT_MAX_DRAWS)
		return -1;
	ds = bpf_map_lookup_elem(&draw_slots, &zero);
	if (!ds || !eipt_draw_outcome(p, p->verdict, p->reject_with, &rejects))
		return -1;
	for (i = 0; i < EIPT_MAX_DRAWS; i++) {
		if (i >= p->draw_n)
			break;
		pos = ds->d[i].pos;
		ri = GEN_LOOKUP(gen, rule_info, &pos);
		if (!ri || !eipt_draw_outcome(p, ri->verdict, ri->reject_with, &rejects))
			return -1;
		ds->d[i].verdict = ri->verdict;
		ds->d[i].with = ri->reject_with;
	}
	return (int)rejects;
}

/* A draw that says yes takes the packet at its own position: the CONTINUE positions
 * recorded after it (cont_scratch, in position order) were never reached in the kernel's
 * walk, so they are not counted (eipt_count_cont counts the first cont_n). */
static __always_inline void eipt_draws_trim_cont(struct eipt_pkt *p)
{
	struct eipt_cont_list *l;
	__u32 i, zero = 0;

	if (!p->cont_n)
		return;
	l = bpf_map_lookup_elem(&cont_scratch, &zero);
	if (!l) {
		p->cont_n = 0;
		return;
	}
	for (i = 0; i < EIPT_MAX_CONT; i++) {
		if (i >= p->cont_n)
			break;
		if (l->pos[i] >= p->pos) {
			p->cont_n = i;
			break;
		}
	}
}

/* The draws, in order (xt_statistic: (get_random_u32() & 0x7FFFFFFF) < probability, `!`
 * inverting): the first that says yes takes the packet; none: the verdict found stands. */
__attribute__((noinline)) int eipt_draws_draw(struct eipt_pkt *p)
{
	struct eipt_draw_slots *ds;
	__u32 i, zero = 0, hit;

	if (!p)
		return 0;
	ds = bpf_map_lookup_elem(&draw_slots, &zero);
	if (!ds)
		return 0;
	for (i = 0; i < EIPT_MAX_DRAWS; i++) {
		if (i >= p->draw_n)
			break;
		hit = (bpf_get_prandom_u32() & 0x7FFFFFFFu) < ds->d[i].probability;
		if (hit == !!ds->d[i].neg)
			continue;
		p->pos = ds->d[i].pos;
		p->verdict = ds->d[i].verdict;
		p->reject_with = ds->d[i].with;
		eipt_draws_trim_cont(p);
		return 1;
	}
	return 0;
}

/*
 * After the judge of generation `gen`, for a packet with pending draws: leaves p->pos,
 * verdict and reject_with as found, or sets them to the first draw that says yes, or sets
 * the verdict to EIPT_KERNEL (up, undrawn) when some outcome would not stay in XDP.
 * A global function: inlined, its registers would grow the program's own frame, which is
 * on the judge's call chain (program, judge, ext rule, ext test, route check) at 512 bytes.
 */
__attribute__((noinline)) int eipt_draws_settle(struct xdp_md *ctx, struct eipt_pkt *p, __u32 gen, __u32 frag)
{
	int rejects;
	__u32 bit;

	if (!p)
		return 0;
	rejects = eipt_draws_plan(p, gen);
	if (rejects < 0)
		goto up;
	/* Each REJECT kind among the outcomes: answered from XDP, or the packet goes up
	 * undrawn (a reply passed up after a draw would be judged, and drawn, again). */
	for (bit = 0; bit <= 16; bit++) {
		if (!(rejects & (1 << bit)))
			continue;
		if (eipt_reject_reply(ctx, p, bit == 16 ? EIPT_REJECT_TCP_RESET : bit, frag | EIPT_REJECT_DRY) ==
		    EIPT_STAT_REJECT_PASSED)
			goto up;
	}
	eipt_draws_draw(p);
	return 0;
up:
	p->verdict = EIPT_KERNEL;
	return 0;
}
