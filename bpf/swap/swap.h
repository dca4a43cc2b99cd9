/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_SWAP_H
#define MT_SWAP_H

#include "../common/event.h"

enum swap_kind {
	SWAP_IN = 1,  /* struct swap_in */
	SWAP_OUT = 2, /* struct swap_out */
};

enum swap_probe {
	SWAP_PROBE_IN = 0,
	SWAP_PROBE_OUT = 1,
	SWAP_PROBE_OUT_PAGE = 2,
};

/* Kind of VMA a swap-in hit (the faults group's names). */
enum swap_vma {
	SWAP_VMA_ANON = 1,
	SWAP_VMA_SHMEM = 3,
	SWAP_VMA_STACK = 4,
	SWAP_VMA_HEAP = 5,
};

/*
 * A major fault on an anonymous or shmem VMA: the kernel read the page back
 * from swap (there is no swap-in tracepoint). The header is the faulting
 * task.
 */
struct swap_in {
	struct mt_hdr hdr;
	__u64 address;
	__u32 vma; /* enum swap_vma */
	__u32 _pad;
};

/*
 * Reclaim wrote an anonymous (swap-backed) folio out: vmscan's
 * write_folio/writepage tracepoint. The header is the reclaiming task.
 */
struct swap_out {
	struct mt_hdr hdr;
	__u64 pages;            /* pages in the folio */
	__u64 owner_cgroup_id;  /* memory cgroup the folio is charged to (0: none) */
};

#endif
