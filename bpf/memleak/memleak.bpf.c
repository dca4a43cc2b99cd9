// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memleak: the user heap of the traced processes, from uprobes on their C
 * library. Each allocating call has an entry program (its arguments, per
 * thread) and a return program (the address, the sampling, the stack, the
 * record); free and munmap have an entry program only.
 *
 * Only allocations that are recorded are tracked, in a table keyed by
 * process and address, and a free makes a record only when its address is
 * in that table: the frees of everything else (unsampled, or allocated
 * before the recording) cost a lookup. A full table counts the allocation
 * as lost in its return program's slot, as a full ring does.
 *
 * Calls nest: glibc's malloc of a large block calls mmap, musl's calloc
 * calls malloc, reallocarray may jump into realloc. Only the outermost call
 * is recorded: an entry deeper on the same thread's stack than a pending
 * one (or at the same depth: a tail call) is the C library's own, and so
 * is a return that leaves the stack deeper than the pending entry was.
 */
#include "../common/runtime.h"
#include "../common/alloc.h"
#include "memleak.h"

/* Dummy instances so the skeleton also generates these types. */
enum memleak_kind _memleak_kind = 0;
enum memleak_call _memleak_call = 0;
enum memleak_probe _memleak_probe = 0;
enum memleak_flag _memleak_flag = 0;

struct memleak_alloc _memleak_alloc = {};
struct memleak_free _memleak_free = {};

/* Set by memrec before load: --alloc-sample, --alloc-min-size, stacks. */
const volatile struct mt_alloc_cfg alloc_cfg = {};

#define MAP_FAILED_ADDR ((__u64)-1)

/* What an allocating call's entry saw, until its return on the same thread. */
struct pending {
	__u64 sp;     /* the user stack pointer at entry */
	__u64 size;
	__u64 align;
	__u64 old;    /* realloc's block */
	__u64 memptr; /* posix_memalign's result pointer */
	__u32 call;
	__u32 flags;  /* MEMLEAK_F_ALIGN, MEMLEAK_F_OLD */
};

/* Keyed by pid_tgid: one outermost call per thread. Preallocated. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct pending);
} pending SEC(".maps");

/* Heap blocks and mappings are tracked apart: free never ends a mapping. */
enum track_kind {
	TRACK_HEAP = 0,
	TRACK_MMAP = 1,
};

struct track_key {
	__u32 tgid;
	__u32 kind; /* enum track_kind */
	__u64 addr;
};

/* The recorded allocations not freed yet. Preallocated. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct track_key);
	__type(value, __u8);
} tracked SEC(".maps");

/* The record being built (up to 1 KiB of frames): per CPU, not the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct memleak_alloc);
} scratch SEC(".maps");

/*
 * Processes whose stacks were sent lately: a process's first stack wakes
 * memrec at once, so it reads the process's mappings while it runs (as
 * common/stacks.h does).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} stack_tgids SEC(".maps");

static __always_inline void count_event(__u32 probe)
{
	struct mt_stat *st = mt_stat_slot(probe);

	if (st)
		st->events++;
}

static __always_inline void enter(struct pt_regs *ctx, __u32 call, __u64 size, __u64 align,
				  __u64 old, __u64 memptr, __u32 flags)
{
	__u64 key = bpf_get_current_pid_tgid();
	__u64 sp = PT_REGS_SP(ctx);
	struct pending *p, n = {};

	if (!mt_live() || !mt_current_selected())
		return;
	p = bpf_map_lookup_elem(&pending, &key);
	/* Inside a traced call of this thread: the C library's own call. */
	if (p && sp <= p->sp)
		return;
	n.sp = sp;
	n.size = size;
	n.align = align;
	n.old = old;
	n.memptr = memptr;
	n.call = call;
	n.flags = flags;
	if (bpf_map_update_elem(&pending, &key, &n, BPF_ANY))
		mt_count_lost(call);
}

static __always_inline bool untrack(__u32 tgid, __u32 kind, __u64 addr)
{
	struct track_key k = { .tgid = tgid, .kind = kind, .addr = addr };

	return bpf_map_delete_elem(&tracked, &k) == 0;
}

/* A free record of a tracked address, at `ts_ns` (0: now). */
static __always_inline void send_free(__u32 call, __u32 probe, __u64 addr, __u64 ts_ns)
{
	struct memleak_free *e = mt_reserve_counted(probe, sizeof(*e));

	if (!e)
		return;
	mt_fill_hdr(&e->hdr, MEMLEAK_FREE, probe);
	if (ts_ns)
		e->hdr.ts_ns = ts_ns;
	e->address = addr;
	e->call = call;
	e->_pad = 0;
	mt_submit(e);
}

/* Tracks the block and sends its record with the stack; false if lost. */
static __always_inline bool send_alloc(struct pt_regs *ctx, struct pending *p, __u32 probe,
				       __u32 tgid, __u64 addr, __u64 ts_ns)
{
	struct track_key k = { .tgid = tgid, .addr = addr };
	struct memleak_alloc *e;
	__u32 zero = 0;
	__u8 one = 1;
	bool wake;
	__u64 size;
	long n = 0;

	k.kind = p->call == MEMLEAK_MMAP ? TRACK_MMAP : TRACK_HEAP;
	/* A full table: not recorded, since its free could not be. */
	if (bpf_map_update_elem(&tracked, &k, &one, BPF_ANY)) {
		mt_count_lost(probe);
		return false;
	}
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e) {
		bpf_map_delete_elem(&tracked, &k);
		return false;
	}
	mt_fill_hdr(&e->hdr, MEMLEAK_ALLOC, probe);
	e->hdr.ts_ns = ts_ns;
	e->address = addr;
	e->size = p->size;
	e->align = p->align;
	e->old_address = p->old;
	e->sample_bytes = alloc_cfg.sample_bytes;
	e->call = p->call;
	e->flags = p->flags;
	e->stack_err = 0;
	e->nr = 0;
	wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes;
	if (alloc_cfg.stacks) {
		e->flags |= MEMLEAK_F_STACK;
		n = bpf_get_stack(ctx, e->ips, sizeof(e->ips), BPF_F_USER_STACK);
		if (n < 0) {
			e->stack_err = n;
			n = 0;
		}
		if (n > (long)sizeof(e->ips))
			n = sizeof(e->ips);
		e->nr = n / sizeof(__u64);
		if (n && !bpf_map_lookup_elem(&stack_tgids, &tgid)) {
			bpf_map_update_elem(&stack_tgids, &tgid, &one, BPF_ANY);
			wake = true;
		}
	}
	size = __builtin_offsetof(struct memleak_alloc, ips) + (__u64)(n & ~7L);
	if (bpf_ringbuf_output(&events, e, size, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP)) {
		mt_count_lost(probe);
		bpf_map_delete_elem(&tracked, &k);
		return false;
	}
	count_event(probe);
	return true;
}

static __always_inline void leave(struct pt_regs *ctx, __u64 ret)
{
	__u64 key = bpf_get_current_pid_tgid();
	struct pending *pp = bpf_map_lookup_elem(&pending, &key);
	struct pending p;
	__u32 tgid = key >> 32, probe;
	__u64 addr = ret, ts_ns;
	bool ok, resized;

	if (!pp)
		return;
	/* A return that leaves the stack deeper: a call inside the pending one. */
	if (PT_REGS_SP(ctx) < pp->sp)
		return;
	p = *pp;
	bpf_map_delete_elem(&pending, &key);
	if (p.call > MEMLEAK_MMAP)
		return;
	probe = MEMLEAK_PROBE_RET + p.call;
	ts_ns = bpf_ktime_get_boot_ns();
	if (p.call == MEMLEAK_POSIX_MEMALIGN)
		ok = (int)ret == 0 && p.memptr &&
		     !bpf_probe_read_user(&addr, sizeof(addr), (void *)p.memptr);
	else if (p.call == MEMLEAK_MMAP)
		ok = ret != MAP_FAILED_ADDR;
	else
		ok = ret != 0;
	/*
	 * realloc ends its old block when it returns one (moved or not), and
	 * when asked for 0 bytes (glibc frees it and returns NULL); a failure
	 * leaves it allocated.
	 */
	resized = p.call == MEMLEAK_REALLOC || p.call == MEMLEAK_REALLOCARRAY;
	if (resized && p.old && (ok || p.size == 0) && untrack(tgid, TRACK_HEAP, p.old))
		send_free(p.call, probe, p.old, ts_ns);
	if (ok && mt_alloc_sampled(&alloc_cfg, p.size))
		send_alloc(ctx, &p, probe, tgid, addr, ts_ns);
}

/* free and munmap: a record only for an address recorded in this process. */
static __always_inline void release(__u32 call, __u32 kind, __u64 addr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	struct track_key k = { .tgid = tgid, .kind = kind, .addr = addr };

	if (!addr || !mt_live())
		return;
	/* A lookup first: most frees under sampling are of untracked blocks,
	 * and a delete that finds nothing still takes the bucket's lock. */
	if (!bpf_map_lookup_elem(&tracked, &k) || bpf_map_delete_elem(&tracked, &k))
		return;
	send_free(call, call, addr, 0);
}

/* size * n, or false when it overflows (the call then fails). */
static __always_inline bool mul_size(__u64 a, __u64 b, __u64 *out)
{
	__u64 p = a * b;

	/* The barrier keeps clang from making this a 128-bit multiply, which BPF lacks. */
	asm volatile("" : "+r"(p));
	if (b && p / b != a)
		return false;
	*out = p;
	return true;
}

SEC("uprobe")
int BPF_UPROBE(memleak_malloc, __u64 size)
{
	enter(ctx, MEMLEAK_MALLOC, size, 0, 0, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_calloc, __u64 nmemb, __u64 size)
{
	__u64 bytes;

	if (mul_size(nmemb, size, &bytes))
		enter(ctx, MEMLEAK_CALLOC, bytes, 0, 0, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_realloc, __u64 old, __u64 size)
{
	enter(ctx, MEMLEAK_REALLOC, size, 0, old, 0, MEMLEAK_F_OLD);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_reallocarray, __u64 old, __u64 nmemb, __u64 size)
{
	__u64 bytes;

	/* An overflow fails with ENOMEM and leaves the block: nothing to record. */
	if (mul_size(nmemb, size, &bytes))
		enter(ctx, MEMLEAK_REALLOCARRAY, bytes, 0, old, 0, MEMLEAK_F_OLD);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_posix_memalign, __u64 memptr, __u64 align, __u64 size)
{
	enter(ctx, MEMLEAK_POSIX_MEMALIGN, size, align, 0, memptr, MEMLEAK_F_ALIGN);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_aligned_alloc, __u64 align, __u64 size)
{
	enter(ctx, MEMLEAK_ALIGNED_ALLOC, size, align, 0, 0, MEMLEAK_F_ALIGN);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_memalign, __u64 align, __u64 size)
{
	enter(ctx, MEMLEAK_MEMALIGN, size, align, 0, 0, MEMLEAK_F_ALIGN);
	return 0;
}

/* valloc and pvalloc align to the page size, which memrec fills in. */
SEC("uprobe")
int BPF_UPROBE(memleak_valloc, __u64 size)
{
	enter(ctx, MEMLEAK_VALLOC, size, 0, 0, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_pvalloc, __u64 size)
{
	enter(ctx, MEMLEAK_PVALLOC, size, 0, 0, 0, 0);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_mmap, __u64 addr, __u64 len)
{
	enter(ctx, MEMLEAK_MMAP, len, 0, 0, 0, 0);
	return 0;
}

#define RETURN(name)                                    \
	SEC("uretprobe")                                \
	int BPF_URETPROBE(memleak_##name##_ret, __u64 ret) \
	{                                               \
		leave(ctx, ret);                        \
		return 0;                               \
	}

RETURN(malloc)
RETURN(calloc)
RETURN(realloc)
RETURN(reallocarray)
RETURN(posix_memalign)
RETURN(aligned_alloc)
RETURN(memalign)
RETURN(valloc)
RETURN(pvalloc)
RETURN(mmap)

SEC("uprobe")
int BPF_UPROBE(memleak_free, __u64 addr)
{
	release(MEMLEAK_FREE_CALL, TRACK_HEAP, addr);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(memleak_munmap, __u64 addr)
{
	release(MEMLEAK_MUNMAP, TRACK_MMAP, addr);
	return 0;
}
