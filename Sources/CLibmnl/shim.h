/* SPDX-License-Identifier: Apache-2.0 */
/* libmnl and the rtnetlink headers for Loader's link and address events; only Loader
 * imports this module. */
#ifndef EBPF_IPTABLES_CLIBMNL_SHIM_H
#define EBPF_IPTABLES_CLIBMNL_SHIM_H
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#endif
