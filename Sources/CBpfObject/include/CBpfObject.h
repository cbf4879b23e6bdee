/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The compiled XDP program (bpf/ebpf_iptables.bpf.c), embedded by scripts/build-bpf. */
#ifndef EBPF_IPTABLES_CBPFOBJECT_H
#define EBPF_IPTABLES_CBPFOBJECT_H
extern const unsigned char eipt_bpf_object[];
extern const unsigned long eipt_bpf_object_len;
/* Swift cannot import an array of unknown size: it reads the object through these. */
const unsigned char *eipt_bpf_object_bytes(void);
unsigned long eipt_bpf_object_size(void);
#endif
