/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the allocation groups (kmemleak, memleak) share: their settings and
 * byte sampling. Include after runtime.h.
 *
 * Byte sampling works as tcmalloc's heap profiler: the sampled points form
 * a Poisson process over the bytes allocated, with a mean gap of
 * `sample_bytes`. Each CPU keeps the bytes left until its next sample; an
 * allocation of n bytes that reaches it is sampled, and a new gap is drawn
 * from the exponential distribution (memoryless, so the leftover is thrown
 * away and no allocation's chance depends on earlier ones). An allocation
 * of n bytes is thus kept with probability 1 - exp(-n / sample_bytes),
 * which memana inverts to estimate counts and bytes. BPF has no floating
 * point, so the gaps come from a table of exponential quantiles that memrec
 * computes (`exp_q`, in 1/65536 of the mean) indexed by a random number.
 */
#ifndef MT_ALLOC_H
#define MT_ALLOC_H

#define MT_EXP_Q 1024

struct mt_alloc_cfg {
	__u64 sample_bytes;        /* mean gap between samples; 0: every allocation */
	__u64 min_size;            /* smaller allocations are not recorded */
	__u32 stacks;              /* 1: record the stack of each allocation */
	__u32 _pad;
	__u32 exp_q[MT_EXP_Q];     /* -ln(1 - (i + 0.5) / MT_EXP_Q) * 65536 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} mt_alloc_left SEC(".maps");

/* Whether an allocation of `bytes` is recorded, under the byte sampling. */
static __always_inline bool mt_alloc_sampled(const volatile struct mt_alloc_cfg *c, __u64 bytes)
{
	__u32 zero = 0, i;
	__s64 *left;

	if (bytes < c->min_size)
		return false;
	if (!c->sample_bytes)
		return true;
	left = bpf_map_lookup_elem(&mt_alloc_left, &zero);
	if (!left)
		return false;
	if (!*left) /* this CPU's first allocation: draw its first gap */
		*left = (__s64)((c->sample_bytes * c->exp_q[bpf_get_prandom_u32() & (MT_EXP_Q - 1)]) >> 16) + 1;
	*left -= (__s64)bytes;
	if (*left > 0)
		return false;
	i = bpf_get_prandom_u32() & (MT_EXP_Q - 1);
	*left = (__s64)((c->sample_bytes * c->exp_q[i]) >> 16) + 1;
	return true;
}

#endif
