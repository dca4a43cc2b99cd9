/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_HUGETLB_H
#define MT_HUGETLB_H

#include "../common/event.h"

/* Huge page sizes whose pool is sampled (x86-64 has two: 2 MiB and 1 GiB). */
#define HUGETLB_MAX_HSTATES 4

enum hugetlb_kind {
	HUGETLB_FAULT = 1, /* struct hugetlb_fault */
	HUGETLB_POOL = 2,  /* struct hugetlb_pool */
};

enum hugetlb_probe {
	HUGETLB_PROBE_FAULT_MIN = 0,
	HUGETLB_PROBE_FAULT_MAJ = 1,
	HUGETLB_PROBE_POOL = 2,
};

/*
 * One huge page size's pool (struct hstate), the counters /proc/meminfo
 * prints as HugePages_* for the default size and
 * /sys/kernel/mm/hugepages/hugepages-<size>kB/ for each size.
 */
struct hugetlb_counts {
	__u64 total;      /* nr_huge_pages: HugePages_Total */
	__u64 free;       /* free_huge_pages: HugePages_Free */
	__u64 reserved;   /* resv_huge_pages: HugePages_Rsvd */
	__u64 surplus;    /* surplus_huge_pages: HugePages_Surp */
	__u64 overcommit; /* nr_overcommit_huge_pages: the surplus allowed */
	__u64 order;      /* the huge page's order (its size in base pages, log2) */
};

/*
 * A fault the kernel accounted in a hugetlb VMA (the page-fault software
 * perf events, after the fault), with its size's pool right after it.
 * The header is the faulting task.
 */
struct hugetlb_fault {
	struct mt_hdr hdr;
	__u64 address;
	__u32 major;  /* 1: accounted as a major fault */
	__u32 shared; /* 1: a shared mapping (VM_SHARED) */
	struct hugetlb_counts pool;
};

/* One huge page size's pool at a snapshot (start, every interval, end). */
struct hugetlb_pool {
	struct mt_hdr hdr;
	__u32 trigger; /* enum mt_trigger */
	__u32 _pad;
	struct hugetlb_counts pool;
};

#endif
