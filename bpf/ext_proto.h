/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * A second protocol test of one conjunction (Compiler/FallbackLowering.swift): the
 * entry's own proto field holds one, this row another. ip_packet_match compares
 * ip->protocol with the rule's protocol, `!` inverting (protocol 0, "all", is no test: the
 * compiler never writes one). Included by ebpf_iptables.bpf.c.
 */
static __attribute__((noinline)) int eipt_ext_proto(struct eipt_pkt *p, struct eipt_ext *e)
{
	struct eipt_ext_proto *x = EIPT_EXT_DATA(e, proto);

	return (p->proto == x->proto) != !!e->neg ? EIPT_EXT_YES : EIPT_EXT_NO;
}
