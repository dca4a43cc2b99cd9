/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sampled user stacks as records of their own, for groups that sample the
 * stacks of their events (faults). memleak and kmemleak carry a stack inline
 * in each allocation record instead, the same way (bpf_get_stack into a
 * per-CPU scratch, only the frames found sent). Include after runtime.h.
 *
 * A sample is its own ring-buffer record of kind MT_KIND_USER_STACK (kind at
 * mt_hdr's offset, as in every group's records): a header of the current
 * task with the sampled event's ts_ns (so the event's row and the sample
 * join on ts_ns and pid, whatever the event's own layout) and the user
 * return addresses, as many as the stack has (up to MT_STACK_MAX). User space dedups stacks into its
 * stack table and keeps, per process, the executable mappings that turn an
 * address into a module and file offset, for symbolizing off the machine.
 *
 * Why bpf_get_stack into a per-CPU scratch and not a STACK_TRACE map: the
 * map drops a stack whose hash bucket holds another one (or overwrites it
 * with BPF_F_REUSE_STACKID, under a row that already named the old id), and
 * its size must be chosen before knowing how many distinct stacks come.
 * Copying the frames into the ring is lossless (a full ring counts a loss
 * like any record) and costs a memcpy of the frames that were found.
 */
#ifndef MT_STACKS_H
#define MT_STACKS_H

/* Frames kept per stack: the kernel's default perf_event_max_stack. */
#define MT_STACK_MAX 127

/* Record kind of a stack sample, the same in every group (group kinds are small). */
enum mt_stack_kind {
	MT_KIND_USER_STACK = 0x7f00,
};

/* One sampled user stack. Only the first nr entries of ips are sent. */
struct mt_stack {
	struct mt_hdr hdr; /* the current task; ts_ns the event's; kind = MT_KIND_USER_STACK */
	__u32 every;       /* the sampling period: one sample per this many events per CPU */
	__s32 err;         /* bpf_get_stack's error when nr is 0 (e.g. -EFAULT), else 0 */
	__u32 nr;          /* frames in ips[]; ips[0] is the user instruction pointer */
	__u32 _pad;
	__u64 ips[MT_STACK_MAX];
};

/* Dummy instances so the skeleton generates the types. */
enum mt_stack_kind _mt_stack_kind = 0;
struct mt_stack _mt_stack = {};

/* Per CPU: events since the last sample, and the record being built. */
struct mt_stack_scratch {
	__u64 since;
	struct mt_stack rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_stack_scratch);
} mt_stack_scratch SEC(".maps");

/*
 * Processes whose stacks were sent lately. A process's first sample wakes
 * the reader at once (not at its next 100 ms drain), so memrec reads the
 * process's mappings while it most likely still runs: a short-lived one
 * (a compiler, a shell command) is otherwise gone before its maps are read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} mt_stack_tgids SEC(".maps");

/*
 * Counts one event of this CPU and, on every `every`th (0: never), sends
 * the current task's user stack, stamped with the event's `ts_ns`. Only a
 * sampled event pays more than a per-CPU counter. The sample counts in the
 * probe's stats slot like any record (events, or lost when the ring is
 * full). A task without a user stack (a kernel thread, a stack that cannot
 * be read) still sends a record, with nr = 0, so the number of samples
 * scales to the number of events exactly.
 */
static __always_inline void mt_stack_sample(void *ctx, __u32 probe, __u64 ts_ns, __u32 every)
{
	struct mt_stack_scratch *s;
	struct mt_stat *st;
	__u32 zero = 0, tgid;
	__u8 seen = 1;
	bool wake;
	__u64 size;
	long n;

	if (!every)
		return;
	s = bpf_map_lookup_elem(&mt_stack_scratch, &zero);
	if (!s)
		return;
	if (++s->since < every)
		return;
	s->since = 0;
	n = bpf_get_stack(ctx, s->rec.ips, sizeof(s->rec.ips), BPF_F_USER_STACK);
	mt_fill_hdr(&s->rec.hdr, MT_KIND_USER_STACK, probe);
	s->rec.hdr.ts_ns = ts_ns;
	s->rec.every = every;
	s->rec._pad = 0;
	if (n < 0) {
		s->rec.err = n;
		n = 0;
	} else {
		s->rec.err = 0;
	}
	if (n > (long)sizeof(s->rec.ips))
		n = sizeof(s->rec.ips);
	s->rec.nr = n / sizeof(__u64);
	size = __builtin_offsetof(struct mt_stack, ips) + (__u64)(n & ~7L);
	tgid = s->rec.hdr.tgid;
	wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes;
	if (!bpf_map_lookup_elem(&mt_stack_tgids, &tgid)) {
		bpf_map_update_elem(&mt_stack_tgids, &tgid, &seen, BPF_ANY);
		wake = true;
	}
	n = bpf_ringbuf_output(&events, &s->rec, size,
			       wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	st = mt_stat_slot(probe);
	if (st) {
		if (n)
			st->lost++;
		else
			st->events++;
	}
}

#endif
