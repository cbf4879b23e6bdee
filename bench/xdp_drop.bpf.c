/* SPDX-License-Identifier: Apache-2.0 */
/* The floor of scripts/bench: the least an XDP program can cost per packet. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
