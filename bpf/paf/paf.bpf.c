// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * paf: page-allocation failures, with every node's zones at that moment, and
 * the slow-path events that explain them.
 */
#include "../common/runtime.h"
#include "../common/snapshot.h"
#include "paf.h"

/* Dummy instances so the skeleton also generates these enums. */
enum paf_kind _paf_kind = 0;
enum paf_probe _paf_probe = 0;

struct paf_failure _paf_failure = {};
struct paf_retry_zone _paf_retry_zone = {};
struct paf_compact_suitable _paf_compact_suitable = {};
struct paf_compact_try _paf_compact_try = {};
struct paf_wmark_setup _paf_wmark_setup = {};

/* tp_btf: this fires for every page allocation, so keep the miss path short. */
SEC("tp_btf/mm_page_alloc")
int BPF_PROG(paf_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype)
{
	if (page)
		return 0;
	if (!mt_current_selected())
		return 0;

	struct paf_failure *e = mt_reserve(PAF_PROBE_PAGE_ALLOC, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PAF_FAILURE, PAF_PROBE_PAGE_ALLOC);
	e->gfp_flags = gfp_flags;
	e->order = order;
	e->migratetype = migratetype;
	e->node = bpf_get_numa_node_id();
	__u64 ts = e->hdr.ts_ns;

	mt_submit(e);
	mt_emit_snapshots(PAF_SNAPSHOT, PAF_PROBE_PAGE_ALLOC, MT_TRIGGER_ALLOC_FAIL, 0, ts);
	return 0;
}

SEC("tp/oom/reclaim_retry_zone")
int paf_retry_zone(struct trace_event_raw_reclaim_retry_zone *ctx)
{
	if (!mt_current_selected())
		return 0;
	struct paf_retry_zone *e = mt_reserve(PAF_PROBE_RETRY_ZONE, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PAF_RETRY_ZONE, PAF_PROBE_RETRY_ZONE);
	e->node = BPF_CORE_READ(ctx, node);
	e->zone_idx = BPF_CORE_READ(ctx, zone_idx);
	e->order = BPF_CORE_READ(ctx, order);
	e->no_progress_loops = BPF_CORE_READ(ctx, no_progress_loops);
	e->reclaimable = BPF_CORE_READ(ctx, reclaimable);
	e->available = BPF_CORE_READ(ctx, available);
	e->min_wmark = BPF_CORE_READ(ctx, min_wmark);
	e->wmark_check = BPF_CORE_READ(ctx, wmark_check);
	mt_submit(e);
	return 0;
}

SEC("tp/compaction/mm_compaction_suitable")
int paf_compact_suitable(struct trace_event_raw_mm_compaction_suitable_template *ctx)
{
	if (!mt_current_selected())
		return 0;
	struct paf_compact_suitable *e = mt_reserve(PAF_PROBE_COMPACT_SUITABLE, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PAF_COMPACT_SUITABLE, PAF_PROBE_COMPACT_SUITABLE);
	e->node = BPF_CORE_READ(ctx, nid);
	e->zone_idx = BPF_CORE_READ(ctx, idx);
	e->order = BPF_CORE_READ(ctx, order);
	e->ret = BPF_CORE_READ(ctx, ret);
	mt_submit(e);
	return 0;
}

SEC("tp/compaction/mm_compaction_try_to_compact_pages")
int paf_compact_try(struct trace_event_raw_mm_compaction_try_to_compact_pages *ctx)
{
	if (!mt_current_selected())
		return 0;
	struct paf_compact_try *e = mt_reserve(PAF_PROBE_COMPACT_TRY, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PAF_COMPACT_TRY, PAF_PROBE_COMPACT_TRY);
	e->gfp_flags = BPF_CORE_READ(ctx, gfp_mask);
	e->order = BPF_CORE_READ(ctx, order);
	e->prio = BPF_CORE_READ(ctx, prio);
	mt_submit(e);
	return 0;
}

SEC("tp/kmem/mm_setup_per_zone_wmarks")
int paf_wmark_setup(struct trace_event_raw_mm_setup_per_zone_wmarks *ctx)
{
	struct paf_wmark_setup *e = mt_reserve(PAF_PROBE_WMARK_SETUP, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, PAF_WMARK_SETUP, PAF_PROBE_WMARK_SETUP);
	e->node = BPF_CORE_READ(ctx, node_id);
	/* __data_loc: low 16 bits are the offset of the string in the record. */
	__u32 loc = BPF_CORE_READ(ctx, __data_loc_name);
	bpf_probe_read_kernel_str(e->zone, sizeof(e->zone), (void *)((__u64)ctx + (loc & 0xffff)));
	e->wmark_min = BPF_CORE_READ(ctx, watermark_min);
	e->wmark_low = BPF_CORE_READ(ctx, watermark_low);
	e->wmark_high = BPF_CORE_READ(ctx, watermark_high);
	if (bpf_core_field_exists(ctx->watermark_promo))
		e->wmark_promo = BPF_CORE_READ(ctx, watermark_promo);
	mt_submit(e);
	return 0;
}
