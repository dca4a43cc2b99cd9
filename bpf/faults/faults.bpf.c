// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * faults: every page fault the kernel accounts, with its VMA.
 *
 * The row is written by the page-fault software perf events
 * (PERF_COUNT_SW_PAGE_FAULTS_MIN/MAJ, one per CPU, every event), which fire
 * in mm_account_fault() once per fault that completed, after any retry, in
 * the faulting task: so a fault is one row, with the kernel's own minor or
 * major verdict. They exist on every architecture. Where the x86
 * exceptions tracepoints exist, they stash the hardware error code per task
 * at fault entry and the row takes it.
 */
#include "../common/runtime.h"
#include "faults.h"
#include "../common/stacks.h"
#include "../common/vma.h"

/* Dummy instances so the skeleton also generates these types. */
enum faults_kind _faults_kind = 0;
enum faults_probe _faults_probe = 0;
enum faults_vma _faults_vma = 0;
enum faults_flag _faults_flag = 0;
struct faults_fault _faults_fault = {};
struct faults_fault_ctx _faults_fault_ctx = {};


struct vma_info {
	__u64 start;
	__u64 end;
	__u8 kind; /* enum faults_vma */
	char file[FAULTS_FILE_LEN];
};

/* Per task: what a fault's row needs from before it was accounted. */
struct task_cache {
	/* The exception's error code, from fault entry to its accounting. */
	__u64 page;
	__u32 error_code;
	__u32 error_valid;
	/*
	 * The VMA of the task's last fault, valid while its mm's VMAs are
	 * unchanged: bpf_find_vma() costs microseconds here (it must drop the
	 * mmap lock through an irq_work), a storm of faults mostly hits one VMA.
	 */
	__u64 mm;
	__u32 seq;
	__u32 vma_valid;
	struct vma_info vma;
	/*
	 * The context the decoder has for this task: what its last
	 * FAULTS_FAULT_CTX record said (and when), while ctx_valid.
	 */
	__u64 ctx_ts;
	__u64 cgroup_id;
	__u64 comm[2];
	__u32 ctx_valid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_cache);
} task_cache SEC(".maps");

static __always_inline void stash_entry(__u64 address, __u64 error_code)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_cache *s;

	/*
	 * Stashed outside the live window too: a fault that enters just before
	 * it and is accounted inside keeps its error code.
	 */
	if (!mt_current_selected())
		return;
	s = bpf_task_storage_get(&task_cache, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	s->page = address >> 12;
	s->error_code = error_code;
	s->error_valid = 1;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(faults_exc_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	stash_entry(address, error_code);
	return 0;
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(faults_exc_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	stash_entry(address, error_code);
	return 0;
}

static long vma_kind(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_info *v = data;
	unsigned long fl = vma->vm_flags;
	struct file *f = vma->vm_file;

	v->start = vma->vm_start;
	v->end = vma->vm_end;
	if (fl & MT_VM_HUGETLB) {
		v->kind = FAULTS_VMA_HUGETLB;
	} else if (fl & (MT_VM_IO | MT_VM_PFNMAP)) {
		v->kind = FAULTS_VMA_IO;
	} else if (f) {
		v->kind = f->f_inode->i_sb->s_magic == MT_TMPFS_MAGIC ? FAULTS_VMA_SHMEM
								       : FAULTS_VMA_FILE;
		bpf_probe_read_kernel_str(v->file, sizeof(v->file),
					  f->f_path.dentry->d_name.name);
	} else if (fl & MT_VM_GROWSDOWN) {
		v->kind = FAULTS_VMA_STACK;
	} else {
		struct mm_struct *mm = vma->vm_mm;

		v->kind = vma->vm_start <= mm->brk && vma->vm_end > mm->start_brk
				  ? FAULTS_VMA_HEAP
				  : FAULTS_VMA_ANON;
	}
	return 0;
}

/* Reserves a record; counts it, or its loss, for the probe. */
static __always_inline void *reserve(__u32 probe, __u64 size)
{
	return mt_reserve_counted(probe, size);
}

static __always_inline void fill(struct faults_fault *e, __u16 kind, __u16 probe, __u64 now,
				 struct task_struct *t, __u64 addr, __u64 ip, __u32 code,
				 __u8 flags, __u8 vma)
{
	e->ts_ns = now;
	e->address = addr;
	e->pid = t->pid;
	e->tgid = t->tgid;
	e->cpu = bpf_get_smp_processor_id();
	e->flags = flags;
	e->vma = vma;
	e->kind = kind;
	e->probe = probe;
	e->ip = ip;
	e->error_code = code;
	e->_pad2 = 0;
}

static __always_inline int on_fault(struct bpf_perf_event_data *ctx, __u32 probe, __u8 flags)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = t->mm;
	struct task_cache *s;
	struct faults_fault *e;
	struct faults_fault_ctx *full;
	struct vma_info v = {};
	__u64 addr = ctx->addr;
	__u64 ip = PT_REGS_IP(&ctx->regs);
	__u64 now, cg, comm[2];
	__u32 seq = 0, code = 0;
	bool have_seq, hit;
	__u8 vma;

	if (!mt_current_selected() || !mt_live())
		return 0;
	now = bpf_ktime_get_boot_ns();
	mt_stack_sample(ctx, probe, now, cfg.stack_every);
	/* Kernel text is in the upper half on 64-bit x86 and arm64. */
	if (!(ip >> 63))
		flags |= FAULTS_F_USER;
	s = bpf_task_storage_get(&task_cache, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (s && s->error_valid && s->page == addr >> 12) {
		code = s->error_code;
		flags |= FAULTS_F_ERROR_CODE;
		s->error_valid = 0;
	}
	have_seq = mm_vma_seq(mm, &seq);
	hit = s && have_seq && s->vma_valid && s->mm == (__u64)mm && s->seq == seq &&
	      addr >= s->vma.start && addr < s->vma.end;
	if (hit) {
		vma = s->vma.kind;
	} else {
		long err = bpf_find_vma(t, addr, vma_kind, &v, 0);

		vma = v.kind;
		if (s) {
			s->vma_valid = 0;
			if (have_seq && !err) {
				s->mm = (__u64)mm;
				s->seq = seq;
				__builtin_memcpy(&s->vma, &v, sizeof(v));
				s->vma_valid = 1;
			}
		}
	}
	cg = mt_cgroup_id(mt_task_memcg_cgroup(t));
	__builtin_memcpy(comm, t->comm, sizeof(comm));
	/* The decoder has this task's context: a plain fault will do. */
	if (hit && s->ctx_valid && now - s->ctx_ts < FAULTS_CTX_REFRESH_NS &&
	    s->cgroup_id == cg && s->comm[0] == comm[0] && s->comm[1] == comm[1]) {
		e = reserve(probe, sizeof(*e));
		if (!e) {
			/* A lost record may have been a context: send it again. */
			s->ctx_valid = 0;
			return 0;
		}
		fill(e, FAULTS_FAULT, probe, now, t, addr, ip, code, flags, vma);
		mt_submit(e);
		return 0;
	}
	full = reserve(probe, sizeof(*full));
	if (!full) {
		if (s)
			s->ctx_valid = 0;
		return 0;
	}
	fill(&full->fault, FAULTS_FAULT_CTX, probe, now, t, addr, ip, code, flags, vma);
	full->ctx.cgroup_id = cg;
	__builtin_memcpy(full->ctx.comm, comm, sizeof(comm));
	if (hit)
		__builtin_memcpy(full->ctx.file, s->vma.file, sizeof(full->ctx.file));
	else
		__builtin_memcpy(full->ctx.file, v.file, sizeof(full->ctx.file));
	if (s) {
		s->ctx_valid = 1;
		s->ctx_ts = now;
		s->cgroup_id = cg;
		s->comm[0] = comm[0];
		s->comm[1] = comm[1];
	}
	mt_submit(full);
	return 0;
}

SEC("perf_event")
int faults_min(struct bpf_perf_event_data *ctx)
{
	return on_fault(ctx, FAULTS_PROBE_MIN, 0);
}

SEC("perf_event")
int faults_maj(struct bpf_perf_event_data *ctx)
{
	return on_fault(ctx, FAULTS_PROBE_MAJ, FAULTS_F_MAJOR);
}
