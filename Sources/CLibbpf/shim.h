/* SPDX-License-Identifier: Apache-2.0 */
/* The one door from Swift to libbpf: Loader imports this module and nothing else does. */
#ifndef EBPF_IPTABLES_CLIBBPF_SHIM_H
#define EBPF_IPTABLES_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#endif
