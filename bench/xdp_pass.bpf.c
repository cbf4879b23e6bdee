/* SPDX-License-Identifier: Apache-2.0 */
/* Hands every frame to the kernel's stack: how scripts/bench measures the netfilter
 * competitors with BPF_PROG_TEST_RUN live frames (each frame becomes an skb). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
