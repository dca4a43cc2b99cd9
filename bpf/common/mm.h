/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading an mm_struct's counters the way /proc/PID/status does. */
#ifndef MT_MM_H
#define MT_MM_H

#include "runtime.h"

/*
 * Per-CPU offsets without kernel symbols: our own per-CPU stats map holds a
 * per-CPU pointer (bpf_array.pptrs[0]); looking its element up on a given CPU
 * returns that pointer plus the CPU's offset, so their difference is the
 * offset. It is the same for every per-CPU allocation, rss_stat included.
 */
/*
 * A pointer as a plain number. The verifier forbids arithmetic on some
 * pointer types; reading the spilled pointer back through a helper gives a
 * number (privileged programs may see addresses).
 */
static __always_inline __u64 mt_addr(const void *p)
{
	const void *slot = p;
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &slot);
	return v;
}

static __always_inline __s64 mt_cpu_offset(__u32 cpu)
{
	struct bpf_array *arr = (struct bpf_array *)(void *)&stats;
	__u64 pptrs = mt_addr(arr) + bpf_core_field_offset(arr->pptrs);
	__u32 zero = 0;
	__u64 base = 0;
	void *elem;

	bpf_probe_read_kernel(&base, sizeof(base), (void *)pptrs);
	elem = bpf_map_lookup_percpu_elem(&stats, &zero, cpu);
	if (!elem || !base)
		return 0;
	return (__s64)(mt_addr(elem) - base);
}

struct mt_pcp_sum_ctx {
	__u64 base;
	__s64 sum;
	bool ok;
};

static long mt_pcp_sum_cb(__u64 cpu, struct mt_pcp_sum_ctx *c)
{
	__s64 off = mt_cpu_offset(cpu);
	__s32 v = 0;

	if (!off) {
		c->ok = false;
		return 1;
	}
	bpf_probe_read_kernel(&v, sizeof(v), (void *)(c->base + off));
	c->sum += v;
	return 0;
}

/*
 * percpu_counter_sum(): the global count plus every CPU's pending delta.
 * Without the per-CPU part a counter can lag by up to 32 pages per CPU.
 */
static __always_inline __u64 mt_mm_counter(struct mm_struct *mm, int item)
{
	struct percpu_counter *pc = &mm->rss_stat[item & 3];
	struct mt_pcp_sum_ctx c = { .ok = true };
	__s64 approx;

	approx = BPF_CORE_READ(pc, count);
	c.sum = approx;
	c.base = (__u64)BPF_CORE_READ(pc, counters);
	if (c.base)
		bpf_loop(cfg.nr_cpus, mt_pcp_sum_cb, &c, 0);
	if (!c.ok)
		c.sum = approx;
	return c.sum < 0 ? 0 : c.sum;
}

/* Fast approximate value, used only to notice that something changed. */
static __always_inline __s64 mt_mm_counter_approx(struct mm_struct *mm, int item)
{
	return BPF_CORE_READ(mm, rss_stat[item & 3].count);
}

/*
 * The rss_stat indexes live in an anonymous enum, which CO-RE cannot name;
 * they have kept these values since MM_SHMEMPAGES was added in 4.5.
 */
#define MT_MM_FILEPAGES 0
#define MT_MM_ANONPAGES 1
#define MT_MM_SWAPENTS 2
#define MT_MM_SHMEMPAGES 3

#endif
