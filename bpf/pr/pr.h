/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_PR_H
#define MT_PR_H

#include "../common/event.h"

enum pr_kind {
	PR_LRU_INACTIVE = 1, /* struct pr_lru_inactive */
	PR_LRU_ACTIVE = 2,   /* struct pr_lru_active */
	PR_RECLAIM_BEGIN = 3, /* struct pr_reclaim_begin */
	PR_RECLAIM_END = 4,  /* struct pr_reclaim_end */
	PR_KSWAPD = 5,       /* struct pr_kswapd */
	PR_SLAB_START = 6,   /* struct pr_slab_start */
	PR_SLAB_END = 7,     /* struct pr_slab_end */
};

enum pr_probe {
	PR_PROBE_LRU_INACTIVE = 0,
	PR_PROBE_LRU_ACTIVE = 1,
	PR_PROBE_DIRECT_BEGIN = 2,
	PR_PROBE_DIRECT_END = 3,
	PR_PROBE_MEMCG_BEGIN = 4,
	PR_PROBE_MEMCG_END = 5,
	PR_PROBE_SOFTLIMIT_BEGIN = 6,
	PR_PROBE_SOFTLIMIT_END = 7,
	PR_PROBE_NODE_BEGIN = 8,
	PR_PROBE_NODE_END = 9,
	PR_PROBE_KSWAPD_WAKE = 10,
	PR_PROBE_KSWAPD_SLEEP = 11,
	PR_PROBE_WAKEUP_KSWAPD = 12,
	PR_PROBE_SLAB_START = 13,
	PR_PROBE_SLAB_END = 14,
};

/* Who is reclaiming: kswapd, or the kind of the reclaim the task is inside. */
enum pr_reclaimer {
	PR_RECLAIMER_OTHER = 0, /* e.g. MADV_PAGEOUT or khugepaged */
	PR_RECLAIMER_KSWAPD = 1,
	PR_RECLAIMER_DIRECT = 2,
	PR_RECLAIMER_MEMCG = 3,
	PR_RECLAIMER_MEMCG_SOFTLIMIT = 4,
	PR_RECLAIMER_NODE = 5,
};

enum pr_kswapd_event {
	PR_KSWAPD_WAKE = 0,   /* vmscan:mm_vmscan_kswapd_wake */
	PR_KSWAPD_SLEEP = 1,  /* vmscan:mm_vmscan_kswapd_sleep */
	PR_KSWAPD_WAKEUP = 2, /* vmscan:mm_vmscan_wakeup_kswapd, from the allocating task */
};

struct pr_lru_inactive {
	struct mt_hdr hdr;
	__s32 node;
	__s32 priority;
	__u32 reclaimer;
	__u32 file; /* 1: file LRU, 0: anon LRU */
	__u64 nr_scanned;
	__u64 nr_reclaimed;
	__u64 nr_dirty;
	__u64 nr_writeback;
	__u64 nr_congested;
	__u64 nr_immediate;
	__u64 nr_activate_anon;
	__u64 nr_activate_file;
	__u64 nr_ref_keep;
	__u64 nr_unmap_fail;
};

struct pr_lru_active {
	struct mt_hdr hdr;
	__s32 node;
	__s32 priority;
	__u32 reclaimer;
	__u32 file;
	__u64 nr_taken;
	__u64 nr_active;
	__u64 nr_deactivated;
	__u64 nr_referenced;
};

struct pr_reclaim_begin {
	struct mt_hdr hdr;
	__u32 reclaimer;
	__s32 order; /* -1 for node reclaim, which has no order */
	__u64 gfp_flags;
	__s32 node;  /* node reclaim only, else -1 */
	__u32 _pad;
};

struct pr_reclaim_end {
	struct mt_hdr hdr;
	__u32 reclaimer;
	__u32 _pad;
	__u64 nr_reclaimed;
	__u64 begin_ts_ns; /* 0 when the begin was not seen */
};

struct pr_kswapd {
	struct mt_hdr hdr;
	__u32 event;
	__s32 node;
	__s32 zone_idx; /* -1 for sleep */
	__s32 order;    /* -1 for sleep */
	__u64 gfp_flags; /* wakeup only */
};

struct pr_slab_start {
	struct mt_hdr hdr;
	__u64 shrinker;   /* struct shrinker address: pairs start and end */
	__u64 shrink_fn;  /* scan_objects callback address, symbolized by user space */
	__s32 node;
	__s32 priority;
	__s64 nr_objects_to_shrink;
	__u64 gfp_flags;
	__u64 cache_items;
	__u64 delta;
	__u64 total_scan;
};

struct pr_slab_end {
	struct mt_hdr hdr;
	__u64 shrinker;
	__u64 shrink_fn;
	__s32 node;
	__s32 retval; /* objects freed */
	__s64 unused_scan;
	__s64 new_scan;
	__s64 total_scan;
	__u64 begin_ts_ns; /* 0 when the start was not seen */
};

#endif
