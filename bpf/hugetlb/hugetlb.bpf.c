// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hugetlb: faults in hugetlb VMAs and the huge page pools.
 *
 * There is no hugetlb fault tracepoint. A fault is the page-fault software
 * perf events (minor and major, fired in mm_account_fault() after the
 * fault completed) in a VMA with VM_HUGETLB; its huge page size and pool
 * come from the VMA's file, which is always on hugetlbfs (MAP_HUGETLB and
 * SHM_HUGETLB use the kernel's internal mounts). Every other fault returns
 * on one load: a task whose mm maps no hugetlb page (mm->hugetlb_usage,
 * already counting the page a hugetlb fault just mapped) cannot have taken
 * one (about 70 ns per fault with BPF stats, on 6.18). In a process with
 * hugetlb pages each fault's VMA is cached per task (about 120 ns; a
 * look-up costs 3 us).
 *
 * There is no pool tracepoint either, and the pools (the global hstates[])
 * cannot be named without kernel data symbols. memrec holds one empty
 * hugetlbfs memfd per huge page size (no page, no reservation); the
 * snapshot program, run by memrec itself, finds each memfd's hstate
 * through memrec's own file table and writes its counters.
 */
#include "../common/runtime.h"
#include "hugetlb.h"
#include "../common/vma.h"

/* Dummy instances so the skeleton also generates these types. */
enum hugetlb_kind _hugetlb_kind = 0;
enum hugetlb_probe _hugetlb_probe = 0;
struct hugetlb_fault _hugetlb_fault = {};
struct hugetlb_pool _hugetlb_pool = {};

/* include/uapi/linux/magic.h */
#define MT_HUGETLBFS_MAGIC 0x958458f6

/*
 * memrec's hugetlbfs memfds, one per huge page size: the descriptor plus
 * one (0: none). Written by user space after load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HUGETLB_MAX_HSTATES);
	__type(key, __u32);
	__type(value, __u32);
} hstate_files SEC(".maps");

/* The pool of a hugetlbfs superblock; NULL when it is not hugetlbfs. */
static __always_inline struct hstate *sb_hstate(struct super_block *sb)
{
	struct hugetlbfs_sb_info *sbi;

	if (!sb || BPF_CORE_READ(sb, s_magic) != MT_HUGETLBFS_MAGIC)
		return NULL;
	sbi = (struct hugetlbfs_sb_info *)BPF_CORE_READ(sb, s_fs_info);
	return sbi ? BPF_CORE_READ(sbi, hstate) : NULL;
}

static __always_inline void read_counts(struct hstate *h, struct hugetlb_counts *c)
{
	c->total = BPF_CORE_READ(h, nr_huge_pages);
	c->free = BPF_CORE_READ(h, free_huge_pages);
	c->reserved = BPF_CORE_READ(h, resv_huge_pages);
	c->surplus = BPF_CORE_READ(h, surplus_huge_pages);
	c->overcommit = BPF_CORE_READ(h, nr_overcommit_huge_pages);
	c->order = BPF_CORE_READ(h, order);
}

struct fault_vma {
	__u64 start;
	__u64 end;
	struct hstate *hstate; /* NULL: not a hugetlb VMA */
	__u32 shared;
	__u32 _pad;
};

/*
 * Per task: the VMA of its last fault, valid while its mm's VMAs are
 * unchanged. A process with hugetlb pages takes its other faults here too,
 * and bpf_find_vma() costs microseconds (it drops the mmap lock through an
 * irq_work); a storm of faults mostly hits one VMA.
 */
struct task_cache {
	__u64 mm;
	__u32 seq;
	__u32 valid;
	struct fault_vma vma;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_cache);
} task_cache SEC(".maps");

static long vma_hstate(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct fault_vma *v = data;
	unsigned long fl = vma->vm_flags;
	struct file *f = vma->vm_file;

	v->start = vma->vm_start;
	v->end = vma->vm_end;
	if (!(fl & MT_VM_HUGETLB) || !f)
		return 0;
	v->hstate = sb_hstate(BPF_CORE_READ(f, f_inode, i_sb));
	v->shared = !!(fl & MT_VM_SHARED);
	return 0;
}

static __always_inline int on_fault(struct bpf_perf_event_data *ctx, __u32 probe, __u32 major)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = t->mm;
	struct fault_vma v = {};
	struct task_cache *s;
	struct hugetlb_fault *e;
	__u64 addr = ctx->addr;
	__u32 seq = 0;
	bool have_seq;

	/* Without hugetlb support there are no hugetlb VMAs. */
	if (!bpf_core_field_exists(mm->hugetlb_usage))
		return 0;
	if (!mm || !mm->hugetlb_usage.counter)
		return 0;
	if (!mt_live() || !mt_current_selected())
		return 0;
	s = bpf_task_storage_get(&task_cache, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	have_seq = mm_vma_seq(mm, &seq);
	if (s && have_seq && s->valid && s->mm == (__u64)mm && s->seq == seq &&
	    addr >= s->vma.start && addr < s->vma.end) {
		__builtin_memcpy(&v, &s->vma, sizeof(v));
	} else {
		long err = bpf_find_vma(t, addr, vma_hstate, &v, 0);

		if (s) {
			s->valid = 0;
			if (have_seq && !err) {
				s->mm = (__u64)mm;
				s->seq = seq;
				__builtin_memcpy(&s->vma, &v, sizeof(v));
				s->valid = 1;
			}
		}
	}
	if (!v.hstate)
		return 0;
	e = mt_reserve(probe, sizeof(*e));
	if (!e)
		return 0;
	mt_fill_hdr_task(&e->hdr, HUGETLB_FAULT, probe, t);
	e->address = addr;
	e->major = major;
	e->shared = v.shared;
	read_counts(v.hstate, &e->pool);
	mt_submit(e);
	return 0;
}

SEC("perf_event")
int hugetlb_fault_min(struct bpf_perf_event_data *ctx)
{
	return on_fault(ctx, HUGETLB_PROBE_FAULT_MIN, 0);
}

SEC("perf_event")
int hugetlb_fault_maj(struct bpf_perf_event_data *ctx)
{
	return on_fault(ctx, HUGETLB_PROBE_FAULT_MAJ, 1);
}

/*
 * Run by memrec through BPF_PROG_TEST_RUN, so in memrec's own task:
 * args[0] is the trigger. One record per huge page size.
 */
SEC("raw_tp")
int hugetlb_pool_now(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	__u32 max_fds = BPF_CORE_READ(fdt, max_fds);
	__u32 trigger = (__u32)ctx->args[0];

	for (__u32 i = 0; i < HUGETLB_MAX_HSTATES; i++) {
		__u32 key = i;
		__u32 *slot = bpf_map_lookup_elem(&hstate_files, &key);
		struct file *f = NULL;
		struct hugetlb_pool *e;
		struct hstate *h;

		if (!slot || !*slot || *slot - 1 >= max_fds)
			continue;
		bpf_probe_read_kernel(&f, sizeof(f), &fds[*slot - 1]);
		if (!f)
			continue;
		h = sb_hstate(BPF_CORE_READ(f, f_inode, i_sb));
		if (!h)
			continue;
		e = mt_reserve(HUGETLB_PROBE_POOL, sizeof(*e));
		if (!e)
			return 0;
		mt_fill_hdr_task(&e->hdr, HUGETLB_POOL, HUGETLB_PROBE_POOL, t);
		e->trigger = trigger;
		e->_pad = 0;
		read_counts(h, &e->pool);
		mt_submit(e);
	}
	return 0;
}
