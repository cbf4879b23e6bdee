/* SPDX-License-Identifier: Apache-2.0 */
/* Hands every frame to the kernel's stack: the cost of having any XDP program on the
 * device, which scripts/bench sets apart from what a firewall's own program adds. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
