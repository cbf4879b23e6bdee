/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m recent: xt_recent.c's recent_mt() on lists kept in `recent` (layout and meaning:
 * ebpf_iptables.h). Stateful: evaluated only for packets that reach filter INPUT, once per
 * packet (ext_stateful.h). What the kernel does, step by step, and what this mirrors:
 *   - the address is the packet's source (--rsource) or destination (--rdest), masked by
 *     the list's --mask (the kernel masks with the table's mask: the compiler only writes
 *     lists whose rules all give the same one);
 *   - no entry: --set creates one (stamps[0] = now, index 1, the packet's TTL) and holds;
 *     every other command does not hold;
 *   - --set holds; --rcheck/--update hold when `hitcount` stamps (any one when 0) lie
 *     within `seconds` (all when 0), comparing as time_after() does;
 *   - `!` inverts the answer, and --update records the packet when the *inverted* answer
 *     holds (the kernel tests `ret` after inversion); --set always records it;
 *   - recording: index &= ring mask, stamps[index++] = now, nstamps = max(nstamps, index),
 *     ttl = the packet's TTL.
 *   - --rttl: an entry whose TTL differs from the packet's (neither 0) counts as no entry;
 * --remove is never written (the compiler leaves those rules to the kernel, and --rttl
 * unless the rule's chain sets the entry's TTL first: see docs/recent.md); --reap is left
 * out, only on lists where it changes no answer (RecentLists.reapRefusal).
 * The time is bpf_jiffies64(), the kernel's own jiffies.
 */

/* CONFIG_HZ of the running kernel (libbpf reads /proc/config.gz); 0 when unknown, and
 * then a test with --seconds cannot be evaluated here. */
/* CONFIG_HZ: declared (unsigned long, __kconfig) by ext_limit.h, included before this file. */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIPT_MAX_RECENT);
	__type(key, struct eipt_recent_key);
	__type(value, struct eipt_recent_entry);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIPT_MAX_RECENT_LISTS);
	__type(key, __u32);
	__type(value, struct eipt_recent_list);
} recent_lists SEC(".maps");

/* Where a new entry is built (an entry is too large for the program's stack); bytes, as a
 * per-CPU map may not hold a bpf_spin_lock. */
struct eipt_recent_scratch {
	__u8 bytes[sizeof(struct eipt_recent_entry)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_recent_scratch);
} recent_scratch SEC(".maps");

/* A new entry for `k`, counted in its list: 0, or -1 when the list is full (marked
 * overflowed: the kernel would evict an entry we cannot name) or the map refused it. */
static __always_inline int eipt_recent_create(struct eipt_recent_key *k, __u8 ttl, __u64 now, __u32 list_tot)
{
	struct eipt_recent_entry *fresh;
	struct eipt_recent_list *l, zero = {};
	__u32 z = 0, i;

	l = bpf_map_lookup_elem(&recent_lists, &k->list);
	if (!l) {
		bpf_map_update_elem(&recent_lists, &k->list, &zero, BPF_NOEXIST);
		l = bpf_map_lookup_elem(&recent_lists, &k->list);
		if (!l)
			return -1;
	}
	if (l->overflowed)
		return -1;
	/* Count first, then look: two CPUs racing for the last place both see too many and
	 * both give up (the list is marked a creation early, never late). */
	__sync_fetch_and_add(&l->entries, 1);
	if (*(volatile __u32 *)&l->entries > list_tot) {
		__sync_fetch_and_add(&l->entries, -1);
		l->overflowed = 1;
		return -1;
	}
	fresh = (struct eipt_recent_entry *)bpf_map_lookup_elem(&recent_scratch, &z);
	if (!fresh) {
		__sync_fetch_and_add(&l->entries, -1);
		return -1;
	}
	for (i = 1; i < EIPT_RECENT_STAMPS; i++)
		fresh->stamps[i] = 0;
	fresh->ttl = ttl;
	fresh->nstamps = 1;
	fresh->index = 1;
	fresh->pad = 0;
	fresh->stamps[0] = now;
	if (bpf_map_update_elem(&recent, k, fresh, BPF_NOEXIST)) {
		/* Another CPU created it meanwhile, or the map is full: let the kernel decide. */
		__sync_fetch_and_add(&l->entries, -1);
		return -1;
	}
	return 0;
}

static __attribute__((noinline)) int eipt_ext_recent(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_recent *r = EIPT_EXT_DATA(e, recent);
	struct eipt_recent_key k = {};
	struct eipt_recent_entry *ent;
	struct eipt_recent_list *l;
	__u64 now, window = 0, time;
	__u32 i, hits = 0, n, mask, cmd, hitcount, need;
	int ret, answer;

	answer = eipt_stateful_begin(ctx, p, e);
	if (answer != EIPT_EXT_UNDECIDED)
		return answer;
	cmd = r->cmd;
	if (cmd & ~(EIPT_RECENT_SET | EIPT_RECENT_CHECK | EIPT_RECENT_UPDATE))
		return eipt_stateful_end(p, e, EIPT_EXT_MAYBE);
	if (r->seconds) {
		if (!CONFIG_HZ)
			return eipt_stateful_end(p, e, EIPT_EXT_MAYBE);
		/* info->seconds * HZ: an unsigned int product in the kernel, so 32 bits. */
		window = (__u32)(r->seconds * CONFIG_HZ);
	}
	k.list = r->list;
	k.addr = ((r->flags & EIPT_RECENT_F_DEST) ? p->daddr : p->saddr) & r->mask;
	l = bpf_map_lookup_elem(&recent_lists, &k.list);
	if (l && l->overflowed)
		return eipt_stateful_end(p, e, EIPT_EXT_MAYBE);
	now = bpf_jiffies64();
	ret = e->neg ? 1 : 0;

	ent = bpf_map_lookup_elem(&recent, &k);
	if (!ent) {
		if (!(cmd & EIPT_RECENT_SET))
			goto out;
		if (eipt_recent_create(&k, p->ttl, now, r->list_tot))
			return eipt_stateful_end(p, e, EIPT_EXT_MAYBE);
		ret = !ret;
		goto out;
	}

	mask = r->ring_mask & (EIPT_RECENT_STAMPS - 1);
	hitcount = r->hitcount;
	time = now - window;
	bpf_spin_lock(&ent->lock);
	/* --rttl: recent_entry_lookup() passes the packet's TTL, and an entry whose TTL
	 * differs (neither 0) is not found: no hit, no update (--rttl never goes with --set). */
	if ((r->flags & EIPT_RECENT_F_TTL) && ent->ttl != p->ttl && ent->ttl && p->ttl) {
		bpf_spin_unlock(&ent->lock);
		goto out;
	}
	if (cmd & EIPT_RECENT_SET) {
		ret = !ret;
	} else {
		/* The kernel counts the stamps within the window, in ring order, and holds at
		 * the `hitcount`-th (the first when 0): the same as counting them all. Counted
		 * without branches (the verifier would walk each one 32 times over). */
		__u64 valid, all = r->seconds ? 0 : 1;

		n = ent->nstamps;
		valid = n >= 32 ? ~0ULL : (1ULL << n) - 1;
		need = hitcount ? hitcount : 1;
		for (i = 0; i < EIPT_RECENT_STAMPS; i++) {
			/* !time_after(time, stamp): the stamp lies within the window. */
			__u64 in = (~((ent->stamps[i] - time) >> 63) & 1) | all;

			hits += (__u32)(in & (valid >> i) & 1);
			if (hits >= need)
				break; /* as the kernel stops at the hit that decides */
		}
		if (hits >= need)
			ret = !ret;
	}
	if ((cmd & EIPT_RECENT_SET) || ((cmd & EIPT_RECENT_UPDATE) && ret)) {
		__u32 idx = ent->index & mask;

		ent->stamps[idx & (EIPT_RECENT_STAMPS - 1)] = now;
		idx++;
		ent->index = idx;
		if (idx > ent->nstamps)
			ent->nstamps = idx;
		ent->ttl = p->ttl;
	}
	bpf_spin_unlock(&ent->lock);
out:
	if (r->flags & EIPT_RECENT_F_ACT_ONLY)
		return eipt_stateful_end(p, e, EIPT_EXT_NO);
	return eipt_stateful_end(p, e, ret ? EIPT_EXT_YES : EIPT_EXT_NO);
}
