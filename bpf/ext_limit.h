/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m limit: xt_limit's token bucket (net/netfilter/xt_limit.c) with the kernel's own
 * arithmetic, so that XDP passes the packets the kernel would:
 *   - CREDITS_PER_JIFFY: the largest power of two <= 0xFFFFFFFF / (HZ * 86400);
 *   - user2credits(u): u * HZ * CPJ / 10000 in 32 bits, dividing first when that overflows;
 *   - credit_cap = user2credits(avg * burst) (the product in 32 bits, as the kernel's),
 *     cost = user2credits(avg); a fresh bucket is full, with prev = now;
 *   - per packet: credit += (jiffies - prev) * CPJ (u32), capped; pass when credit >= cost.
 * HZ is the running kernel's CONFIG_HZ (libbpf reads it from the kernel config at load) and
 * time is the kernel's own jiffies (bpf_jiffies64), so even the jiffy granularity is the
 * kernel's. Without a known HZ the answer is MAYBE (the kernel decides).
 * One bucket per match instance (eipt_ext.id), shared by all CPUs under a spin lock.
 */
extern unsigned long CONFIG_HZ __kconfig __weak;

/* The state of one limit instance. Only the program reads it. */
struct eipt_limit_state {
	struct bpf_spin_lock lock;
	__u32 credit;
	__u32 cost;
	__u32 cap;
	__u32 pad;
	__u64 prev;  /* jiffies */
	__u64 stamp; /* eipt_ext_limit.stamp of the generation write that set it up */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct eipt_limit_state);
} ext_limit_state SEC(".maps");

/* xt_limit's CREDITS_PER_JIFFY for `hz` (POW2_BELOW32(MAX_CPJ)). */
static __always_inline __u32 eipt_credits_per_jiffy(__u32 hz)
{
	__u32 x = 0xFFFFFFFFu / (hz * 60 * 60 * 24);

	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	return (x >> 1) + 1;
}

/* xt_limit's user2credits: 1/10000 s -> credits, in 32 bits. */
static __always_inline __u32 eipt_user2credits(__u32 user, __u32 hz, __u32 cpj)
{
	if (user > 0xFFFFFFFFu / (hz * cpj))
		return (user / 10000) * hz * cpj;
	return (user * hz * cpj) / 10000;
}

static __attribute__((noinline)) int eipt_ext_limit(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_limit *l = EIPT_EXT_DATA(e, limit);
	struct eipt_limit_state *s;
	__u32 key = e->id, hz = (__u32)CONFIG_HZ, cpj, cap, cost, credit;
	__u64 now;
	int a = eipt_stateful_begin(ctx, p, e), pass;

	if (a != EIPT_EXT_UNDECIDED)
		return a;
	/* The kernel refuses a burst of 0 and an avg*burst that overflows (limit_mt_check). */
	if (hz == 0 || hz > 10000 || key >= 64 || l->burst == 0)
		return EIPT_EXT_MAYBE;
	s = bpf_map_lookup_elem(&ext_limit_state, &key);
	if (!s)
		return EIPT_EXT_MAYBE;
	cpj = eipt_credits_per_jiffy(hz);
	now = bpf_jiffies64();
	bpf_spin_lock(&s->lock);
	if (s->stamp != l->stamp) {
		cap = eipt_user2credits(l->avg * l->burst, hz, cpj);
		s->stamp = l->stamp;
		s->cap = cap;
		s->cost = eipt_user2credits(l->avg, hz, cpj);
		s->credit = cap; /* credits full */
		s->prev = now;
	}
	/* unsigned long arithmetic, truncated to the u32 credit as in limit_mt */
	credit = s->credit + (__u32)((now - s->prev) * cpj);
	s->prev = now;
	cap = s->cap;
	cost = s->cost;
	if (credit > cap)
		credit = cap;
	pass = credit >= cost;
	if (pass)
		credit -= cost;
	s->credit = credit;
	bpf_spin_unlock(&s->lock);
	return eipt_stateful_end(p, e, (pass != !!e->neg) ? EIPT_EXT_YES : EIPT_EXT_NO);
}
