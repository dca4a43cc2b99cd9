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

/*
 * Offsets found so far, one per CPU: they never change while the system
 * runs, and deriving one costs a map lookup and two kernel reads.
 */
#define MT_MAX_CPUS 1024
static __s64 mt_cpu_offs[MT_MAX_CPUS];

static __always_inline __s64 mt_cpu_offset_cached(__u32 cpu)
{
	if (cpu >= MT_MAX_CPUS)
		return mt_cpu_offset(cpu);
	__s64 off = mt_cpu_offs[cpu & (MT_MAX_CPUS - 1)];

	if (!off) {
		off = mt_cpu_offset(cpu);
		mt_cpu_offs[cpu & (MT_MAX_CPUS - 1)] = off;
	}
	return off;
}

#define MT_NR_MM_COUNTERS 4

/*
 * Before 6.2 mm->rss_stat was one struct of atomic counters, and they are
 * what /proc reads (get_mm_counter): exact, with no per-CPU part. Since 6.2
 * it is an array of percpu_counters. The CO-RE flavour below names the old
 * layout; whichever one the kernel lacks is never run.
 */
struct mm_rss_stat___pre62 {
	atomic_long_t count[MT_NR_MM_COUNTERS];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

static __always_inline bool mt_rss_is_atomic(void)
{
	return bpf_core_type_exists(struct mm_rss_stat___pre62);
}

/* A counter's shared count, without the per-CPU deltas of 6.2 and later. */
static __always_inline __s64 mt_rss_count(struct mm_struct *mm, int i)
{
	if (mt_rss_is_atomic()) {
		struct mm_struct___pre62 *old = (void *)mm;
		__s64 v = 0;

		/* Read, not loaded: 6.1's verifier cannot walk an atomic_long_t array. */
		bpf_core_read(&v, sizeof(v), &old->rss_stat.count[i].counter);
		return v;
	}
	return mm->rss_stat[i].count;
}

struct mt_rss_sum_ctx {
	__u64 base[MT_NR_MM_COUNTERS];
	__s64 sum[MT_NR_MM_COUNTERS];
	bool contiguous;
	bool ok;
};

static long mt_rss_sum_cb(__u64 cpu, struct mt_rss_sum_ctx *c)
{
	__s64 off = mt_cpu_offset_cached(cpu);

	if (!off) {
		c->ok = false;
		return 1;
	}
	if (c->contiguous) {
		/* One read for all four: they share one per-CPU allocation. */
		__s32 v[MT_NR_MM_COUNTERS] = {};

		bpf_probe_read_kernel(v, sizeof(v), (void *)(c->base[0] + off));
		for (int i = 0; i < MT_NR_MM_COUNTERS; i++)
			c->sum[i] += v[i];
		return 0;
	}
	for (int i = 0; i < MT_NR_MM_COUNTERS; i++) {
		__s32 v = 0;

		if (!c->base[i])
			continue;
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(c->base[i] + off));
		c->sum[i] += v;
	}
	return 0;
}

/*
 * get_mm_counter() of all four counters. Since 6.2 that is
 * percpu_counter_sum() of all four rss_stat counters in one pass over the
 * CPUs: the global count plus every CPU's pending delta. Without the
 * per-CPU part a counter can lag by up to 32 pages per CPU. Where the four
 * counters are one per-CPU allocation (percpu_counter_init_many, as on
 * 6.18) one read per CPU gets all four; otherwise each is read on its own.
 */
static __always_inline void mt_mm_counters(struct mm_struct *mm, __u64 out[MT_NR_MM_COUNTERS])
{
	struct mt_rss_sum_ctx c = { .ok = true, .contiguous = true };
	__s64 approx[MT_NR_MM_COUNTERS];
	bool any = false;

	if (mt_rss_is_atomic()) {
		for (int i = 0; i < MT_NR_MM_COUNTERS; i++) {
			__s64 v = mt_rss_count(mm, i);

			out[i] = v < 0 ? 0 : v;
		}
		return;
	}
	/* Plain loads: mm is a BTF pointer (see runtime.h). */
	for (int i = 0; i < MT_NR_MM_COUNTERS; i++) {
		approx[i] = mm->rss_stat[i].count;
		c.sum[i] = approx[i];
		c.base[i] = (__u64)mm->rss_stat[i].counters;
		any |= c.base[i] != 0;
		if (!c.base[i] || c.base[i] != c.base[0] + i * sizeof(__s32))
			c.contiguous = false;
	}
	if (any)
		bpf_loop(cfg.nr_cpus, mt_rss_sum_cb, &c, 0);
	for (int i = 0; i < MT_NR_MM_COUNTERS; i++) {
		__s64 v = c.ok ? c.sum[i] : approx[i];

		out[i] = v < 0 ? 0 : v;
	}
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
