/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Node and zone snapshots, read straight from the kernel's counters
 * (pglist_data->vm_stat and zone->vm_stat), the same atomics that
 * /proc/vmstat and /proc/zoneinfo print.
 */
#ifndef MT_SNAPSHOT_H
#define MT_SNAPSHOT_H

#include "runtime.h"

/* Last snapshot time per node, for rate limiting pressure-triggered ones. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} snap_last SEC(".maps");

/*
 * pglist_data of a node. NODE_DATA() is a kernel global that BPF cannot name
 * without CONFIG_KALLSYMS_ALL, so take it from the current task's memory
 * cgroup, whose per-node lruvec points back at its node.
 */
static __always_inline struct pglist_data *mt_node_pgdat(__u32 nid)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct cgroup_subsys_state *css = NULL;
	struct mem_cgroup_per_node *pn = NULL;
	struct mem_cgroup *memcg;

	__u32 sid = cfg.memory_subsys_id & 15;

	bpf_core_read(&css, sizeof(css), &t->cgroups->subsys[sid]);
	if (!css)
		return NULL;
	memcg = container_of(css, struct mem_cgroup, css);
	__u32 idx = nid & 63;

	bpf_core_read(&pn, sizeof(pn), &memcg->nodeinfo[idx]);
	if (!pn)
		return NULL;
	return BPF_CORE_READ(pn, lruvec.pgdat);
}

static __always_inline __u64 mt_node_stat(struct pglist_data *pgdat, int item)
{
	long v = 0;

	if (item < 0)
		return ~0ULL;
	bpf_core_read(&v, sizeof(v), &pgdat->vm_stat[item & 63]);
	/* The kernel prints negative transient values as 0. */
	return v < 0 ? 0 : v;
}

static __always_inline __u64 mt_zone_stat(struct zone *z, int item)
{
	long v = 0;

	bpf_core_read(&v, sizeof(v), &z->vm_stat[item & 15]);
	return v < 0 ? 0 : v;
}

/*
 * Flavors for what this vmlinux.h lacks but other kernels have: CO-RE matches
 * them by name with the ___mt suffix stripped.
 */
enum node_stat_item___mt {
	NR_WRITEBACK_TEMP___mt = 0,
};

struct zone___mt {
	unsigned long cma_pages;
} __attribute__((preserve_access_index));

/*
 * Free blocks per buddy order. struct free_area's size (one list per
 * migrate type) and the number of orders (MAX_ORDER, later NR_PAGE_ORDERS)
 * differ between kernels and configs: both come from the kernel's BTF.
 */
static __always_inline void mt_fill_orders(struct mt_zone *o, struct zone *z)
{
	__u32 area_size = bpf_core_type_size(struct free_area);
	__u32 orders = bpf_core_field_size(z->free_area) / area_size;
	__u64 base = (__u64)z + bpf_core_field_offset(struct zone, free_area) +
		     bpf_core_field_offset(struct free_area, nr_free);

	o->nr_orders = orders;
	for (int j = 0; j < MT_MAX_ORDERS; j++) {
		if (j >= orders)
			break;
		bpf_core_read(&o->nr_free[j], sizeof(o->nr_free[j]), (void *)(base + j * area_size));
	}
}

#define NODE_ITEM(name) \
	(bpf_core_enum_value_exists(enum node_stat_item, name) ? \
		 (int)bpf_core_enum_value(enum node_stat_item, name) : -1)

static __always_inline void mt_fill_node(struct mt_snapshot *s, struct pglist_data *pgdat)
{
	struct mt_node_stats *n = &s->stats;
	int nr_zones = bpf_core_enum_value(enum zone_type, __MAX_NR_ZONES);

	n->nr_active_anon = mt_node_stat(pgdat, NODE_ITEM(NR_ACTIVE_ANON));
	n->nr_inactive_anon = mt_node_stat(pgdat, NODE_ITEM(NR_INACTIVE_ANON));
	n->nr_active_file = mt_node_stat(pgdat, NODE_ITEM(NR_ACTIVE_FILE));
	n->nr_inactive_file = mt_node_stat(pgdat, NODE_ITEM(NR_INACTIVE_FILE));
	n->nr_unevictable = mt_node_stat(pgdat, NODE_ITEM(NR_UNEVICTABLE));
	n->nr_dirty = mt_node_stat(pgdat, NODE_ITEM(NR_FILE_DIRTY));
	n->nr_writeback = mt_node_stat(pgdat, NODE_ITEM(NR_WRITEBACK));
	n->nr_writeback_temp = mt_node_stat(
		pgdat, bpf_core_enum_value_exists(enum node_stat_item___mt, NR_WRITEBACK_TEMP___mt)
			       ? (int)bpf_core_enum_value(enum node_stat_item___mt,
							  NR_WRITEBACK_TEMP___mt)
			       : -1);
	n->nr_anon_pages = mt_node_stat(pgdat, NODE_ITEM(NR_ANON_MAPPED));
	n->nr_mapped = mt_node_stat(pgdat, NODE_ITEM(NR_FILE_MAPPED));
	n->nr_file_pages = mt_node_stat(pgdat, NODE_ITEM(NR_FILE_PAGES));
	n->nr_shmem = mt_node_stat(pgdat, NODE_ITEM(NR_SHMEM));
	n->nr_kernel_misc_reclaimable = mt_node_stat(pgdat, NODE_ITEM(NR_KERNEL_MISC_RECLAIMABLE));
	n->nr_slab_reclaimable = mt_node_stat(pgdat, NODE_ITEM(NR_SLAB_RECLAIMABLE_B));
	n->nr_slab_unreclaimable = mt_node_stat(pgdat, NODE_ITEM(NR_SLAB_UNRECLAIMABLE_B));
	n->nr_anon_thp_pages = mt_node_stat(pgdat, NODE_ITEM(NR_ANON_THPS));
	n->nr_shmem_thp_pages = mt_node_stat(pgdat, NODE_ITEM(NR_SHMEM_THPS));

	int free_item = bpf_core_enum_value(enum zone_stat_item, NR_FREE_PAGES);
	int cma_item = bpf_core_enum_value(enum zone_stat_item, NR_FREE_CMA_PAGES);
	__u64 node_free = 0;
	__u32 used = 0;

	for (int i = 0; i < MT_MAX_ZONES; i++) {
		if (i >= nr_zones)
			break;
		/* The kernel's sizeof(struct zone), not this header's: it differs. */
		struct zone *z = (void *)&pgdat->node_zones[0] + i * bpf_core_type_size(struct zone);
		struct mt_zone *o = &s->zones[i];

		o->free = mt_zone_stat(z, free_item);
		o->free_cma = mt_zone_stat(z, cma_item);
		o->wmark_min = BPF_CORE_READ(z, _watermark[WMARK_MIN]);
		o->wmark_low = BPF_CORE_READ(z, _watermark[WMARK_LOW]);
		o->wmark_high = BPF_CORE_READ(z, _watermark[WMARK_HIGH]);
		if (bpf_core_enum_value_exists(enum zone_watermarks, WMARK_PROMO))
			o->wmark_promo = BPF_CORE_READ(z, _watermark[bpf_core_enum_value(
				enum zone_watermarks, WMARK_PROMO) & 3]);
		o->boost = BPF_CORE_READ(z, watermark_boost);
		o->spanned = BPF_CORE_READ(z, spanned_pages);
		o->present = BPF_CORE_READ(z, present_pages);
		o->managed = BPF_CORE_READ(z, managed_pages.counter);
		struct zone___mt *zc = (void *)z;

		if (bpf_core_field_exists(zc->cma_pages))
			o->cma = BPF_CORE_READ(zc, cma_pages);
		o->reserved_highatomic = BPF_CORE_READ(z, nr_reserved_highatomic);
		for (int j = 0; j < MT_MAX_ZONES; j++) {
			if (j >= nr_zones)
				break;
			o->lowmem_reserve[j] = BPF_CORE_READ(z, lowmem_reserve[j]);
		}
		mt_fill_orders(o, z);
		node_free += o->free;
		used = i + 1;
	}
	s->nr_zones = used;
	n->nr_free_pages = node_free;
}

/*
 * Emit one snapshot per online node, stamped `ts` (the event that caused
 * them, so they join it exactly) or now when `ts` is 0. `min_gap_ns`
 * rate-limits snapshots taken at pressure events; 0 always emits.
 */
static __always_inline void mt_emit_snapshots(__u16 kind, __u16 probe, __u32 trigger,
					      __u64 min_gap_ns, __u64 ts)
{
	__u64 now = bpf_ktime_get_boot_ns();

	for (int i = 0; i < 64; i++) {
		if (i >= cfg.nr_nodes)
			break;
		__u32 nid = cfg.node_ids[i];
		__u32 slot = nid & 63;

		if (min_gap_ns) {
			__u64 *last = bpf_map_lookup_elem(&snap_last, &slot);

			if (!last)
				continue;
			if (now - *last < min_gap_ns)
				continue;
			*last = now;
		}
		struct pglist_data *pgdat = mt_node_pgdat(nid);

		if (!pgdat)
			continue;
		struct mt_snapshot *s = mt_reserve(probe, sizeof(*s));

		if (!s)
			continue;
		mt_fill_hdr(&s->hdr, kind, probe);
		if (ts)
			s->hdr.ts_ns = ts;
		s->node = nid;
		s->trigger = trigger;
		mt_fill_node(s, pgdat);
		mt_submit(s);
	}
}

#endif
