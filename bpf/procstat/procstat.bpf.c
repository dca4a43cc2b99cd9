// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procstat: a process's memory counters, sampled when one of its threads
 * leaves a CPU. Rate-limited per process in the kernel: a sample only when a
 * counter changed and at most once per procstat_min_interval_ns.
 */
#include "../common/runtime.h"
#include "../common/mm.h"
#include "procstat.h"

/* Dummy instances so the skeleton also generates these enums. */
enum procstat_kind _procstat_kind = 0;
enum procstat_probe _procstat_probe = 0;
enum procstat_reason _procstat_reason = 0;

struct procstat_event _procstat_event = {};

struct proc_state {
	__u64 last_ts;
	__u64 fingerprint;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct proc_state);
} proc_states SEC(".maps");

static __always_inline __u64 mix(__u64 h, __u64 v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

static __always_inline __u64 fingerprint(struct mm_struct *mm)
{
	__u64 h = 0xcbf29ce484222325ULL;

	h = mix(h, BPF_CORE_READ(mm, total_vm));
	h = mix(h, BPF_CORE_READ(mm, hiwater_rss));
	h = mix(h, BPF_CORE_READ(mm, data_vm));
	h = mix(h, BPF_CORE_READ(mm, stack_vm));
	h = mix(h, BPF_CORE_READ(mm, pgtables_bytes.counter));
	for (int i = 0; i < 4; i++)
		h = mix(h, mt_mm_counter_approx(mm, i));
	return h;
}

static __always_inline int sample(struct task_struct *t, struct mm_struct *mm, __u32 reason,
				  __u16 probe)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	__u64 now = bpf_ktime_get_boot_ns();
	struct proc_state *st = bpf_map_lookup_elem(&proc_states, &tgid);
	bool exiting = reason == PROCSTAT_REASON_EXIT;

	/* The common case first, and cheap: sampled too recently. */
	if (!exiting && st && now - st->last_ts < cfg.procstat_min_interval_ns)
		return 0;
	if (!mt_task_selected(t))
		return 0;

	__u64 fp = fingerprint(mm);

	if (exiting) {
		bpf_map_delete_elem(&proc_states, &tgid);
	} else if (st) {
		if (st->fingerprint == fp)
			return 0;
		st->last_ts = now;
		st->fingerprint = fp;
	} else {
		struct proc_state init = { .last_ts = now, .fingerprint = fp };

		bpf_map_update_elem(&proc_states, &tgid, &init, BPF_ANY);
	}

	struct procstat_event *e = mt_reserve(probe, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr_task(&e->hdr, PROCSTAT_SAMPLE, probe, t);
	e->reason = reason;
	e->total_vm = BPF_CORE_READ(mm, total_vm);
	e->rss_anon = mt_mm_counter(mm, MT_MM_ANONPAGES);
	e->rss_file = mt_mm_counter(mm, MT_MM_FILEPAGES);
	e->rss_shmem = mt_mm_counter(mm, MT_MM_SHMEMPAGES);
	e->swap_ents = mt_mm_counter(mm, MT_MM_SWAPENTS);
	__u64 rss = e->rss_anon + e->rss_file + e->rss_shmem;
	__u64 hiwater = BPF_CORE_READ(mm, hiwater_rss);
	e->rss_peak = hiwater > rss ? hiwater : rss;
	e->data_vm = BPF_CORE_READ(mm, data_vm);
	e->stack_vm = BPF_CORE_READ(mm, stack_vm);
	e->pgtables_bytes = BPF_CORE_READ(mm, pgtables_bytes.counter);
	mt_submit(e);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(procstat_switch, bool preempt, struct task_struct *prev)
{
	struct mm_struct *mm = BPF_CORE_READ(prev, mm);

	if (!mm) /* kernel thread */
		return 0;
	return sample(prev, mm, PROCSTAT_REASON_SWITCH, PROCSTAT_PROBE_SWITCH);
}

/*
 * A process that grows without leaving the CPU is sampled here, when its
 * own RSS counters change (page faults). Reclaim changing another process's
 * counters is not a sample of that process.
 */
SEC("tp_btf/rss_stat")
int BPF_PROG(procstat_rss, struct mm_struct *mm, int member)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (!mm || t->mm != mm)
		return 0;
	return sample(t, mm, PROCSTAT_REASON_RSS, PROCSTAT_PROBE_RSS);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(procstat_exit, struct task_struct *p)
{
	struct mm_struct *mm = BPF_CORE_READ(p, mm);

	/* One final sample per process, when its leader exits (before exit_mm). */
	if (!mm || BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	return sample(p, mm, PROCSTAT_REASON_EXIT, PROCSTAT_PROBE_EXIT);
}
