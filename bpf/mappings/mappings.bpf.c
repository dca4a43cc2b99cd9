// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mappings: the calls that change an address space (mmap, munmap, mremap,
 * brk, madvise, mprotect and SysV shm), one record per call with its
 * arguments, result and latency. Entry and return are paired in the kernel
 * per thread.
 *
 * Two programs on raw_syscalls:sys_enter/sys_exit, filtered by syscall
 * number, rather than twenty on the syscalls:sys_{enter,exit}_<call>
 * tracepoints: a group has at most MT_MAX_PROBES stat slots. Enabling any
 * syscall tracepoint sends every syscall of every task through the same
 * tracing slow path; the cost the raw pair adds is a program run that
 * returns on its first compare for the other syscalls (docs/BENCHMARKS.md).
 */
#include "../common/runtime.h"
#include "mappings.h"

/* Dummy instances so the skeleton also generates these types. */
enum mappings_kind _mappings_kind = 0;
enum mappings_probe _mappings_probe = 0;
enum mappings_call_id _mappings_call_id = 0;

struct mappings_call _mappings_call = {};
struct mappings_call_file _mappings_call_file = {};

/* Syscall numbers: the architecture's UAPI unistd.h (stable ABI). */
#if defined(__TARGET_ARCH_x86)
#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_MUNMAP 11
#define NR_BRK 12
#define NR_MREMAP 25
#define NR_MADVISE 28
#define NR_SHMGET 29
#define NR_SHMAT 30
#define NR_SHMCTL 31
#define NR_SHMDT 67
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_SHMGET 194
#define NR_SHMCTL 195
#define NR_SHMAT 196
#define NR_SHMDT 197
#define NR_BRK 214
#define NR_MUNMAP 215
#define NR_MREMAP 216
#define NR_MMAP 222
#define NR_MPROTECT 226
#define NR_MADVISE 233
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "mappings: syscall numbers of this architecture are not listed"
#endif

#define MAP_ANONYMOUS 0x20 /* uapi/asm-generic/mman-common.h */
/* Errors are the top 4095 values (include/linux/err.h). */
#define IS_ERR_RET(r) ((unsigned long)(r) >= (unsigned long)-4095)

static __always_inline int call_of(long nr)
{
	switch (nr) {
	case NR_MMAP:
		return MAPPINGS_MMAP;
	case NR_MUNMAP:
		return MAPPINGS_MUNMAP;
	case NR_MREMAP:
		return MAPPINGS_MREMAP;
	case NR_BRK:
		return MAPPINGS_BRK;
	case NR_MADVISE:
		return MAPPINGS_MADVISE;
	case NR_MPROTECT:
		return MAPPINGS_MPROTECT;
	case NR_SHMGET:
		return MAPPINGS_SHMGET;
	case NR_SHMAT:
		return MAPPINGS_SHMAT;
	case NR_SHMDT:
		return MAPPINGS_SHMDT;
	case NR_SHMCTL:
		return MAPPINGS_SHMCTL;
	}
	return -1;
}

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

SEC("tp_btf/sys_enter")
int BPF_PROG(mappings_enter, struct pt_regs *regs, long id)
{
	int call = call_of(id);

	if (call < 0 || !mt_live() || !mt_current_selected())
		return 0;
	struct pending p = {};

	p.ts = bpf_ktime_get_boot_ns();
	p.call = call;
	p.args[0] = PT_REGS_PARM1_SYSCALL(regs);
	p.args[1] = PT_REGS_PARM2_SYSCALL(regs);
	p.args[2] = PT_REGS_PARM3_SYSCALL(regs);
	p.args[3] = PT_REGS_PARM4_SYSCALL(regs);
	p.args[4] = PT_REGS_PARM5_SYSCALL(regs);
	p.args[5] = PT_REGS_PARM6_SYSCALL(regs);
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
	return 0;
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

static __always_inline void fill(struct mappings_call *c, __u16 kind, struct pending *p, long ret,
				 __u64 now)
{
	mt_fill_hdr(&c->hdr, kind, MAPPINGS_PROBE_EXIT);
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

SEC("tp_btf/sys_exit")
int BPF_PROG(mappings_exit, struct pt_regs *regs, long ret)
{
	if (call_of(SYSCALL_NR(regs)) < 0)
		return 0;
	__u64 key = bpf_get_current_pid_tgid();
	struct pending *p = bpf_map_lookup_elem(&pending, &key);

	if (!p)
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	struct vma_found v = {};

	if (p->call == MAPPINGS_SHMAT && !IS_ERR_RET(ret) && find_vma(ret, &v)) {
		p->vma_start = v.start;
		p->vma_end = v.end;
		p->has_vma = 1;
	}
	if (p->call == MAPPINGS_MMAP && !IS_ERR_RET(ret) && !(p->args[3] & MAP_ANONYMOUS) &&
	    find_vma(ret, &v) && v.file) {
		struct mappings_call_file *e = mt_reserve(MAPPINGS_PROBE_EXIT, sizeof(*e));

		if (e) {
			fill(&e->c, MAPPINGS_CALL_FILE, p, ret, now);
			e->complete = 0;
			file_name(e, (struct file *)v.file);
			mt_submit(e);
		}
	} else {
		struct mappings_call *e = mt_reserve(MAPPINGS_PROBE_EXIT, sizeof(*e));

		if (e) {
			fill(e, MAPPINGS_CALL, p, ret, now);
			mt_submit(e);
		}
	}
	bpf_map_delete_elem(&pending, &key);
	return 0;
}
