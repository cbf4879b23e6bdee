/* SPDX-License-Identifier: Apache-2.0 */
/* The one door from Swift to libbpf: Loader imports this module and nothing else does.
 * It also carries the map layouts shared with the XDP program (bpf/ebpf_iptables.h). */
#ifndef EBPF_IPTABLES_CLIBBPF_SHIM_H
#define EBPF_IPTABLES_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "../../bpf/ebpf_iptables.h"
#endif
