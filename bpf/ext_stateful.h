/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * What every stateful extension test (limit, hashlimit, recent, statistic nth, -j SET...)
 * shares. iptables evaluates such a match only for packets that reach its rule in filter
 * INPUT, once per packet; so must we, or a bucket would pay for packets the kernel forwards,
 * and a jump's limit inlined into several positions would be charged once per position:
 *   - eipt_stateful_begin() first: MAYBE when the packet does not reach INPUT (the route
 *     check says the kernel forwards it: XDP passes it anyway, and no state is touched) or
 *     during a transition (both generations judge the packet: it would act twice); else it
 *     returns the memoised answer when this test (eipt_ext.id) already acted for the packet;
 *   - eipt_stateful_end() with the answer, which it records and returns.
 * The compiler gives each stateful test instance (a rule's match, wherever inlined) its own
 * id below 64; an id of 64 or more is never memoised (the compiler never writes one).
 * Included by ebpf_iptables.bpf.c after the drop path (eipt_drop_overruled).
 */
#define EIPT_EXT_UNDECIDED (-1)

static __always_inline int eipt_reaches_input(struct xdp_md *ctx, struct eipt_pkt *p)
{
	if (!p->input_known) {
		int passes = 0;

		if (!(p->live_flags & EIPT_LIVE_ALL_DESTINATIONS))
			passes = eipt_drop_overruled(ctx, p, EIPT_CHECK_ROUTE) != 0;
		p->input_known = passes ? 2 : 1;
	}
	return p->input_known == 1;
}

/* EIPT_EXT_UNDECIDED: evaluate the test now; else the answer to return as it is. */
static __always_inline int eipt_stateful_begin(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	__u32 id = e->id;

	/* A complement read from the memo (EIPT_EXT_ID_MEMO_NOT): the instance was evaluated
	 * for this packet by an earlier position, whose answer decides; never acts itself. */
	if (id & EIPT_EXT_ID_MEMO_NOT) {
		id &= 63;
		if ((p->memo_done >> id) & 1)
			return ((p->memo_yes >> id) & 1) ? EIPT_EXT_NO : EIPT_EXT_YES;
		return EIPT_EXT_MAYBE;
	}
	if (p->live_flags & EIPT_LIVE_BOTH)
		return EIPT_EXT_MAYBE;
	if (id < 64 && ((p->memo_done >> id) & 1))
		return ((p->memo_yes >> id) & 1) ? EIPT_EXT_YES : EIPT_EXT_NO;
	/* Asked by the judge before this rule's tests (EIPT_EXT_F_STATEFUL); not asked: MAYBE. */
	if (p->input_known != 1)
		return EIPT_EXT_MAYBE;
	/* A random draw is pending (bpf/draws.h): iptables charges this test only if that draw
	 * says no, which is not known yet. */
	if (p->draw_n)
		return EIPT_EXT_MAYBE;
	return EIPT_EXT_UNDECIDED;
}

static __always_inline int eipt_stateful_end(struct eipt_pkt *p, struct eipt_ext *e, int answer)
{
	__u32 id = e->id;

	if (id < 64 && answer != EIPT_EXT_MAYBE) {
		p->memo_done |= 1ULL << id;
		if (answer == EIPT_EXT_YES)
			p->memo_yes |= 1ULL << id;
	}
	return answer;
}
