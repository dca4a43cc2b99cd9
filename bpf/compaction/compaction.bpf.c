// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * compaction: memory compaction runs (begin/end paired on the thread, with
 * the kernel's own scan totals), zone deferrals, kcompactd, migrate-type
 * fallbacks and page migrations. Direct compaction attempts are marked on
 * the thread so their rows can be grouped into the kernel's compact_stall,
 * compact_success and compact_fail events offline.
 */
#include "../common/runtime.h"
#include "compaction.h"

/* Dummy instances so the skeleton also generates these types. */
enum compaction_kind _compaction_kind = 0;
enum compaction_probe _compaction_probe = 0;
enum cmp_runner _cmp_runner = 0;
enum cmp_defer_event _cmp_defer_event = 0;
enum cmp_kcompactd_event _cmp_kcompactd_event = 0;

struct cmp_run _cmp_run = {};
struct cmp_defer _cmp_defer = {};
struct cmp_kcompactd _cmp_kcompactd = {};
struct cmp_extfrag _cmp_extfrag = {};
struct cmp_migrate _cmp_migrate = {};

/* include/linux/sched.h, stable since 2.6 */
#define MT_PF_MEMALLOC 0x00000800
#define MT_PF_KTHREAD 0x00200000

/* What a thread is inside of. */
struct cmp_task_state {
	__u64 attempt_ts; /* last try_to_compact_pages(); 0 once its result is known */
	__u64 run_begin_ts; /* 0: not inside compact_zone() */
	__u64 isolated_migrate;
	__u64 isolated_free;
	__u64 migrated;
	__u64 migrate_failed;
};

/*
 * Per thread, keyed by its id: an LRU hash is allocated when loaded, while
 * task-local storage allocates on first use, and compaction runs when
 * memory is short (seen: runs recorded without their begin, their
 * isolated pages lost, in a guest whose huge page pool took the rest).
 * A thread that died mid-run leaves an entry the LRU evicts.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct cmp_task_state);
} task_state SEC(".maps");

static __always_inline struct cmp_task_state *task_state_get(bool create)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct cmp_task_state *st = bpf_map_lookup_elem(&task_state, &tid);

	if (st || !create)
		return st;
	struct cmp_task_state zero = {};

	bpf_map_update_elem(&task_state, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&task_state, &tid);
}

static __always_inline __u32 current_flags(void)
{
	return bpf_get_current_task_btf()->flags;
}

/* Kernel threads (kcompactd) are recorded whatever the task filter says. */
static __always_inline bool selected(void)
{
	return (current_flags() & MT_PF_KTHREAD) || mt_current_selected();
}

/*
 * Inside try_to_compact_pages() the allocating task runs with PF_MEMALLOC
 * (__alloc_pages_direct_compact() sets it around the call, and a task that
 * already has it never compacts directly), so the flag tells the events
 * inside the attempt from the allocation's own reset right after it.
 */
static __always_inline bool in_attempt(struct cmp_task_state *st)
{
	return st && st->attempt_ts && (current_flags() & MT_PF_MEMALLOC);
}

SEC("tp/compaction/mm_compaction_try_to_compact_pages")
int cmp_try(struct trace_event_raw_mm_compaction_try_to_compact_pages *ctx)
{
	/* No record: paf records this tracepoint; here it only marks the thread. */
	struct cmp_task_state *st = task_state_get(true);

	if (st)
		st->attempt_ts = bpf_ktime_get_boot_ns();
	return 0;
}

SEC("tp_btf/mm_compaction_begin")
int BPF_PROG(cmp_begin, struct compact_control *cc, unsigned long zone_start,
	     unsigned long zone_end, bool sync)
{
	struct cmp_task_state *st = task_state_get(true);

	if (!st)
		return 0;
	st->run_begin_ts = bpf_ktime_get_boot_ns();
	st->isolated_migrate = 0;
	st->isolated_free = 0;
	st->migrated = 0;
	st->migrate_failed = 0;
	return 0;
}

static __always_inline void isolated(__u64 nr, bool migrate)
{
	struct cmp_task_state *st = task_state_get(false);

	if (!st || !st->run_begin_ts)
		return;
	if (migrate)
		st->isolated_migrate += nr;
	else
		st->isolated_free += nr;
}

SEC("tp/compaction/mm_compaction_isolate_migratepages")
int cmp_isolate_migrate(struct trace_event_raw_mm_compaction_isolate_template *ctx)
{
	isolated(ctx->nr_taken, true);
	return 0;
}

SEC("tp/compaction/mm_compaction_isolate_freepages")
int cmp_isolate_free(struct trace_event_raw_mm_compaction_isolate_template *ctx)
{
	isolated(ctx->nr_taken, false);
	return 0;
}

SEC("tp/compaction/mm_compaction_fast_isolate_freepages")
int cmp_fast_isolate_free(struct trace_event_raw_mm_compaction_isolate_template *ctx)
{
	isolated(ctx->nr_taken, false);
	return 0;
}

SEC("tp/compaction/mm_compaction_migratepages")
int cmp_migratepages(struct trace_event_raw_mm_compaction_migratepages *ctx)
{
	struct cmp_task_state *st = task_state_get(false);

	if (!st || !st->run_begin_ts)
		return 0;
	st->migrated += ctx->nr_migrated;
	st->migrate_failed += ctx->nr_failed;
	return 0;
}

/* The node and zone index of a zone pointer. */
static __always_inline void zone_ids(struct zone *z, __s32 *node, __s32 *idx)
{
	struct pglist_data *pgdat = BPF_CORE_READ(z, zone_pgdat);
	__u64 first = (__u64)pgdat + bpf_core_field_offset(struct pglist_data, node_zones);

	*node = BPF_CORE_READ(pgdat, node_id);
	*idx = ((__u64)z - first) / bpf_core_type_size(struct zone);
}

SEC("tp_btf/mm_compaction_end")
int BPF_PROG(cmp_end, struct compact_control *cc, unsigned long zone_start,
	     unsigned long zone_end, bool sync, int status)
{
	struct cmp_task_state *st = task_state_get(false);
	struct cmp_task_state s = {};

	if (st) {
		s = *st;
		st->run_begin_ts = 0;
	}
	if (!selected())
		return 0;
	struct cmp_run *e = mt_reserve(CMP_PROBE_END, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, CMP_RUN, CMP_PROBE_END);
	e->begin_ts_ns = s.run_begin_ts;
	e->zone_start = zone_start;
	e->zone_end = zone_end;
	e->migrate_pfn = BPF_CORE_READ(cc, migrate_pfn);
	e->free_pfn = BPF_CORE_READ(cc, free_pfn);
	e->migrate_scanned = BPF_CORE_READ(cc, total_migrate_scanned);
	e->free_scanned = BPF_CORE_READ(cc, total_free_scanned);
	e->isolated_migrate = s.isolated_migrate;
	e->isolated_free = s.isolated_free;
	e->migrated = s.migrated;
	e->migrate_failed = s.migrate_failed;
	e->gfp_flags = BPF_CORE_READ(cc, gfp_mask);
	zone_ids(BPF_CORE_READ(cc, zone), &e->node, &e->zone_idx);
	e->order = BPF_CORE_READ(cc, order);
	e->status = status;
	e->mode = BPF_CORE_READ(cc, mode);
	e->sync = sync;
	e->whole_zone = BPF_CORE_READ(cc, whole_zone);

	bool proactive = false;

	if (bpf_core_field_exists(cc->proactive_compaction))
		proactive = BPF_CORE_READ(cc, proactive_compaction);
	if (BPF_CORE_READ(cc, direct_compaction)) {
		e->runner = CMP_RUNNER_DIRECT;
		e->attempt_ts_ns = s.attempt_ts;
	} else if (proactive) {
		e->runner = CMP_RUNNER_PROACTIVE;
	} else if (e->order < 0) {
		e->runner = CMP_RUNNER_MANUAL;
	} else {
		e->runner = CMP_RUNNER_KCOMPACTD;
	}
	mt_submit(e);
	return 0;
}

static __always_inline int defer_event(struct trace_event_raw_mm_compaction_defer_template *ctx,
				       __u32 event, __u16 probe)
{
	struct cmp_task_state *st = task_state_get(false);
	__u64 attempt = 0;
	__u32 after = 0;

	if (in_attempt(st)) {
		attempt = st->attempt_ts;
	} else if (st && st->attempt_ts && event == CMP_DEFER_RESET) {
		/* __alloc_pages_direct_compact() got its page: the attempt is over. */
		attempt = st->attempt_ts;
		after = 1;
		st->attempt_ts = 0;
	}
	if (!selected())
		return 0;
	struct cmp_defer *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, CMP_DEFER, probe);
	e->attempt_ts_ns = attempt;
	e->after_return = after;
	e->event = event;
	e->node = ctx->nid;
	e->zone_idx = ctx->idx;
	e->order = ctx->order;
	e->considered = ctx->considered;
	e->defer_shift = ctx->defer_shift;
	e->order_failed = ctx->order_failed;
	mt_submit(e);
	return 0;
}

SEC("tp/compaction/mm_compaction_deferred")
int cmp_deferred(struct trace_event_raw_mm_compaction_defer_template *ctx)
{
	return defer_event(ctx, CMP_DEFERRED, CMP_PROBE_DEFERRED);
}

SEC("tp/compaction/mm_compaction_defer_compaction")
int cmp_defer_compaction(struct trace_event_raw_mm_compaction_defer_template *ctx)
{
	return defer_event(ctx, CMP_DEFER_COMPACTION, CMP_PROBE_DEFER_COMPACTION);
}

SEC("tp/compaction/mm_compaction_defer_reset")
int cmp_defer_reset(struct trace_event_raw_mm_compaction_defer_template *ctx)
{
	return defer_event(ctx, CMP_DEFER_RESET, CMP_PROBE_DEFER_RESET);
}

static __always_inline int kcompactd_event(__u16 probe, __u32 event, __s32 node, __s32 order,
					   __s32 zone)
{
	struct cmp_kcompactd *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, CMP_KCOMPACTD, probe);
	e->event = event;
	e->node = node;
	e->order = order;
	e->highest_zone_idx = zone;
	mt_submit(e);
	return 0;
}

SEC("tp/compaction/mm_compaction_kcompactd_wake")
int cmp_kcompactd_wake(struct trace_event_raw_kcompactd_wake_template *ctx)
{
	return kcompactd_event(CMP_PROBE_KCOMPACTD_WAKE, CMP_KCOMPACTD_WAKE, ctx->nid, ctx->order,
			       ctx->highest_zoneidx);
}

SEC("tp/compaction/mm_compaction_kcompactd_sleep")
int cmp_kcompactd_sleep(struct trace_event_raw_mm_compaction_kcompactd_sleep *ctx)
{
	return kcompactd_event(CMP_PROBE_KCOMPACTD_SLEEP, CMP_KCOMPACTD_SLEEP, ctx->nid, -1, -1);
}

SEC("tp/kmem/mm_page_alloc_extfrag")
int cmp_extfrag(struct trace_event_raw_mm_page_alloc_extfrag *ctx)
{
	if (!selected())
		return 0;
	struct cmp_extfrag *e = mt_reserve(CMP_PROBE_EXTFRAG, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, CMP_EXTFRAG, CMP_PROBE_EXTFRAG);
	e->pfn = ctx->pfn;
	e->alloc_order = ctx->alloc_order;
	e->fallback_order = ctx->fallback_order;
	e->alloc_migratetype = ctx->alloc_migratetype;
	e->fallback_migratetype = ctx->fallback_migratetype;
	e->change_ownership = ctx->change_ownership;
	mt_submit(e);
	return 0;
}

/* Older kernels' layout has no large_folio_split; CO-RE finds out which. */
struct trace_event_raw_mm_migrate_pages___mt {
	unsigned long large_folio_split;
} __attribute__((preserve_access_index));

SEC("tp/migrate/mm_migrate_pages")
int cmp_migrate_pages(struct trace_event_raw_mm_migrate_pages *ctx)
{
	if (!selected())
		return 0;
	struct cmp_migrate *e = mt_reserve(CMP_PROBE_MIGRATE_PAGES, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, CMP_MIGRATE, CMP_PROBE_MIGRATE_PAGES);
	e->succeeded = ctx->succeeded;
	e->failed = ctx->failed;
	e->thp_succeeded = ctx->thp_succeeded;
	e->thp_failed = ctx->thp_failed;
	e->thp_split = ctx->thp_split;
	struct trace_event_raw_mm_migrate_pages___mt *n = (void *)ctx;

	e->large_folio_split = bpf_core_field_exists(n->large_folio_split)
				       ? BPF_CORE_READ(n, large_folio_split)
				       : ~0ULL;
	e->mode = ctx->mode;
	e->reason = ctx->reason;
	mt_submit(e);
	return 0;
}
