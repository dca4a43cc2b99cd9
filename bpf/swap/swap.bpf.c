// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * swap: pages read back from swap and written out to it.
 *
 * Swap-in has no tracepoint: it is a major fault (the page-faults-maj
 * software perf event, fired where the kernel accounts the fault) on an
 * anonymous or shmem VMA. Swap-out is vmscan's write of an anonymous
 * (swap-backed) folio: mm_vmscan_write_folio, mm_vmscan_writepage before
 * 6.2.
 */
#include "../common/runtime.h"
#include "swap.h"
#include "../common/vma.h"

/* Dummy instances so the skeleton also generates these types. */
enum swap_kind _swap_kind = 0;
enum swap_probe _swap_probe = 0;
enum swap_vma _swap_vma = 0;
struct swap_in _swap_in = {};
struct swap_out _swap_out = {};

/* Low bits of folio->memcg_data that are flags (MEMCG_DATA_OBJEXTS, _KMEM). */
#define MT_MEMCG_DATA_FLAGS 3UL

static long vma_kind(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	__u32 *kind = data;
	unsigned long fl = vma->vm_flags;
	struct file *f = vma->vm_file;

	if (fl & (MT_VM_HUGETLB | MT_VM_IO | MT_VM_PFNMAP)) {
		*kind = 0;
	} else if (f) {
		*kind = f->f_inode->i_sb->s_magic == MT_TMPFS_MAGIC ? SWAP_VMA_SHMEM : 0;
	} else if (fl & MT_VM_GROWSDOWN) {
		*kind = SWAP_VMA_STACK;
	} else {
		struct mm_struct *mm = vma->vm_mm;

		*kind = vma->vm_start <= mm->brk && vma->vm_end > mm->start_brk ? SWAP_VMA_HEAP
										 : SWAP_VMA_ANON;
	}
	return 0;
}

SEC("perf_event")
int swap_in(struct bpf_perf_event_data *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 addr = ctx->addr;
	struct swap_in *e;
	__u32 kind = 0;

	if (!mt_live() || !mt_current_selected())
		return 0;
	/* Major faults are rare: the VMA look-up's cost does not matter. */
	if (bpf_find_vma(t, addr, vma_kind, &kind, 0) || !kind)
		return 0;
	e = mt_reserve(SWAP_PROBE_IN, sizeof(*e));
	if (!e)
		return 0;
	mt_fill_hdr_task(&e->hdr, SWAP_IN, SWAP_PROBE_IN, t);
	e->address = addr;
	e->vma = kind;
	e->_pad = 0;
	mt_submit(e);
	return 0;
}

/* 6.1-6.5 keep a large folio's order in its own field. */
struct folio___old {
	unsigned long flags;
	unsigned char _folio_order;
} __attribute__((preserve_access_index));

static __always_inline void write_out(struct folio *folio, __u32 probe)
{
	unsigned long flags = 0;
	struct swap_out *e;
	__u64 pages = 1;
	unsigned long memcg_data;

	/*
	 * An unsigned long, wrapped in a struct (memdesc_flags_t) since 6.17:
	 * each kernel is read through the layout it has, or the relocation of
	 * the other fails the load.
	 */
	if (bpf_core_type_exists(memdesc_flags_t))
		bpf_core_read(&flags, sizeof(flags), &folio->flags);
	else
		bpf_core_read(&flags, sizeof(flags), &((struct folio___old *)folio)->flags);
	/* Swap-backed is anonymous (and shmem): what goes to swap. */
	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_swapbacked))))
		return;
	if (!mt_current_selected())
		return;
	e = mt_reserve(probe, sizeof(*e));
	if (!e)
		return;
	mt_fill_hdr(&e->hdr, SWAP_OUT, probe);
	if (flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))) {
		struct folio___old *old = (void *)folio;

		if (bpf_core_field_exists(old->_folio_order))
			pages = 1UL << BPF_CORE_READ(old, _folio_order);
		else if (bpf_core_field_exists(folio->_flags_1))
			pages = 1UL << (BPF_CORE_READ(folio, _flags_1) & 0xff);
	}
	e->pages = pages;
	e->owner_cgroup_id = 0;
	memcg_data = BPF_CORE_READ(folio, memcg_data);
	if (memcg_data && !(memcg_data & 2UL)) {
		struct mem_cgroup *memcg = (void *)(memcg_data & ~MT_MEMCG_DATA_FLAGS);

		e->owner_cgroup_id = BPF_CORE_READ(memcg, css.cgroup, kn, id);
	}
	mt_submit(e);
}

SEC("tp_btf/mm_vmscan_write_folio")
int BPF_PROG(swap_out, struct folio *folio)
{
	write_out(folio, SWAP_PROBE_OUT);
	return 0;
}

SEC("tp_btf/mm_vmscan_writepage")
int BPF_PROG(swap_out_page, struct page *page)
{
	/* pageout() passes the folio's head page. */
	write_out((struct folio *)page, SWAP_PROBE_OUT_PAGE);
	return 0;
}
