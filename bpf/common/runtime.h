/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * BPF-side runtime shared by every probe group: the ring buffer, per-probe
 * counters, the task filter and the record header. Each group's object
 * includes this once and so gets its own copies of these maps.
 */
#ifndef MT_RUNTIME_H
#define MT_RUNTIME_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "event.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct mt_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MT_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct mt_stat);
} stats SEC(".maps");

/*
 * control[0] is 1 while the recording is live. User space sets it right
 * before reading /proc/vmstat at start and clears it right after reading it
 * at end, so what is recorded and the counter deltas cover the same window
 * (probes attach and detach one by one, over a second or two).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} control SEC(".maps");

/*
 * `memrec record -- CMD`: the processes followed, by tgid: CMD and every
 * process it forks, however deep (a move to another cgroup changes
 * nothing). memrec's child puts its own tgid in before it execs CMD;
 * mt_follow_fork adds each child of a followed process, mt_follow_free
 * takes a group leader out once its task is freed. One map for the whole
 * recording: user space creates it and hands it to every group's object
 * (its max_entries is 1 where nothing is followed). When it is full, a
 * new child is not followed (nor, so, what it forks): its events are
 * missing, counted in mt_follow_lost[0], and the file's warnings say so.
 */
#define MT_FOLLOW_MAX 32768

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MT_FOLLOW_MAX);
	__type(key, __u32);
	__type(value, __u32);
} mt_followed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} mt_follow_lost SEC(".maps");

/*
 * Loaded (and attached) in one group's object only, where memrec follows a
 * command. A new process whose parent is not followed is taken out: its
 * tgid may be a followed process's that exited and whose task has not been
 * freed yet, so a reused tgid is never followed by mistake.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(mt_follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 tgid = child->tgid;

	if (tgid == ptgid)
		return 0; /* a thread */
	if (!bpf_map_lookup_elem(&mt_followed, &ptgid)) {
		bpf_map_delete_elem(&mt_followed, &tgid);
		return 0;
	}
	if (bpf_map_update_elem(&mt_followed, &tgid, &ptgid, BPF_ANY)) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&mt_follow_lost, &zero);

		if (lost)
			__sync_fetch_and_add(lost, 1);
	}
	return 0;
}

/*
 * After the whole process is gone (a group leader's task is freed after its
 * other threads'), so that its exit is still recorded.
 */
SEC("tp_btf/sched_process_free")
int BPF_PROG(mt_follow_free, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	if (p->pid == p->tgid)
		bpf_map_delete_elem(&mt_followed, &tgid);
	return 0;
}

/* Dummy instances so the skeleton generates the shared types. */
struct mt_hdr _mt_hdr = {};
struct mt_stat _mt_stat = {};
struct mt_snapshot _mt_snapshot = {};

static __always_inline struct mt_stat *mt_stat_slot(__u32 probe)
{
	return bpf_map_lookup_elem(&stats, &probe);
}

static __always_inline bool mt_live(void)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&control, &zero);

	return on && *on;
}

/*
 * Reserve a record and count it, or count a loss for this probe when the
 * ring is full. The record is tested once, each outcome counted on its own
 * path (the loss in a subprogram, so the compiler cannot merge the two
 * counts into one chosen by the pointer and test the pointer again after
 * it): before 6.3 the verifier cannot settle a second test of ring memory,
 * and on the path it then follows with the record never submitted it
 * refuses the program ("Unreleased reference", seen on 6.1).
 */
static __noinline void mt_count_lost(__u32 probe)
{
	struct mt_stat *st = mt_stat_slot(probe);

	if (st)
		st->lost++;
}

static __always_inline void *mt_reserve_counted(__u32 probe, __u64 size)
{
	void *rec = bpf_ringbuf_reserve(&events, size, 0);

	if (!rec) {
		mt_count_lost(probe);
		return NULL;
	}
	struct mt_stat *st = mt_stat_slot(probe);

	if (st)
		st->events++;
	return rec;
}

/*
 * Reserve a record (mt_reserve_counted); outside the live window nothing
 * is reserved or counted.
 */
static __always_inline void *mt_reserve(__u32 probe, __u64 size)
{
	if (!mt_live())
		return NULL;

	return mt_reserve_counted(probe, size);
}

/*
 * Submit without waking the reader until enough data is queued: a wake-up per
 * record would cost more than the record itself under a storm.
 */
static __always_inline void mt_submit(void *rec)
{
	__u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(rec, queued >= cfg.wakeup_bytes ? BPF_RB_FORCE_WAKEUP
							   : BPF_RB_NO_WAKEUP);
}

/*
 * Tasks and cgroups are read with plain loads through their BTF types (the
 * verifier turns them into fault-safe loads): callers pass BTF pointers
 * (tp_btf arguments, bpf_get_current_task_btf()), and a load costs a few
 * instructions where a probe-read helper call costs tens of nanoseconds.
 */

/* The memory controller's cgroup of a task; works for cgroup v1 and v2. */
static __always_inline struct cgroup *mt_task_memcg_cgroup(struct task_struct *t)
{
	__u32 sid = cfg.memory_subsys_id & 15;
	struct cgroup_subsys_state *css = t->cgroups->subsys[sid];

	if (!css)
		return NULL;
	return css->cgroup;
}

static __always_inline __u64 mt_cgroup_id(struct cgroup *cg)
{
	if (!cg)
		return 0;
	return cg->kn->id;
}

/* True when the cgroup is the filter cgroup or one of its descendants. */
static __always_inline bool mt_cgroup_matches(struct cgroup *cg)
{
	for (int i = 0; i < 32 && cg; i++) {
		if (mt_cgroup_id(cg) == cfg.filter_cgroup_id)
			return true;
		struct cgroup_subsys_state *parent = cg->self.parent;
		if (!parent)
			return false;
		cg = parent->cgroup;
	}
	return false;
}

/* The --pid / --comm / --cgroup / `-- CMD` filter, applied to a task. */
static __always_inline bool mt_task_selected(struct task_struct *t)
{
	if (cfg.filter_tgid && t->tgid != cfg.filter_tgid)
		return false;
	if (cfg.filter_comm_set) {
		char comm[MT_COMM_LEN];

		bpf_probe_read_kernel_str(comm, sizeof(comm), t->comm);
		for (int i = 0; i < MT_COMM_LEN; i++) {
			if (comm[i] != cfg.filter_comm[i])
				return false;
			if (!comm[i])
				break;
		}
	}
	if (cfg.filter_cgroup_id && !mt_cgroup_matches(mt_task_memcg_cgroup(t)))
		return false;
	if (cfg.filter_follow) {
		__u32 tgid = t->tgid;

		if (!bpf_map_lookup_elem(&mt_followed, &tgid))
			return false;
	}
	return true;
}

static __always_inline bool mt_current_selected(void)
{
	if (!cfg.filter_tgid && !cfg.filter_comm_set && !cfg.filter_cgroup_id &&
	    !cfg.filter_follow)
		return true;
	return mt_task_selected(bpf_get_current_task_btf());
}

/* Fill the header from a task (usually the current one). */
static __always_inline void mt_fill_hdr_task(struct mt_hdr *h, __u16 kind, __u16 probe,
					     struct task_struct *t)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = t->pid;
	h->tgid = t->tgid;
	h->cpu = bpf_get_smp_processor_id();
	h->kind = kind;
	h->probe = probe;
	h->cgroup_id = mt_cgroup_id(mt_task_memcg_cgroup(t));
	__builtin_memcpy(h->comm, t->comm, sizeof(h->comm));
}

static __always_inline void mt_fill_hdr(struct mt_hdr *h, __u16 kind, __u16 probe)
{
	mt_fill_hdr_task(h, kind, probe, bpf_get_current_task_btf());
}

#endif
