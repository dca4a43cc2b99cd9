// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procstat: a process's memory counters, sampled when one of its threads
 * leaves a CPU, while it runs (a per-CPU timer, or kmem:rss_stat where
 * there is no timer), when it exits, and by memrec's sweep over every
 * process it has seen, at each snapshot. Rate-limited per process in the
 * kernel: a sample only when a counter changed, checked at most once per
 * procstat_min_interval_ns (the timer's up to 1/8 sooner). A peak between
 * samples is kept exact by before_unmap().
 */
#include "../common/runtime.h"
#include "../common/mm.h"
#include "procstat.h"

/* Dummy instances so the skeleton also generates these enums. */
enum procstat_kind _procstat_kind = 0;
enum procstat_probe _procstat_probe = 0;
enum procstat_reason _procstat_reason = 0;

struct procstat_event _procstat_event = {};

/*
 * Per-process rate-limit state, in task-local storage of the thread-group
 * leader: reaching it is a pointer walk, where a hash map would hash and
 * lock on every context switch and page fault; and it goes away with the
 * process.
 */
struct proc_state {
	__u64 last_check_ns; /* CLOCK_MONOTONIC of the last check */
	__u64 fingerprint;   /* of the counters at that check */
	__u64 peak;	     /* largest exact RSS seen, sampled or before_unmap() */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct proc_state);
} proc_states SEC(".maps");

static __always_inline __u64 mix(__u64 h, __u64 v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

/* RSS as VmRSS sums it: anon + file + shmem, of mt_mm_counters(). */
static __always_inline __u64 rss_pages(const __u64 c[MT_NR_MM_COUNTERS])
{
	return c[MT_MM_ANONPAGES] + c[MT_MM_FILEPAGES] + c[MT_MM_SHMEMPAGES];
}

/*
 * Of the exact counters, as /proc shows them: the shared counts alone miss
 * up to a batch of pages per CPU, and a process that then sleeps would keep
 * that change out of the recording.
 */
static __always_inline __u64 fingerprint(struct mm_struct *mm, const __u64 c[MT_NR_MM_COUNTERS])
{
	__u64 h = 0xcbf29ce484222325ULL;

	h = mix(h, mm->total_vm);
	h = mix(h, mm->hiwater_rss);
	h = mix(h, mm->data_vm);
	h = mix(h, mm->stack_vm);
	h = mix(h, mm->pgtables_bytes.counter);
	for (int i = 0; i < MT_NR_MM_COUNTERS; i++)
		h = mix(h, c[i]);
	return h;
}

/*
 * Writes one sample of a process's counters, c from mt_mm_counters(), and
 * seen the exact peak kept by before_unmap().
 */
static __always_inline int emit(struct task_struct *t, struct mm_struct *mm,
				const __u64 c[MT_NR_MM_COUNTERS], __u64 seen, __u32 reason,
				__u16 probe)
{
	struct procstat_event *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr_task(&e->hdr, PROCSTAT_SAMPLE, probe, t);
	e->reason = reason;
	e->total_vm = mm->total_vm;
	e->rss_anon = c[MT_MM_ANONPAGES];
	e->rss_file = c[MT_MM_FILEPAGES];
	e->rss_shmem = c[MT_MM_SHMEMPAGES];
	e->swap_ents = c[MT_MM_SWAPENTS];
	__u64 rss = rss_pages(c);
	__u64 hiwater = mm->hiwater_rss;
	__u64 peak = hiwater > rss ? hiwater : rss;

	e->rss_peak = seen > peak ? seen : peak;
	e->data_vm = mm->data_vm;
	e->stack_vm = mm->stack_vm;
	e->pgtables_bytes = mm->pgtables_bytes.counter;
	mt_submit(e);
	return 0;
}

static __always_inline int sample(struct task_struct *t, struct mm_struct *mm, __u32 reason,
				  __u16 probe)
{
	bool exiting = reason == PROCSTAT_REASON_EXIT;
	/* The sweep runs once per snapshot interval: that is its own limit. */
	bool sweep = reason == PROCSTAT_REASON_SWEEP;
	/* The coarse clock would do, but tracing programs may not read it. */
	__u64 now = bpf_ktime_get_ns();
	struct proc_state *st = bpf_task_storage_get(&proc_states, t->group_leader, 0, 0);
	__u64 limit = cfg.procstat_min_interval_ns;

	/* The sweep samples only processes seen running while recording. */
	if (sweep && !st)
		return 0;
	/*
	 * The timer fires every interval: with the exact limit, jitter would
	 * make a busy process wait two periods.
	 */
	if (reason == PROCSTAT_REASON_TICK)
		limit -= limit >> 3;
	/* The common case first, and cheap: checked too recently. */
	if (!exiting && !sweep && st && now - st->last_check_ns < limit)
		return 0;
	if (!mt_task_selected(t))
		return 0;

	/* Summed over CPUs at most once per process and interval. */
	__u64 c[MT_NR_MM_COUNTERS];

	mt_mm_counters(mm, c);
	__u64 fp = fingerprint(mm, c);

	if (!st && !exiting)
		st = bpf_task_storage_get(&proc_states, t->group_leader, 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st && !exiting) {
		bool same = st->last_check_ns && st->fingerprint == fp;

		st->last_check_ns = now;
		st->fingerprint = fp;
		if (same)
			return 0;
		__u64 rss = rss_pages(c);

		if (rss > st->peak)
			st->peak = rss;
	}

	return emit(t, mm, c, st ? st->peak : 0, reason, probe);
}

/*
 * Before the process may unmap memory, the kernel folds its approximate
 * RSS into hiwater_rss (unmap_region(), zap_page_range_single()): a peak
 * reached since the last sample would survive there only short by up to a
 * batch of pages per CPU and counter, and /proc shows that lower VmHWM from
 * then on. So when the exact RSS is above every peak seen and the kernel's
 * mark, it is kept in the process's state, for its next sample's rss_peak:
 * no row, and no check of the limit, which the unmap would make too late.
 * The shared counts rule most calls out without the per-CPU sums.
 */
static __always_inline void before_unmap(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = t->mm;

	if (!mm || (t->flags & MT_PF_KTHREAD))
		return;
	/* Only processes procstat samples (selected and seen running). */
	struct proc_state *st = bpf_task_storage_get(&proc_states, t->group_leader, 0, 0);

	if (!st)
		return;
	__u64 hiwater = mm->hiwater_rss;
	__u64 known = st->peak > hiwater ? st->peak : hiwater;
	__s64 shared = mt_rss_count(mm, MT_MM_ANONPAGES) + mt_rss_count(mm, MT_MM_FILEPAGES) +
		       mt_rss_count(mm, MT_MM_SHMEMPAGES);
	/* percpu_counter_batch, held back per CPU by each of the three. */
	__u64 batch = cfg.nr_cpus * 2 > 32 ? cfg.nr_cpus * 2 : 32;

	if (shared + (__s64)(3 * cfg.nr_cpus * batch) <= (__s64)known)
		return;

	__u64 c[MT_NR_MM_COUNTERS];

	mt_mm_counters(mm, c);
	__u64 rss = rss_pages(c);

	if (rss > known)
		st->peak = rss;
}

/* Calls that cannot unmap (a growing heap, a new mapping) are left out. */
#define MT_MAP_FIXED 0x10
#define MT_MREMAP_FIXED 2
#define MT_MREMAP_DONTUNMAP 4

SEC("tp/syscalls/sys_enter_munmap")
int procstat_munmap(struct syscall_trace_enter *ctx)
{
	before_unmap();
	return 0;
}

SEC("tp/syscalls/sys_enter_mremap")
int procstat_mremap(struct syscall_trace_enter *ctx)
{
	/* (addr, old_len, new_len, flags, new_addr) */
	__u64 old_len = ctx->args[1], new_len = ctx->args[2], flags = ctx->args[3];

	if (new_len < old_len || (flags & (MT_MREMAP_FIXED | MT_MREMAP_DONTUNMAP)))
		before_unmap();
	return 0;
}

SEC("tp/syscalls/sys_enter_brk")
int procstat_brk(struct syscall_trace_enter *ctx)
{
	struct mm_struct *mm = bpf_get_current_task_btf()->mm;

	/* brk(0) asks; a lower break shrinks the heap. */
	if (mm && ctx->args[0] && ctx->args[0] < mm->brk)
		before_unmap();
	return 0;
}

/* Any advice: MADV_DONTNEED and MADV_REMOVE zap, MADV_PAGEOUT reclaims. */
SEC("tp/syscalls/sys_enter_madvise")
int procstat_madvise(struct syscall_trace_enter *ctx)
{
	before_unmap();
	return 0;
}

SEC("tp/syscalls/sys_enter_shmdt")
int procstat_shmdt(struct syscall_trace_enter *ctx)
{
	before_unmap();
	return 0;
}

SEC("tp/syscalls/sys_enter_mmap")
int procstat_mmap(struct syscall_trace_enter *ctx)
{
	/* (addr, len, prot, flags, fd, off): MAP_FIXED replaces what is there. */
	if (ctx->args[3] & MT_MAP_FIXED)
		before_unmap();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(procstat_switch, bool preempt, struct task_struct *prev)
{
	struct mm_struct *mm = prev->mm;

	if (!mm || (prev->flags & MT_PF_KTHREAD))
		return 0;
	return sample(prev, mm, PROCSTAT_REASON_SWITCH, PROCSTAT_PROBE_SWITCH);
}

/*
 * A process that grows without leaving the CPU is sampled by a per-CPU
 * timer (a cpu-clock perf event firing every --procstat-interval): it
 * samples whatever user task is running. Only when that cannot be attached
 * is procstat_rss used instead, which runs on every RSS counter change.
 */
SEC("perf_event")
int procstat_tick(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = t->mm;

	if (!mm || (t->flags & MT_PF_KTHREAD))
		return 0;
	return sample(t, mm, PROCSTAT_REASON_TICK, PROCSTAT_PROBE_TICK);
}

/*
 * Sampled when its own RSS counters change (page faults). Reclaim changing
 * another process's counters is not a sample of that process.
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(procstat_rss, struct mm_struct *mm, int member)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (!mm || t->mm != mm)
		return 0;
	return sample(t, mm, PROCSTAT_REASON_RSS, PROCSTAT_PROBE_RSS);
}

/*
 * One final sample per process, when its leader exits. Used where the
 * tracepoint fires before exit_mm() (it then has a group_dead argument);
 * on older kernels it comes after, and procstat_exit_mm stands in.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(procstat_exit, struct task_struct *p)
{
	struct mm_struct *mm = p->mm;

	if (!mm || p->pid != p->tgid)
		return 0;
	return sample(p, mm, PROCSTAT_REASON_EXIT, PROCSTAT_PROBE_EXIT);
}

/*
 * The same final sample on kernels whose sched_process_exit comes too
 * late: exit_mm() clears current->mm, then drops its reference with
 * mmput(), whose entry still sees the counters whole (exit_mmap() runs
 * inside it). Other callers of mmput() are not exiting, or have an mm.
 */
SEC("fentry/mmput")
int BPF_PROG(procstat_exit_mm, struct mm_struct *mm)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (!mm || t->mm || !(t->flags & MT_PF_EXITING) || t->pid != t->tgid)
		return 0;
	return sample(t, mm, PROCSTAT_REASON_EXIT, PROCSTAT_PROBE_EXIT_MM);
}

/*
 * The sweep, run by memrec at every snapshot (iterating every task): a
 * process that changed and then slept, its last change within the limit of
 * its last check, would otherwise show its peak only when it next runs or
 * exits; and reclaim changes the counters of processes that do not run.
 */
SEC("iter/task")
int procstat_sweep(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;

	if (!t || t->pid != t->tgid || (t->flags & MT_PF_KTHREAD))
		return 0;
	struct mm_struct *mm = t->mm;

	if (!mm)
		return 0;
	return sample(t, mm, PROCSTAT_REASON_SWEEP, PROCSTAT_PROBE_SWEEP);
}

/*
 * Load test (memrec record --load-test): args[0] samples of the calling
 * task, each the full cost of a real one (header, exact per-CPU sums, ring
 * buffer), marked so. Run by memrec through BPF_PROG_TEST_RUN to measure
 * what the recorder sustains without a generator limiting the rate.
 */
static long synth_one(__u64 i, void *unused)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct mm_struct *mm = t->mm;

	if (!mm)
		return 1;
	__u64 c[MT_NR_MM_COUNTERS];

	mt_mm_counters(mm, c);
	emit(t, mm, c, 0, PROCSTAT_REASON_SYNTHETIC, PROCSTAT_PROBE_SYNTHETIC);
	return 0;
}

SEC("raw_tp")
int procstat_synthetic(struct bpf_raw_tracepoint_args *ctx)
{
	bpf_loop(ctx->args[0] & 0xffff, synth_one, NULL, 0);
	return 0;
}
