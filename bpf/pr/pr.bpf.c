// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * pr: page reclaim. Raw vmscan tracepoints, each tagged with who reclaims so
 * kswapd, direct and memcg reclaim can be told apart offline. End records
 * carry the begin time seen on the same task, so pairing needs no guessing.
 */
#include "../common/runtime.h"
#include "pr.h"

/* Dummy instances so the skeleton also generates these enums. */
enum pr_kind _pr_kind = 0;
enum pr_probe _pr_probe = 0;
enum pr_reclaimer _pr_reclaimer = 0;
enum pr_kswapd_event _pr_kswapd_event = 0;

struct pr_lru_inactive _pr_lru_inactive = {};
struct pr_lru_active _pr_lru_active = {};
struct pr_reclaim_begin _pr_reclaim_begin = {};
struct pr_reclaim_end _pr_reclaim_end = {};
struct pr_kswapd _pr_kswapd = {};
struct pr_slab_start _pr_slab_start = {};
struct pr_slab_end _pr_slab_end = {};

#define MT_PF_KSWAPD 0x00020000 /* include/linux/sched.h, stable since 2.6 */

/*
 * What a task is inside of, in task-local storage: reached by a pointer
 * walk on every reclaim event, where a hash map keyed by thread id hashed,
 * locked and copied on each begin and end.
 */
struct pr_task_state {
	__u64 reclaim_begin_ts; /* 0: not in reclaim */
	__u64 slab_begin_ts;    /* 0: not in a shrinker (they do not nest on a task) */
	__u32 reclaimer;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pr_task_state);
} task_state SEC(".maps");

static __always_inline struct pr_task_state *task_state_get(bool create)
{
	return bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline __u32 current_reclaimer(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (t->flags & MT_PF_KSWAPD)
		return PR_RECLAIMER_KSWAPD;
	struct pr_task_state *st = task_state_get(false);

	return st && st->reclaim_begin_ts ? st->reclaimer : PR_RECLAIMER_OTHER;
}

SEC("tp/vmscan/mm_vmscan_lru_shrink_inactive")
int pr_lru_inactive(struct trace_event_raw_mm_vmscan_lru_shrink_inactive *ctx)
{
	if (!mt_current_selected())
		return 0;
	struct pr_lru_inactive *e = mt_reserve(PR_PROBE_LRU_INACTIVE, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_LRU_INACTIVE, PR_PROBE_LRU_INACTIVE);
	e->node = ctx->nid;
	e->priority = ctx->priority;
	e->reclaimer = current_reclaimer();
	/* RECLAIM_WB_FILE is 0x2 in include/trace/events/vmscan.h */
	e->file = (ctx->reclaim_flags & 0x2) ? 1 : 0;
	e->nr_scanned = ctx->nr_scanned;
	e->nr_reclaimed = ctx->nr_reclaimed;
	e->nr_dirty = ctx->nr_dirty;
	e->nr_writeback = ctx->nr_writeback;
	e->nr_congested = ctx->nr_congested;
	e->nr_immediate = ctx->nr_immediate;
	e->nr_activate_anon = ctx->nr_activate0;
	e->nr_activate_file = ctx->nr_activate1;
	e->nr_ref_keep = ctx->nr_ref_keep;
	e->nr_unmap_fail = ctx->nr_unmap_fail;
	mt_submit(e);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_lru_shrink_active")
int pr_lru_active(struct trace_event_raw_mm_vmscan_lru_shrink_active *ctx)
{
	if (!mt_current_selected())
		return 0;
	struct pr_lru_active *e = mt_reserve(PR_PROBE_LRU_ACTIVE, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_LRU_ACTIVE, PR_PROBE_LRU_ACTIVE);
	e->node = ctx->nid;
	e->priority = ctx->priority;
	e->reclaimer = current_reclaimer();
	e->file = (ctx->reclaim_flags & 0x2) ? 1 : 0;
	e->nr_taken = ctx->nr_taken;
	e->nr_active = ctx->nr_active;
	e->nr_deactivated = ctx->nr_deactivated;
	e->nr_referenced = ctx->nr_referenced;
	mt_submit(e);
	return 0;
}

static __always_inline int reclaim_begin(__u32 reclaimer, __u16 probe, __s32 order,
					 __u64 gfp, __s32 node)
{
	if (!mt_current_selected())
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	struct pr_task_state *st = task_state_get(true);

	if (st) {
		st->reclaim_begin_ts = now;
		st->reclaimer = reclaimer;
	}

	struct pr_reclaim_begin *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_RECLAIM_BEGIN, probe);
	e->hdr.ts_ns = now;
	e->reclaimer = reclaimer;
	e->order = order;
	e->gfp_flags = gfp;
	e->node = node;
	mt_submit(e);
	return 0;
}

static __always_inline int reclaim_end(__u32 reclaimer, __u16 probe, __u64 nr_reclaimed)
{
	struct pr_task_state *st = task_state_get(false);
	__u64 begin = 0;

	if (st) {
		if (st->reclaimer == reclaimer)
			begin = st->reclaim_begin_ts;
		st->reclaim_begin_ts = 0;
	}
	if (!mt_current_selected())
		return 0;

	struct pr_reclaim_end *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_RECLAIM_END, probe);
	e->reclaimer = reclaimer;
	e->nr_reclaimed = nr_reclaimed;
	e->begin_ts_ns = begin;
	mt_submit(e);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int pr_direct_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	return reclaim_begin(PR_RECLAIMER_DIRECT, PR_PROBE_DIRECT_BEGIN, ctx->order,
			     ctx->gfp_flags, -1);
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int pr_direct_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(PR_RECLAIMER_DIRECT, PR_PROBE_DIRECT_END, ctx->nr_reclaimed);
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int pr_memcg_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	return reclaim_begin(PR_RECLAIMER_MEMCG, PR_PROBE_MEMCG_BEGIN, ctx->order,
			     ctx->gfp_flags, -1);
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_end")
int pr_memcg_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(PR_RECLAIMER_MEMCG, PR_PROBE_MEMCG_END, ctx->nr_reclaimed);
}

SEC("tp/vmscan/mm_vmscan_memcg_softlimit_reclaim_begin")
int pr_softlimit_begin(struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template *ctx)
{
	return reclaim_begin(PR_RECLAIMER_MEMCG_SOFTLIMIT, PR_PROBE_SOFTLIMIT_BEGIN, ctx->order,
			     ctx->gfp_flags, -1);
}

SEC("tp/vmscan/mm_vmscan_memcg_softlimit_reclaim_end")
int pr_softlimit_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(PR_RECLAIMER_MEMCG_SOFTLIMIT, PR_PROBE_SOFTLIMIT_END,
			   ctx->nr_reclaimed);
}

SEC("tp/vmscan/mm_vmscan_node_reclaim_begin")
int pr_node_begin(struct trace_event_raw_mm_vmscan_node_reclaim_begin *ctx)
{
	return reclaim_begin(PR_RECLAIMER_NODE, PR_PROBE_NODE_BEGIN, ctx->order, ctx->gfp_flags,
			     ctx->nid);
}

SEC("tp/vmscan/mm_vmscan_node_reclaim_end")
int pr_node_end(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *ctx)
{
	return reclaim_end(PR_RECLAIMER_NODE, PR_PROBE_NODE_END, ctx->nr_reclaimed);
}

static __always_inline int kswapd_event(__u16 probe, __u32 event, __s32 node, __s32 zid,
					__s32 order, __u64 gfp)
{
	struct pr_kswapd *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_KSWAPD, probe);
	e->event = event;
	e->node = node;
	e->zone_idx = zid;
	e->order = order;
	e->gfp_flags = gfp;
	mt_submit(e);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_kswapd_wake")
int pr_kswapd_wake(struct trace_event_raw_mm_vmscan_kswapd_wake *ctx)
{
	return kswapd_event(PR_PROBE_KSWAPD_WAKE, PR_KSWAPD_WAKE, ctx->nid, ctx->zid, ctx->order, 0);
}

SEC("tp/vmscan/mm_vmscan_kswapd_sleep")
int pr_kswapd_sleep(struct trace_event_raw_mm_vmscan_kswapd_sleep *ctx)
{
	return kswapd_event(PR_PROBE_KSWAPD_SLEEP, PR_KSWAPD_SLEEP, ctx->nid, -1, -1, 0);
}

SEC("tp/vmscan/mm_vmscan_wakeup_kswapd")
int pr_wakeup_kswapd(struct trace_event_raw_mm_vmscan_wakeup_kswapd *ctx)
{
	if (!mt_current_selected())
		return 0;
	return kswapd_event(PR_PROBE_WAKEUP_KSWAPD, PR_KSWAPD_WAKEUP, ctx->nid, ctx->zid,
			    ctx->order, ctx->gfp_flags);
}

SEC("tp/vmscan/mm_shrink_slab_start")
int pr_slab_start(struct trace_event_raw_mm_shrink_slab_start *ctx)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct pr_task_state *st = task_state_get(true);

	if (st)
		st->slab_begin_ts = now;
	if (!mt_current_selected())
		return 0;
	struct pr_slab_start *e = mt_reserve(PR_PROBE_SLAB_START, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_SLAB_START, PR_PROBE_SLAB_START);
	e->hdr.ts_ns = now;
	e->shrinker = (__u64)ctx->shr;
	e->shrink_fn = (__u64)ctx->shrink;
	e->node = ctx->nid;
	e->priority = ctx->priority;
	e->nr_objects_to_shrink = ctx->nr_objects_to_shrink;
	e->gfp_flags = ctx->gfp_flags;
	e->cache_items = ctx->cache_items;
	e->delta = ctx->delta;
	e->total_scan = ctx->total_scan;
	mt_submit(e);
	return 0;
}

SEC("tp/vmscan/mm_shrink_slab_end")
int pr_slab_end(struct trace_event_raw_mm_shrink_slab_end *ctx)
{
	struct pr_task_state *st = task_state_get(false);
	__u64 begin_ts = st ? st->slab_begin_ts : 0;

	if (st)
		st->slab_begin_ts = 0;
	if (!mt_current_selected())
		return 0;
	struct pr_slab_end *e = mt_reserve(PR_PROBE_SLAB_END, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PR_SLAB_END, PR_PROBE_SLAB_END);
	e->shrinker = (__u64)ctx->shr;
	e->shrink_fn = (__u64)ctx->shrink;
	e->node = ctx->nid;
	e->retval = ctx->retval;
	e->unused_scan = ctx->unused_scan;
	e->new_scan = ctx->new_scan;
	e->total_scan = ctx->total_scan;
	e->begin_ts_ns = begin_ts;
	mt_submit(e);
	return 0;
}
