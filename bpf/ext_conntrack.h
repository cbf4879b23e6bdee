/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * -m conntrack (xt_conntrack.c, conntrack_mt, revision 3), and a -m state / --ctstate test
 * placed after a stateful test of its rule. Included by ebpf_iptables.bpf.c.
 *
 * What filter INPUT sees is the entry as conntrack left it after this packet went through
 * PREROUTING; XDP sees it before. So:
 *   - an entry found for the packet's tuple: the state as eipt_ct_state derives it (reply
 *     direction or IPS_SEEN_REPLY: ESTABLISHED; IPS_EXPECTED: RELATED; else NEW); the status
 *     gains IPS_SEEN_REPLY when the packet is a reply (nf_conntrack_in sets it for one);
 *     IPS_ASSURED may be set by this very packet (the handshake's last ACK, a UDP stream), so
 *     a --ctstatus naming ASSURED on an entry without it answers MAYBE; a TCP SYN may reopen
 *     a closing connection as a new entry (tcp_packet): MAYBE. SNAT/DNAT bits and tuples of a
 *     confirmed entry do not change any more. A state test alone (after a stateful test)
 *     takes the same way for TCP/UDP, so it is as exact as the options.
 *   - no entry: a new connection. Its entry at INPUT is unconfirmed (nf_confirm runs after
 *     filter INPUT): original tuple the packet's, reply tuple the inverse, no status bit, the
 *     packet's direction ORIGINAL. Unless nat PREROUTING may DNAT it (EIPT_CTM_F_NEW_NAT_UNKNOWN:
 *     then the reply tuple and the DNAT bit are MAYBE). SNAT happens after filter INPUT (nat
 *     INPUT, priority 100). A packet ahead of it on the same flow may be confirmed meanwhile,
 *     so IPS_CONFIRMED is MAYBE. Expectations are not seen (as eipt_ct_state: NEW).
 *   - a packet conntrack refuses (INVALID, no entry): conntrack_mt answers the state test
 *     alone, and false without one.
 *   - other protocols: the kfunc looks up TCP and UDP only; MAYBE unless INVALID.
 *   - --ctexpire: the packet itself refreshes the timeout in PREROUTING (to the timeout of
 *     the state it moves the entry to, or not at all when it is out of window): MAYBE.
 * Every option is one conjunct: any NO answers NO, else any MAYBE answers MAYBE.
 */

/* The kernel's tuple fields read (CO-RE: the offsets, and the array stride of tuplehash, come
 * from the running kernel's BTF; the ___eipt flavour is dropped when matching). */
union nf_inet_addr___eipt {
	__be32 ip;
} __attribute__((preserve_access_index));
union nf_conntrack_man_proto___eipt {
	__be16 all;
} __attribute__((preserve_access_index));
struct nf_conntrack_man___eipt {
	union nf_inet_addr___eipt u3;
	union nf_conntrack_man_proto___eipt u;
} __attribute__((preserve_access_index));
struct nf_conntrack_tuple___eipt {
	struct nf_conntrack_man___eipt src;
	struct {
		union nf_inet_addr___eipt u3;
		union nf_conntrack_man_proto___eipt u;
		__u8 protonum;
	} dst;
} __attribute__((preserve_access_index));
struct nf_conntrack_tuple_hash___eipt {
	struct nf_conntrack_tuple___eipt tuple;
} __attribute__((preserve_access_index));
struct nf_conn___eipt {
	struct nf_conntrack_tuple_hash___eipt tuplehash[2];
	unsigned long status;
} __attribute__((preserve_access_index));

/* The conntrack entry of the packet's tuple as -m conntrack tests it, copied out before the
 * reference is released (the kfunc's pointer cannot be handed on): read once per packet, only
 * when a conntrack ext test is reached. A per-CPU scratch slot rather than the packet's stack
 * frame, which the deepest call chain (program, judge, ext rule, ext test) cannot spare. The
 * slot names the tuple it was taken for: a run that interrupted this one on the same CPU (a
 * BPF_PROG_TEST_RUN is not protected from a softirq's XDP) leaves another tuple, and the
 * packet looks up again. Addresses and ports network order: original src, dst, reply src, dst. */
struct eipt_ct_snap {
	__u32 saddr, daddr; /* the tuple looked up */
	__u16 sport, dport;
	__u8 proto;
	__u8 found;   /* an entry was found */
	__u8 reply;   /* the packet's tuple is the entry's reply direction */
	__u8 ctproto; /* nf_ct_protonum */
	__u32 status; /* the low 32 bits of ct->status (IPS_*) */
	__u32 addr[4];
	__u16 port[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eipt_ct_snap);
} ct_snap SEC(".maps");

#define EIPT_CT_IPS_EXPECTED 1u
#define EIPT_CT_IPS_SEEN_REPLY 2u
#define EIPT_CT_IPS_ASSURED 4u
#define EIPT_CT_IPS_CONFIRMED 8u
#define EIPT_CT_IPS_SRC_NAT 16u
#define EIPT_CT_IPS_DST_NAT 32u

/* The packet's entry (TCP/UDP with ports only), once per packet; NULL: no scratch slot. */
static __always_inline struct eipt_ct_snap *eipt_ct_snapshot(struct xdp_md *ctx, struct eipt_pkt *p)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts opts = {};
	struct nf_conn *ct;
	struct nf_conn___eipt *c;
	struct eipt_ct_snap *sn;
	__u32 zero = 0;
	__u16 sport = bpf_htons(p->sport), dport = bpf_htons(p->dport);

	sn = bpf_map_lookup_elem(&ct_snap, &zero);
	if (!sn)
		return NULL;
	if (p->ct_snap && sn->saddr == p->saddr && sn->daddr == p->daddr && sn->sport == sport &&
	    sn->dport == dport && sn->proto == p->proto)
		return sn;
	sn->saddr = p->saddr;
	sn->daddr = p->daddr;
	sn->sport = sport;
	sn->dport = dport;
	sn->proto = p->proto;
	sn->found = 0;
	tup.ipv4.saddr = p->saddr;
	tup.ipv4.daddr = p->daddr;
	tup.ipv4.sport = sport;
	tup.ipv4.dport = dport;
	opts.netns_id = EIPT_CURRENT_NETNS;
	opts.l4proto = p->proto;
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, EIPT_CT_OPTS_SZ);
	p->ct_snap = 1;
	if (!ct)
		return sn;
	c = (struct nf_conn___eipt *)ct;
	sn->found = 1;
	sn->status = (__u32)c->status;
	sn->reply = opts.dir == EIPT_IP_CT_DIR_REPLY;
	sn->ctproto = c->tuplehash[0].tuple.dst.protonum;
	sn->addr[0] = c->tuplehash[0].tuple.src.u3.ip;
	sn->addr[1] = c->tuplehash[0].tuple.dst.u3.ip;
	sn->addr[2] = c->tuplehash[1].tuple.src.u3.ip;
	sn->addr[3] = c->tuplehash[1].tuple.dst.u3.ip;
	sn->port[0] = c->tuplehash[0].tuple.src.u.all;
	sn->port[1] = c->tuplehash[0].tuple.dst.u.all;
	sn->port[2] = c->tuplehash[1].tuple.src.u.all;
	sn->port[3] = c->tuplehash[1].tuple.dst.u.all;
	bpf_ct_release(ct);
	return sn;
}

/* conntrack_mt with no entry (ct NULL: INVALID): the state test alone decides; without one
 * the match is false. */
static __always_inline int eipt_ctm_no_entry(struct eipt_ext_conntrack *m)
{
	if (!(m->match & EIPT_CTM_STATE))
		return EIPT_EXT_NO;
	return !!(m->states & EIPT_CT_INVALID) != !!(m->invert & EIPT_CTM_STATE) ? EIPT_EXT_YES : EIPT_EXT_NO;
}

static __attribute__((noinline)) int eipt_ext_conntrack(struct xdp_md *ctx, struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_conntrack *m = EIPT_EXT_DATA(e, conntrack);
	struct eipt_ct_snap *sn;
	__u32 match = m->match, inv = m->invert, statebit, status, unsure = 0, s;
	__u32 addr[4];
	__u16 port[4];
	int no = 0, maybe = 0, reply, i, new_conn = 0;

	if ((p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) || !p->has_ports) {
		s = eipt_ct_state(ctx, p);
		/* The state alone (-m state, --ctstate without SNAT/DNAT): the fixed state test's
		 * answer (ICMP errors RELATED to a TCP/UDP entry, ...). */
		if (match == EIPT_CTM_STATE && !(m->states & (EIPT_CTM_S_SNAT | EIPT_CTM_S_DNAT)) &&
		    s != EIPT_CT_UNCERTAIN)
			return !!(s & m->states) != !!(inv & EIPT_CTM_STATE) ? EIPT_EXT_YES : EIPT_EXT_NO;
		return s == EIPT_CT_INVALID ? eipt_ctm_no_entry(m) : EIPT_EXT_MAYBE;
	}
	sn = eipt_ct_snapshot(ctx, p);
	if (!sn)
		return EIPT_EXT_MAYBE;
	if (sn->found) {
		reply = sn->reply;
		status = sn->status;
		statebit = (reply || (status & EIPT_CT_IPS_SEEN_REPLY)) ? EIPT_CT_ESTABLISHED
			   : (status & EIPT_CT_IPS_EXPECTED) ? EIPT_CT_RELATED : EIPT_CT_NEW;
		if (reply)
			status |= EIPT_CT_IPS_SEEN_REPLY;
		if (status & EIPT_CT_IPS_SRC_NAT)
			statebit |= EIPT_CTM_S_SNAT;
		if (status & EIPT_CT_IPS_DST_NAT)
			statebit |= EIPT_CTM_S_DNAT;
		/* A SYN (no ACK) on a connection that saw a reply may reopen a closing one as a new
		 * entry, or be INVALID (tcp_packet); a retransmitted SYN of one that did not stays NEW. */
		if (p->proto == IPPROTO_TCP && (!p->has_tcp_flags ||
		    ((p->tcp_flags & 0x12) == 0x02 && (reply || (status & EIPT_CT_IPS_SEEN_REPLY)))))
			return EIPT_EXT_MAYBE;
		unsure = EIPT_CT_IPS_ASSURED; /* this packet may make it assured */
		for (i = 0; i < 4; i++) {
			addr[i] = sn->addr[i];
			port[i] = bpf_ntohs(sn->port[i]);
		}
		s = sn->ctproto;
	} else {
		if (p->proto == IPPROTO_TCP) {
			if (!p->has_tcp_flags)
				return EIPT_EXT_MAYBE;
			if (eipt_tcp_new_state(p->tcp_flags) == EIPT_CT_INVALID)
				return eipt_ctm_no_entry(m);
		}
		new_conn = 1;
		reply = 0;
		status = 0;
		statebit = EIPT_CT_NEW;
		addr[0] = p->saddr;
		addr[1] = p->daddr;
		addr[2] = p->daddr;
		addr[3] = p->saddr;
		port[0] = p->sport;
		port[1] = p->dport;
		port[2] = p->dport;
		port[3] = p->sport;
		s = p->proto;
		unsure = EIPT_CT_IPS_CONFIRMED; /* a packet ahead on the flow may be confirmed meanwhile */
	}

	if (match & EIPT_CTM_STATE) {
		int with = !!(m->states & statebit);

		/* DNAT unknown for a new connection: the answer must not depend on the bit. */
		if (new_conn && (e->flags & EIPT_CTM_F_NEW_NAT_UNKNOWN) && (m->states & EIPT_CTM_S_DNAT) && !with)
			maybe = 1;
		else if (with == !!(inv & EIPT_CTM_STATE))
			no = 1;
	}
	if ((match & EIPT_CTM_DIRECTION) && reply != !!(inv & EIPT_CTM_DIRECTION))
		no = 1;
	for (i = 0; i < 4; i++) {
		__u32 bit = EIPT_CTM_ORIGSRC << i;
		__u32 pbit = EIPT_CTM_ORIGSRC_PORT << i;
		int eq, in;

		if (!(match & (bit | pbit)))
			continue;
		if (i >= 2 && new_conn && (e->flags & EIPT_CTM_F_NEW_NAT_UNKNOWN)) {
			maybe = 1;
			continue;
		}
		eq = ((addr[i] ^ m->addr[i]) & m->mask[i]) == 0;
		in = port[i] >= m->port_lo[i] && port[i] <= m->port_hi[i];
		if ((match & bit) && eq == !!(inv & bit))
			no = 1;
		if ((match & pbit) && in == !!(inv & pbit))
			no = 1;
	}
	if ((match & EIPT_CTM_PROTO) && (s == m->proto) == !!(inv & EIPT_CTM_PROTO))
		no = 1;
	if (match & EIPT_CTM_STATUS) {
		int lo = !!(m->status & status), hi = !!(m->status & (status | unsure));

		if (lo != hi)
			maybe = 1;
		else if (lo == !!(inv & EIPT_CTM_STATUS))
			no = 1;
	}
	if (match & EIPT_CTM_EXPIRES)
		maybe = 1;
	if (no)
		return EIPT_EXT_NO;
	return maybe ? EIPT_EXT_MAYBE : EIPT_EXT_YES;
}
