// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mappings: the calls that change an address space (mmap, munmap, mremap,
 * brk, madvise, mprotect and SysV shm), one record per call with its
 * arguments, result and latency. Entry and return are paired in the kernel
 * per thread.
 *
 * One program per call on its syscalls:sys_enter_<call> and one on its
 * syscalls:sys_exit_<call> tracepoint (CONFIG_FTRACE_SYSCALLS). Enabling
 * any syscall tracepoint sends every syscall of every task through the
 * tracing slow path, but the kernel runs these programs only for their own
 * call: a pair on raw_syscalls:sys_enter/sys_exit filtered by number would
 * run on every syscall, which measured 3 to 4 times the added cost per
 * unrelated syscall (docs/BENCHMARKS.md). A 32-bit task's calls are not
 * traced by these tracepoints on x86 (they ignore compat syscalls).
 */
#include "../common/runtime.h"
#include "mappings.h"

/* Dummy instances so the skeleton also generates these types. */
enum mappings_kind _mappings_kind = 0;
enum mappings_probe _mappings_probe = 0;
enum mappings_call_id _mappings_call_id = 0;

struct mappings_call _mappings_call = {};
struct mappings_call_file _mappings_call_file = {};

#define MAP_ANONYMOUS 0x20 /* uapi/asm-generic/mman-common.h */
/* Errors are the top 4095 values (include/linux/err.h). */
#define IS_ERR_RET(r) ((unsigned long)(r) >= (unsigned long)-4095)

/* What the entry saw, until the return on the same thread. */
struct pending {
	__u64 ts;
	__u64 args[6];
	__u64 prev_brk;
	__u64 vma_start;
	__u64 vma_end;
	__u32 call;
	__u32 has_vma;
};

/* Keyed by pid_tgid; a thread is inside at most one syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending);
} pending SEC(".maps");

/* Found by bpf_find_vma: the VMA holding an address. */
struct vma_found {
	__u64 start;
	__u64 end;
	__u64 file; /* struct file *, 0 for anonymous memory */
};

static long vma_cb(struct task_struct *task, struct vm_area_struct *vma, struct vma_found *out)
{
	out->start = vma->vm_start;
	out->end = vma->vm_end;
	out->file = (__u64)vma->vm_file;
	return 0;
}

static __always_inline bool find_vma(__u64 addr, struct vma_found *out)
{
	/* -EBUSY when the mmap lock is contended, -ENOENT when unmapped. */
	return bpf_find_vma(bpf_get_current_task_btf(), addr, vma_cb, out, 0) == 0;
}

/* Arguments each call has (the record holds only those). */
static __always_inline void enter(struct syscall_trace_enter *ctx, __u32 call, int nargs)
{
	if (!mt_live() || !mt_current_selected())
		return;
	struct pending p = {};

	p.ts = bpf_ktime_get_boot_ns();
	p.call = call;
	/*
	 * Copied, not loaded: the verifier refuses loads through a pointer
	 * derived from the context, which is what the compiler makes of them.
	 */
	bpf_probe_read_kernel(p.args, nargs * sizeof(p.args[0]), ctx->args);
	if (call == MAPPINGS_BRK) {
		struct task_struct *t = bpf_get_current_task_btf();
		struct mm_struct *mm = t->mm;

		if (mm)
			p.prev_brk = mm->brk;
	} else if (call == MAPPINGS_SHMDT) {
		struct vma_found v = {};

		if (find_vma(p.args[0], &v)) {
			p.vma_start = v.start;
			p.vma_end = v.end;
			p.has_vma = 1;
		}
	}
	__u64 key = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&pending, &key, &p, BPF_ANY);
}

/*
 * The file's name: dentry names up to its mount's root, then on from the
 * mount point in the parent mount, as d_path() would walk (without its
 * locking: a rename racing with the walk may give a mixed name).
 */
static __always_inline void file_name(struct mappings_call_file *e, struct file *f)
{
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vfs = BPF_CORE_READ(f, f_path.mnt);
	struct mount *mnt = (void *)vfs - bpf_core_field_offset(struct mount, mnt);
	__u32 n = 0;

	e->ino = BPF_CORE_READ(f, f_inode, i_ino);
	for (int i = 0; i < MAPPINGS_PATH_PARTS + 4; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (d == parent) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt) {
				e->complete = 1;
				break;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			continue;
		}
		__u32 k = n;

		if (k >= MAPPINGS_PATH_PARTS)
			break;
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);

		bpf_probe_read_kernel_str(&e->parts[k], MAPPINGS_PATH_LEN, name);
		n = k + 1;
		d = parent;
	}
	e->nparts = n;
}

static __always_inline void fill(struct mappings_call *c, __u16 kind, __u16 probe,
				 struct pending *p, long ret, __u64 now)
{
	mt_fill_hdr(&c->hdr, kind, probe);
	c->hdr.ts_ns = now;
	c->duration_ns = now - p->ts;
	for (int i = 0; i < 6; i++)
		c->args[i] = p->args[i];
	c->ret = ret;
	c->prev_brk = p->prev_brk;
	c->vma_start = p->vma_start;
	c->vma_end = p->vma_end;
	c->has_vma = p->has_vma;
	c->call = p->call;
}

static __always_inline void leave(struct syscall_trace_exit *ctx, __u16 probe)
{
	long ret = ctx->ret;
	__u64 key = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &key);

	if (!p)
		return;
	__u64 now = bpf_ktime_get_boot_ns();
	struct vma_found v = {};

	if (p->call == MAPPINGS_SHMAT && !IS_ERR_RET(ret) && find_vma(ret, &v)) {
		p->vma_start = v.start;
		p->vma_end = v.end;
		p->has_vma = 1;
	}
	if (p->call == MAPPINGS_MMAP && !IS_ERR_RET(ret) && !(p->args[3] & MAP_ANONYMOUS) &&
	    find_vma(ret, &v) && v.file) {
		struct mappings_call_file *e = mt_reserve(probe, sizeof(*e));

		if (e) {
			fill(&e->c, MAPPINGS_CALL_FILE, probe, p, ret, now);
			e->complete = 0;
			file_name(e, (struct file *)v.file);
			mt_submit(e);
		}
	} else {
		struct mappings_call *e = mt_reserve(probe, sizeof(*e));

		if (e) {
			fill(e, MAPPINGS_CALL, probe, p, ret, now);
			mt_submit(e);
		}
	}
	bpf_map_delete_elem(&pending, &key);
}

/* One entry and one return program per call. */
#define CALL(name, ID, nargs)                                                   \
	SEC("tp/syscalls/sys_enter_" #name)                                    \
	int mappings_enter_##name(struct syscall_trace_enter *ctx)             \
	{                                                                      \
		enter(ctx, MAPPINGS_##ID, nargs);                              \
		return 0;                                                      \
	}                                                                      \
	SEC("tp/syscalls/sys_exit_" #name)                                     \
	int mappings_exit_##name(struct syscall_trace_exit *ctx)               \
	{                                                                      \
		leave(ctx, MAPPINGS_PROBE_EXIT_##ID);                          \
		return 0;                                                      \
	}

CALL(mmap, MMAP, 6)
CALL(munmap, MUNMAP, 2)
CALL(mremap, MREMAP, 5)
CALL(brk, BRK, 1)
CALL(madvise, MADVISE, 3)
CALL(mprotect, MPROTECT, 3)
CALL(shmget, SHMGET, 3)
CALL(shmat, SHMAT, 3)
CALL(shmdt, SHMDT, 1)
CALL(shmctl, SHMCTL, 3)
