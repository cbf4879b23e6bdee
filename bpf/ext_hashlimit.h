/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m hashlimit in packet mode (net/netfilter/xt_hashlimit.c, revision 3): one xt_limit-like
 * bucket per key of a named table, with the revision-2+ arithmetic:
 *   - CREDITS_PER_JIFFY = the largest power of two <= 2^64-1 / (HZ * 86400);
 *   - user2credits(u) = u / (10^6 / (HZ*CPJ)) when 10^6 >= HZ*CPJ, else u * (HZ*CPJ / 10^6);
 *   - a new entry: credit = cap = user2credits(avg * burst), cost = user2credits(avg),
 *     prev = now, expires = now + msecs_to_jiffies(expire);
 *   - per packet: expires moves on; credit += (now - prev) * CPJ, capped (rateinfo_recalc);
 *     under the limit when credit >= cost (then credit -= cost); `!` (above) inverts.
 * The key (dsthash_dst): masked addresses and ports as the table's mode asks, 0 elsewhere;
 * ports of a protocol without them are 0. An entry the kernel's GC would have removed
 * (now >= expires) starts afresh. Shared by all CPUs: a spin lock per entry.
 * Entries outlive a restore (the kernel's htable of that name does too).
 */
struct eipt_hl_key {
	__u32 table;
	__u32 src, dst; /* network order, masked */
	__u16 sport, dport; /* network order */
};

struct eipt_hl_entry {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 prev;    /* jiffies */
	__u64 expires; /* jiffies */
	__u64 credit, cap, cost;
};

/* Not an LRU: an entry evicted early would start a fresh bucket the kernel does not. The
 * compiler allows 8 tables and each creates at most 8192 entries (eipt_ext_hashlimit.max);
 * a full map answers MAYBE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct eipt_hl_key);
	__type(value, struct eipt_hl_entry);
} ext_hashlimit_entries SEC(".maps");

/* Entries XDP created per table (never less than the kernel's count of the keys XDP saw). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} ext_hashlimit_tables SEC(".maps");

static __always_inline __u32 eipt_hl_mask(__u32 a, __u8 len)
{
	return len ? bpf_htonl(bpf_ntohl(a) & (0xFFFFFFFFu << (32 - (len > 32 ? 32 : len)))) : 0;
}

static __always_inline __u64 eipt_hl_cpj(__u64 hz)
{
	__u64 x = 0xFFFFFFFFFFFFFFFFull / (hz * 60 * 60 * 24);

	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	return (x >> 1) + 1;
}

static __always_inline __u64 eipt_hl_user2credits(__u64 user, __u64 hz, __u64 cpj)
{
	if (1000000ull >= hz * cpj)
		return user / (1000000ull / (hz * cpj));
	return user * ((hz * cpj) / 1000000ull);
}

static __always_inline void eipt_hl_init(struct eipt_hl_entry *v, struct eipt_ext_hashlimit *h,
					 __u64 now, __u64 hz, __u64 cpj)
{
	v->prev = now;
	v->credit = eipt_hl_user2credits(h->avg * h->burst, hz, cpj);
	v->cap = v->credit;
	v->cost = eipt_hl_user2credits(h->avg, hz, cpj);
}

static __attribute__((noinline)) int eipt_ext_hashlimit(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_hashlimit *h = EIPT_EXT_DATA(e, hashlimit);
	struct eipt_hl_key k = {};
	struct eipt_hl_entry *v;
	__u64 hz = (__u64)CONFIG_HZ, cpj, now, expire_j;
	int a = eipt_stateful_begin(ctx, p, e), under;

	if (a != EIPT_EXT_UNDECIDED)
		return a;
	if (hz == 0 || hz > 10000 || h->burst == 0)
		return EIPT_EXT_MAYBE;
	k.table = h->table;
	if (h->mode & EIPT_HL_DIP)
		k.dst = eipt_hl_mask(p->daddr, h->dstmask);
	if (h->mode & EIPT_HL_SIP)
		k.src = eipt_hl_mask(p->saddr, h->srcmask);
	if (h->mode & (EIPT_HL_SPT | EIPT_HL_DPT)) {
		switch (p->proto) {
		case IPPROTO_TCP:
		case IPPROTO_UDP:
		case 132: /* sctp */
		case 136: /* udplite */
		case 33:  /* dccp */
			/* The kernel hotdrops a packet too short for its ports. */
			if (!p->has_ports)
				return EIPT_EXT_MAYBE;
			if (h->mode & EIPT_HL_SPT)
				k.sport = bpf_htons(p->sport);
			if (h->mode & EIPT_HL_DPT)
				k.dport = bpf_htons(p->dport);
			break;
		case 50: /* esp: the SPI as ports */
		case 51: /* ah */
			return EIPT_EXT_MAYBE;
		default:
			break; /* no ports: 0 */
		}
	}
	cpj = eipt_hl_cpj(hz);
	now = bpf_jiffies64();
	expire_j = ((__u64)h->expire_ms * hz + 999) / 1000; /* msecs_to_jiffies, rounding up */

	v = bpf_map_lookup_elem(&ext_hashlimit_entries, &k);
	if (!v) {
		struct eipt_hl_entry fresh = {};
		__u64 one = 1, *count = bpf_map_lookup_elem(&ext_hashlimit_tables, &k.table);

		if (!count) {
			__u64 zero = 0;
			bpf_map_update_elem(&ext_hashlimit_tables, &k.table, &zero, BPF_NOEXIST);
			count = bpf_map_lookup_elem(&ext_hashlimit_tables, &k.table);
			if (!count)
				return EIPT_EXT_MAYBE;
		}
		/* Beyond what the kernel's table holds it may hotdrop: let it decide. */
		if (*count >= h->max)
			return EIPT_EXT_MAYBE;
		eipt_hl_init(&fresh, h, now, hz, cpj);
		fresh.expires = now + expire_j;
		if (bpf_map_update_elem(&ext_hashlimit_entries, &k, &fresh, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(count, one);
		v = bpf_map_lookup_elem(&ext_hashlimit_entries, &k);
		if (!v)
			return EIPT_EXT_MAYBE;
	}
	bpf_spin_lock(&v->lock);
	if (now >= v->expires) {
		/* The kernel's GC removes an expired entry: the next packet finds a fresh one. */
		eipt_hl_init(v, h, now, hz, cpj);
	} else if (now != v->prev) {
		v->credit += (now - v->prev) * cpj;
		v->prev = now;
		if (v->credit > v->cap)
			v->credit = v->cap;
	}
	v->expires = now + expire_j;
	under = v->credit >= v->cost;
	if (under)
		v->credit -= v->cost;
	bpf_spin_unlock(&v->lock);
	return eipt_stateful_end(p, e, (under != !!e->neg) ? EIPT_EXT_YES : EIPT_EXT_NO);
}
