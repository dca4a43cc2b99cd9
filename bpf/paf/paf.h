/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_PAF_H
#define MT_PAF_H

#include "../common/event.h"

enum paf_kind {
	PAF_FAILURE = 1,       /* struct paf_failure */
	PAF_SNAPSHOT = 2,      /* struct mt_snapshot, trigger ALLOC_FAIL */
	PAF_RETRY_ZONE = 3,    /* struct paf_retry_zone */
	PAF_COMPACT_SUITABLE = 4, /* struct paf_compact_suitable */
	PAF_COMPACT_TRY = 5,   /* struct paf_compact_try */
	PAF_WMARK_SETUP = 6,   /* struct paf_wmark_setup */
};

enum paf_probe {
	PAF_PROBE_PAGE_ALLOC = 0,
	PAF_PROBE_RETRY_ZONE = 1,
	PAF_PROBE_COMPACT_SUITABLE = 2,
	PAF_PROBE_COMPACT_TRY = 3,
	PAF_PROBE_WMARK_SETUP = 4,
};

/* kmem:mm_page_alloc that returned no page. */
struct paf_failure {
	struct mt_hdr hdr;
	__u64 gfp_flags;
	__u32 order;
	__s32 migratetype;
	__u32 node; /* NUMA node of the CPU that asked */
	__u32 _pad;
};

/* oom:reclaim_retry_zone: should_reclaim_retry()'s verdict for one zone. */
struct paf_retry_zone {
	struct mt_hdr hdr;
	__s32 node;
	__s32 zone_idx;
	__s32 order;
	__s32 no_progress_loops;
	__u64 reclaimable;
	__u64 available;
	__u64 min_wmark;
	__u32 wmark_check;
	__u32 _pad;
};

/* compaction:mm_compaction_suitable */
struct paf_compact_suitable {
	struct mt_hdr hdr;
	__s32 node;
	__u32 zone_idx;
	__s32 order;
	__s32 ret;
};

/* compaction:mm_compaction_try_to_compact_pages */
struct paf_compact_try {
	struct mt_hdr hdr;
	__u64 gfp_flags;
	__s32 order;
	__s32 prio;
};

/* kmem:mm_setup_per_zone_wmarks: a zone's watermarks were recomputed. */
struct paf_wmark_setup {
	struct mt_hdr hdr;
	__s32 node;
	__u32 _pad;
	char zone[16];
	__u64 wmark_min;
	__u64 wmark_low;
	__u64 wmark_high;
	__u64 wmark_promo;
};

#endif
