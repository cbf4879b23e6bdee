/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m statistic (net/netfilter/xt_statistic.c):
 *   - random: matches when (a random u32 & 0x7FFFFFFF) < probability (bpf_get_prandom_u32
 *     for the kernel's get_random_u32: the same distribution, not the same draws);
 *   - nth: one counter per match instance shared by all CPUs, starting at every - packet;
 *     each packet sets it to 0 when it equals every (n - 1), else adds one; matches at 0.
 * `!` (XT_STATISTIC_INVERT) inverts the answer; the counter moves either way. Both modes
 * are evaluated once per packet that reaches the rule in INPUT (ext_stateful.h).
 * random is not drawn here: the test (its rule's last, every other one held: the compiler
 * puts it last) records a pending draw for the rule's position and answers NO, so the
 * judge goes on as if the rule did not match; bpf/draws.h draws at the end, only when XDP
 * carries out every outcome (Compiler/PendingDraws.swift says why).
 */
struct eipt_statistic_state {
	struct bpf_spin_lock lock;
	__u32 count;
	__u64 stamp; /* eipt_ext_statistic.stamp of the generation write that set it up */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct eipt_statistic_state);
} ext_statistic_state SEC(".maps");

/* A random draw left pending: recorded in the next free slot of draw_slots with the position
 * eipt_ext_rule is testing; answers NO. MAYBE where a draw cannot wait: during a
 * transition (both generations judge), for a packet that does not reach INPUT (the judge
 * asked: EIPT_EXT_F_STATEFUL), with every slot taken, or when this test already waits
 * (the same rule met twice through inlining). */
static __always_inline int eipt_statistic_pend(struct eipt_pkt *p, struct eipt_ext *e, __u32 probability)
{
	struct eipt_draw_slots *ds;
	__u32 n = p->draw_n, i, zero = 0;

	if ((p->live_flags & EIPT_LIVE_BOTH) || p->input_known != 1 || n >= EIPT_MAX_DRAWS)
		return EIPT_EXT_MAYBE;
	ds = bpf_map_lookup_elem(&draw_slots, &zero);
	if (!ds)
		return EIPT_EXT_MAYBE;
	for (i = 0; i < EIPT_MAX_DRAWS; i++)
		if (i < n && ds->d[i].id == e->id)
			return EIPT_EXT_MAYBE;
	ds->d[n].pos = p->draw_pos;
	ds->d[n].probability = probability;
	ds->d[n].neg = e->neg ? 1 : 0;
	ds->d[n].id = e->id;
	p->draw_n = n + 1;
	return EIPT_EXT_NO;
}

static __attribute__((noinline)) int eipt_ext_statistic(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_statistic *st = EIPT_EXT_DATA(e, statistic);
	struct eipt_statistic_state *s;
	__u32 key = e->id, next;
	int a, hit;

	if (st->mode == EIPT_STATISTIC_RANDOM)
		return eipt_statistic_pend(p, e, st->probability);
	a = eipt_stateful_begin(ctx, p, e);
	if (a != EIPT_EXT_UNDECIDED)
		return a;
	if (st->mode == EIPT_STATISTIC_NTH) {
		if (key >= 64)
			return EIPT_EXT_MAYBE;
		s = bpf_map_lookup_elem(&ext_statistic_state, &key);
		if (!s)
			return EIPT_EXT_MAYBE;
		bpf_spin_lock(&s->lock);
		if (s->stamp != st->stamp) {
			s->stamp = st->stamp;
			s->count = st->count;
		}
		next = s->count == st->every ? 0 : s->count + 1;
		s->count = next;
		bpf_spin_unlock(&s->lock);
		hit = next == 0;
	} else {
		return EIPT_EXT_MAYBE;
	}
	return eipt_stateful_end(p, e, (hit != !!e->neg) ? EIPT_EXT_YES : EIPT_EXT_NO);
}
