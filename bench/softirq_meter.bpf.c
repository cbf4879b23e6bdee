/* SPDX-License-Identifier: Apache-2.0 */
/* Time spent in the NET_RX softirq, per CPU, from the irq:softirq_entry/exit tracepoints.
 * /proc/stat samples softirq time at timer ticks, which is wrong at low packet rates;
 * these tracepoints fire on every entry and exit, in whatever context runs the softirq
 * (ksoftirqd, an interrupt exit, or a sender's local_bh_enable on a veth). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NET_RX_SOFTIRQ 3

/* The tracepoint's record (see events/irq/softirq_entry/format): 8 bytes of common
 * fields, then the vector number. vmlinux.h would give the same layout. */
struct softirq_record {
	__u64 common;
	__u32 vec;
};

/* key 0: entry timestamp of the running NET_RX softirq on this CPU (0 = none) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} netrx_start SEC(".maps");

/* key 0: total NET_RX nanoseconds; key 1: number of NET_RX softirq runs;
 * key 2: packets NAPI polls handled (veth's own NAPI with XDP, the backlog without) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} netrx_total SEC(".maps");

SEC("tracepoint/irq/softirq_entry")
int netrx_entry(struct softirq_record *rec)
{
	__u32 k = 0;
	__u64 *start;

	if (rec->vec != NET_RX_SOFTIRQ)
		return 0;
	start = bpf_map_lookup_elem(&netrx_start, &k);
	if (start)
		*start = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/irq/softirq_exit")
int netrx_exit(struct softirq_record *rec)
{
	__u32 k = 0, runs = 1;
	__u64 *start, *total, *count;

	if (rec->vec != NET_RX_SOFTIRQ)
		return 0;
	start = bpf_map_lookup_elem(&netrx_start, &k);
	/* an exit without its entry: the meter was attached mid-softirq */
	if (!start || *start == 0)
		return 0;
	total = bpf_map_lookup_elem(&netrx_total, &k);
	if (total)
		*total += bpf_ktime_get_ns() - *start;
	count = bpf_map_lookup_elem(&netrx_total, &runs);
	if (count)
		*count += 1;
	*start = 0;
	return 0;
}

/* events/napi/napi_poll/format: common fields, the napi pointer, the device name's
 * __data_loc, then the packets this poll handled. */
struct napi_poll_record {
	__u64 common;
	__u64 napi;
	__u32 dev_name_loc;
	__s32 work;
	__s32 budget;
};

SEC("tracepoint/napi/napi_poll")
int netrx_napi(struct napi_poll_record *rec)
{
	__u32 k = 2;
	__u64 *packets = bpf_map_lookup_elem(&netrx_total, &k);

	if (packets && rec->work > 0)
		*packets += rec->work;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
