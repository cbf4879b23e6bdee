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
 *   frames of this size); see docs/two-layers.md for the caveat.
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

/* The packet's window, copied once per test (bpf_xdp_load_bytes also reads frags). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[EIPT_STR_WINDOW]);
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
};

static __always_inline __u8 eipt_str_at(__u8 *buf, __u32 i, __u32 icase)
{
	__u8 c = buf[i & (EIPT_STR_WINDOW - 1)];

	return icase ? eipt_k_toupper(c) : c;
}

/* One Horspool step: compare the window at pos, else shift by its last byte. */
static long eipt_str_horspool_step(__u64 idx, void *arg)
{
	struct eipt_str_state *s = arg;
	__u32 zero = 0, j, m = s->patlen, shift;
	__u8 *buf = bpf_map_lookup_elem(&eipt_str_buf, &zero);
	__u8 last;

	if (!buf || m == 0 || m > EIPT_STR_KMP_MAX)
		return 1;
	if (s->pos + m > s->n)
		return 1;
	for (j = 0; j < EIPT_STR_KMP_MAX; j++) {
		if (j >= m) {
			s->found = 1;
			return 1;
		}
		if (eipt_str_at(buf, s->pos + j, s->icase) != s->pat[j])
			break;
	}
	last = eipt_str_at(buf, s->pos + m - 1, s->icase);
	shift = m;
	for (j = 0; j < EIPT_STR_KMP_MAX - 1; j++) {
		if (j + 1 >= m)
			break;
		if (s->pat[j] == last)
			shift = m - 1 - j;
	}
	s->pos += shift;
	return 0;
}

/* One step of lib/ts_bm.c bm_find at `shift` (s->pos). */
static long eipt_str_bm_step(__u64 idx, void *arg)
{
	struct eipt_str_state *s = arg;
	__u32 zero = 0, i, j, m = s->patlen, bs, a, b;
	__u8 *buf = bpf_map_lookup_elem(&eipt_str_buf, &zero);
	__u8 raw;

	if (!buf || m == 0 || m > EIPT_STR_BM_MAX)
		return 1;
	if (s->pos >= s->n)
		return 1;
	for (i = 0; i < EIPT_STR_BM_MAX; i++) {
		if (i >= m) {
			s->found = 1;
			return 1;
		}
		if (eipt_str_at(buf, s->pos - i, s->icase) != s->pat[(m - 1 - i) & (EIPT_STR_KMP_MAX - 1)])
			break;
	}
	/* bad_shift[text[shift-i]]: the raw byte; the table holds the (uppercased) pattern's
	 * bytes and, with --icase, their tolower, the last position before the end winning. */
	raw = buf[(s->pos - i) & (EIPT_STR_WINDOW - 1)];
	bs = m;
	for (j = 0; j < EIPT_STR_BM_MAX - 1; j++) {
		if (j + 1 >= m)
			break;
		if (s->pat[j] == raw || (s->icase && eipt_k_tolower(s->pat[j]) == raw))
			bs = m - 1 - j;
	}
	a = s->pos - i + bs;
	b = s->pos + s->good[i & (EIPT_STR_BM_MAX - 1)];
	/* ts_bm: shift = max_t(int, shift-i+bs, shift+good_shift[i]) */
	s->pos = a > b ? a : b;
	return 0;
}

static __always_inline int eipt_ext_string(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_string *d = EIPT_EXT_DATA(e, string);
	struct eipt_str_state s = {};
	__u32 zero = 0, from = d->from, end = d->to, n, i;
	int bm = d->flags & EIPT_STR_BM;
	__u8 *buf;

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
	if (n > EIPT_STR_WINDOW)
		return EIPT_EXT_MAYBE;
	buf = bpf_map_lookup_elem(&eipt_str_buf, &zero);
	if (!buf)
		return EIPT_EXT_MAYBE;
	if (bpf_xdp_load_bytes(ctx, sizeof(struct ethhdr) + from, buf, n))
		return EIPT_EXT_MAYBE;
	for (i = 0; i < EIPT_STR_KMP_MAX; i++)
		s.pat[i] = d->bytes[i];
	for (i = 0; i < EIPT_STR_BM_MAX; i++)
		s.good[i] = d->bytes[EIPT_STR_BM_MAX + i];
	s.n = n;
	if (bm) {
		s.pos = s.patlen - 1;
		bpf_loop(EIPT_STR_WINDOW + 1, eipt_str_bm_step, &s, 0);
	} else {
		bpf_loop(EIPT_STR_WINDOW + 1, eipt_str_horspool_step, &s, 0);
	}
	return s.found != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
