/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m string: xt_string's skb_find_text(skb, from, to, conf) != UINT_MAX, negated by `!`.
 *
 * What the kernel searches (net/core/skbuff.c, lib/textsearch.c): skb->data is the IP
 * header in INPUT and skb->len the IP total length (ip_rcv trims the padding). The search
 * starts at `from`; since Linux 6.7 ("skb_find_text: Ignore patterns extending past 'to'")
 * the occurrence found counts only when it ends by `to` (ret + patlen <= to - from). So:
 * - kmp (lib/ts_kmp.c) finds the leftmost occurrence, across blocks: the rule matches when
 *   some occurrence lies inside [from, min(to, len)). Any exact search answers that; this
 *   one is Horspool (few steps on SIP-sized payloads).
 * - bm (lib/ts_bm.c) is the kernel's own Boyer-Moore with its own tables, which can step
 *   over an occurrence; it is mirrored step by step (bad shift from the raw text byte,
 *   good-shift table computed in Swift with the kernel's subpattern()). A step that finds
 *   an occurrence ending past `to` ends the kernel's search without a match, and stopping
 *   the mirror at min(to, len) gives the same answer. The mirror assumes the kernel sees
 *   the packet's bytes as one block (a linear skb, as veth and most drivers give for
 *   frames of this size); see docs/packet-matches.md for the caveat.
 * - --icase: the pattern is stored uppercased and each text byte goes through the kernel's
 *   toupper (lib/ctype.c: Latin-1 letters too, 0xdf and 0xff included).
 * A window longer than EIPT_STR_WINDOW bytes is not searched, nor a first fragment (the
 * kernel searches the reassembled datagram): MAYBE.
 * Included by ebpf_iptables.bpf.c.
 */

/* Whether the packet is the first fragment of a datagram (MF set): INPUT sees the datagram
 * reassembled, whose bytes and length XDP does not have. -1: cannot read. */
static __always_inline int eipt_more_fragments(struct xdp_md *ctx)
{
	__u16 frag;

	if (bpf_xdp_load_bytes(ctx, sizeof(struct ethhdr) + 6, &frag, 2))
		return -1;
	return !!(bpf_ntohs(frag) & 0x2000);
}

/* Per CPU: the packet's window, copied once per test (bpf_xdp_load_bytes also reads frags),
 * and the search's shift table, built per test from the row's pattern (256 entries do not
 * fit the row). */
struct eipt_str_scratch {
	__u8 text[EIPT_STR_WINDOW];
	__u8 shift[256];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_str_scratch);
} eipt_str_buf SEC(".maps");

/* lib/ctype.c: lower case is a-z, 0xdf-0xf6 and 0xf8-0xff. */
static __always_inline __u8 eipt_k_toupper(__u8 c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 0xdf && c != 0xf7))
		return c - 0x20;
	return c;
}

/* lib/ctype.c: upper case is A-Z, 0xc0-0xd6 and 0xd8-0xde. */
static __always_inline __u8 eipt_k_tolower(__u8 c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
		return c + 0x20;
	return c;
}

struct eipt_str_state {
	__u8 pat[EIPT_STR_KMP_MAX];
	__u8 good[EIPT_STR_BM_MAX];
	__u32 n;      /* window length */
	__u32 pos;    /* Horspool: window start; bm: the kernel's `shift` */
	__u32 patlen;
	__u32 icase;
	__u32 found;
	struct eipt_str_scratch *b; /* this CPU's scratch, looked up once per search */
};

static __always_inline __u8 eipt_str_at(struct eipt_str_scratch *b, __u32 i, __u32 icase)
{
	__u8 c = b->text[i & (EIPT_STR_WINDOW - 1)];

	return icase ? eipt_k_toupper(c) : c;
}

/* Whether the pattern lies at text[end-m+1 .. end]: the number of bytes that matched from
 * the right (m: all). */
static __always_inline __u32 eipt_str_suffix(struct eipt_str_state *s, struct eipt_str_scratch *b, __u32 end, __u32 max)
{
	__u32 i, m = s->patlen;

	for (i = 0; i < max; i++) {
		if (i >= m)
			return m;
		if (eipt_str_at(b, end - i, s->icase) != s->pat[(m - 1 - i) & (EIPT_STR_KMP_MAX - 1)])
			return i;
	}
	return i;
}

/* One Horspool step: compare the window at pos, else shift by its last (uppercased) byte. */
static long eipt_str_horspool_step(__u64 idx, void *arg)
{
	struct eipt_str_state *s = arg;
	__u32 m = s->patlen, end;
	struct eipt_str_scratch *b = s->b;

	if (!b || m == 0 || m > EIPT_STR_KMP_MAX || s->pos + m > s->n)
		return 1;
	end = s->pos + m - 1;
	if (eipt_str_suffix(s, b, end, EIPT_STR_KMP_MAX) == m) {
		s->found = 1;
		return 1;
	}
	s->pos += b->shift[eipt_str_at(b, end, s->icase)];
	return 0;
}

/* One step of lib/ts_bm.c bm_find at `shift` (s->pos). */
static long eipt_str_bm_step(__u64 idx, void *arg)
{
	struct eipt_str_state *s = arg;
	__u32 i, m = s->patlen, a, c;
	struct eipt_str_scratch *b = s->b;

	if (!b || m == 0 || m > EIPT_STR_BM_MAX || s->pos >= s->n)
		return 1;
	i = eipt_str_suffix(s, b, s->pos, EIPT_STR_BM_MAX);
	if (i >= m) {
		s->found = 1;
		return 1;
	}
	/* bad_shift[text[shift-i]] (the raw byte), then
	 * shift = max_t(int, shift-i+bs, shift+good_shift[i]). */
	a = s->pos - i + b->shift[b->text[(s->pos - i) & (EIPT_STR_WINDOW - 1)]];
	c = s->pos + s->good[i & (EIPT_STR_BM_MAX - 1)];
	s->pos = a > c ? a : c;
	return 0;
}

/* The shift table: Horspool's over the (uppercased) pattern; for bm, ts_bm's bad_shift:
 * the pattern's bytes and, with --icase, their tolower, the last position before the end
 * winning (compute_prefix_tbl). */
static __always_inline void eipt_str_shifts(struct eipt_str_state *s, struct eipt_str_scratch *b, int bm)
{
	__u32 j, m = s->patlen, fill = m * 0x01010101u;

	for (j = 0; j < 64; j++)
		((__u32 *)b->shift)[j] = fill;
	for (j = 0; j + 1 < EIPT_STR_KMP_MAX; j++) {
		__u8 c;

		if (j + 1 >= m)
			break;
		c = s->pat[j];
		b->shift[c] = m - 1 - j;
		if (bm && s->icase)
			b->shift[eipt_k_tolower(c)] = m - 1 - j;
	}
}

static __attribute__((noinline)) int eipt_ext_string(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_string *d = EIPT_EXT_DATA(e, string);
	struct eipt_str_state s = {};
	__u32 zero = 0, from = d->from, end = d->to, n, i;
	int bm = d->flags & EIPT_STR_BM;
	struct eipt_str_scratch *b;

	if (eipt_more_fragments(ctx) != 0)
		return EIPT_EXT_MAYBE; /* the kernel searches the reassembled datagram */
	if (end > p->tot_len)
		end = p->tot_len;
	s.patlen = d->patlen;
	s.icase = !!(d->flags & EIPT_STR_ICASE);
	if (s.patlen == 0 || s.patlen > (bm ? EIPT_STR_BM_MAX : EIPT_STR_KMP_MAX))
		return EIPT_EXT_MAYBE;
	if (from >= end || end - from < s.patlen)
		return e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
	n = end - from;
	if (n < 1 || n > EIPT_STR_WINDOW)
		return EIPT_EXT_MAYBE;
	b = bpf_map_lookup_elem(&eipt_str_buf, &zero);
	if (!b)
		return EIPT_EXT_MAYBE;
	if (bpf_xdp_load_bytes(ctx, sizeof(struct ethhdr) + from, b->text, n))
		return EIPT_EXT_MAYBE;
	for (i = 0; i < EIPT_STR_KMP_MAX; i++)
		s.pat[i] = d->bytes[i];
	for (i = 0; i < EIPT_STR_BM_MAX; i++)
		s.good[i] = d->bytes[EIPT_STR_BM_MAX + i];
	s.n = n;
	s.b = b;
	eipt_str_shifts(&s, b, bm);
	if (bm) {
		s.pos = s.patlen - 1;
		bpf_loop(EIPT_STR_WINDOW + 1, eipt_str_bm_step, &s, 0);
	} else {
		bpf_loop(EIPT_STR_WINDOW + 1, eipt_str_horspool_step, &s, 0);
	}
	return s.found != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
