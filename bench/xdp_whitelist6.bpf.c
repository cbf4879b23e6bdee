/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The least an XDP program can do for scripts/bench's IPv6 whitelist (a reference beside
 * ebpf-iptables' IPv6 path, never a firewall): Ethernet, the fixed IPv6 header, UDP right
 * behind it, one lookup of the source address, one per-CPU counter; a member to udp/5060
 * passes, every other UDP datagram is dropped, anything else passes. No extension-header
 * walk, no fragment or martian checks, no generations, no route check: what two layers
 * need to drop exactly what ip6tables would is left out.
 *
 * Built twice by scripts/bench: as is, the members in a hash of 16-byte addresses (what a
 * hash:ip inet6 set needs); with -DWHITELIST6_LPM, in an LPM trie of /128 keys (what
 * ebpf-iptables uses for every inet6 set, hash:net's prefixes included).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifdef WHITELIST6_LPM
struct member6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1048576);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct member6_key);
	__type(value, __u32);
} members6 SEC(".maps");
#else
struct member6_key {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1048576);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct member6_key);
	__type(value, __u32);
} members6 SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped6 SEC(".maps");

SEC("xdp")
int xdp_whitelist6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct member6_key k = {};
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) || ip->nexthdr != IPPROTO_UDP)
		return XDP_PASS;
#ifdef WHITELIST6_LPM
	k.prefixlen = 128;
#endif
	__builtin_memcpy(k.addr, &ip->saddr, 16);
	if (udp->dest == bpf_htons(5060) && bpf_map_lookup_elem(&members6, &k))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&dropped6, &zero);
	if (n)
		*n += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
