/* SPDX-License-Identifier: Apache-2.0 */
/* The one door from Swift to libbpf: Loader imports this module and nothing else does.
 * It also carries the map layouts shared with the XDP program (bpf/ebpf_iptables.h). */
#ifndef EBPF_IPTABLES_CLIBBPF_SHIM_H
#define EBPF_IPTABLES_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "../../bpf/ebpf_iptables.h"
#include <sys/timex.h>
#include <time.h>

/* The kernel's TAI offset (CLOCK_TAI - CLOCK_REALTIME, whole seconds): adjtimex's `tai`,
 * read without changing anything (modes 0). -1 when the call fails. For -m time
 * (bpf/ext_time.h); here because struct timex's padding bit-fields do not import. */
static inline int eipt_read_tai_offset(long long *out)
{
	struct timex tx = {0};

	if (adjtimex(&tx) < 0)
		return -1;
	*out = tx.tai;
	return 0;
}

/* CLOCK_TAI - CLOCK_MONOTONIC in ns (the kernel's offs_tai, what bpf_ktime_get_tai_ns()
 * minus bpf_ktime_get_ns() gives): -1 when a clock cannot be read. */
static inline int eipt_read_tai_mono_ns(long long *out)
{
	struct timespec tai, mono;

	if (clock_gettime(CLOCK_TAI, &tai) || clock_gettime(CLOCK_MONOTONIC, &mono))
		return -1;
	*out = (tai.tv_sec - mono.tv_sec) * 1000000000LL + (tai.tv_nsec - mono.tv_nsec);
	return 0;
}
#endif
