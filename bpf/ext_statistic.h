/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m statistic (net/netfilter/xt_statistic.c):
 *   - random: matches when (a random u32 & 0x7FFFFFFF) < probability (bpf_get_prandom_u32
 *     for the kernel's get_random_u32: the same distribution, not the same draws);
 *   - nth: one counter per match instance shared by all CPUs, starting at every - packet;
 *     each packet sets it to 0 when it equals every (n - 1), else adds one; matches at 0.
 * `!` (XT_STATISTIC_INVERT) inverts the answer; the counter moves either way. Both modes
 * are evaluated once per packet that reaches the rule in INPUT (ext_stateful.h).
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

static __attribute__((noinline)) int eipt_ext_statistic(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_statistic *st = EIPT_EXT_DATA(e, statistic);
	struct eipt_statistic_state *s;
	__u32 key = e->id, next;
	int a = eipt_stateful_begin(ctx, p, e), hit;

	if (a != EIPT_EXT_UNDECIDED)
		return a;
	if (st->mode == EIPT_STATISTIC_RANDOM) {
		hit = (bpf_get_prandom_u32() & 0x7FFFFFFFu) < st->probability;
	} else if (st->mode == EIPT_STATISTIC_NTH) {
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
