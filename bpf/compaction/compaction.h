/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_COMPACTION_H
#define MT_COMPACTION_H

#include "../common/event.h"

enum compaction_kind {
	CMP_RUN = 1,       /* struct cmp_run */
	CMP_DEFER = 2,     /* struct cmp_defer */
	CMP_KCOMPACTD = 3, /* struct cmp_kcompactd */
	CMP_EXTFRAG = 4,   /* struct cmp_extfrag */
	CMP_MIGRATE = 5,   /* struct cmp_migrate */
};

enum compaction_probe {
	CMP_PROBE_BEGIN = 0,
	CMP_PROBE_END = 1,
	CMP_PROBE_TRY = 2,
	CMP_PROBE_ISOLATE_MIGRATE = 3,
	CMP_PROBE_ISOLATE_FREE = 4,
	CMP_PROBE_FAST_ISOLATE_FREE = 5,
	CMP_PROBE_MIGRATEPAGES = 6,
	CMP_PROBE_DEFERRED = 7,
	CMP_PROBE_DEFER_COMPACTION = 8,
	CMP_PROBE_DEFER_RESET = 9,
	CMP_PROBE_KCOMPACTD_WAKE = 10,
	CMP_PROBE_KCOMPACTD_SLEEP = 11,
	CMP_PROBE_EXTFRAG = 12,
	CMP_PROBE_MIGRATE_PAGES = 13,
};

/* Who ran a compaction (from struct compact_control). */
enum cmp_runner {
	CMP_RUNNER_DIRECT = 0,    /* an allocating task: try_to_compact_pages() */
	CMP_RUNNER_KCOMPACTD = 1, /* kcompactd, woken for an order */
	CMP_RUNNER_PROACTIVE = 2, /* kcompactd's proactive compaction */
	CMP_RUNNER_MANUAL = 3,    /* vm.compact_memory or a node's compact file */
};

enum cmp_defer_event {
	CMP_DEFERRED = 0,         /* compaction:mm_compaction_deferred: a zone skipped */
	CMP_DEFER_COMPACTION = 1, /* compaction:mm_compaction_defer_compaction */
	CMP_DEFER_RESET = 2,      /* compaction:mm_compaction_defer_reset */
};

enum cmp_kcompactd_event {
	CMP_KCOMPACTD_WAKE = 0,
	CMP_KCOMPACTD_SLEEP = 1,
};

/*
 * One compact_zone() run: mm_compaction_begin to mm_compaction_end on one
 * thread. Scanned counts are the kernel's own totals (what it adds to
 * compact_migrate_scanned / compact_free_scanned at the end); isolated and
 * migrated are summed from the isolate and migratepages tracepoints fired
 * between begin and end on the same thread.
 */
struct cmp_run {
	struct mt_hdr hdr;
	__u64 begin_ts_ns;   /* 0 when the begin was not seen */
	__u64 attempt_ts_ns; /* direct: the try_to_compact_pages time on this thread, else 0 */
	__u64 zone_start;
	__u64 zone_end;
	__u64 migrate_pfn;
	__u64 free_pfn;
	__u64 migrate_scanned;
	__u64 free_scanned;
	__u64 isolated_migrate;
	__u64 isolated_free;
	__u64 migrated;
	__u64 migrate_failed;
	__u64 gfp_flags;
	__s32 node;
	__s32 zone_idx;
	__s32 order; /* -1: the whole zone (manual and proactive) */
	__s32 status;
	__u32 runner;
	__u32 mode; /* the kernel's enum migrate_mode value */
	__u32 sync;
	__u32 whole_zone;
};

/* A zone's deferral state changed or was consulted. */
struct cmp_defer {
	struct mt_hdr hdr;
	__u64 attempt_ts_ns; /* inside or right after a direct compaction on this thread, else 0 */
	__u32 event;
	__s32 node;
	__s32 zone_idx;
	__s32 order;
	__u32 considered;
	__u32 defer_shift;
	__s32 order_failed;
	/* 1: a reset after try_to_compact_pages() returned: the allocation got its page */
	__u32 after_return;
};

struct cmp_kcompactd {
	struct mt_hdr hdr;
	__u32 event;
	__s32 node;
	__s32 order;            /* -1 for sleep */
	__s32 highest_zone_idx; /* -1 for sleep */
};

/* kmem:mm_page_alloc_extfrag: an allocation fell back to another migrate type. */
struct cmp_extfrag {
	struct mt_hdr hdr;
	__u64 pfn;
	__s32 alloc_order;
	__s32 fallback_order;
	__s32 alloc_migratetype;
	__s32 fallback_migratetype;
	__s32 change_ownership;
	__u32 _pad;
};

/* migrate:mm_migrate_pages: one migrate_pages() call, any reason. */
struct cmp_migrate {
	struct mt_hdr hdr;
	__u64 succeeded;
	__u64 failed;
	__u64 thp_succeeded;
	__u64 thp_failed;
	__u64 thp_split;
	__u64 large_folio_split; /* ~0 where the tracepoint lacks it */
	__s32 mode;
	__s32 reason;
};

#endif
