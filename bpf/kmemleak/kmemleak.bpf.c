// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kmemleak: kernel allocations that pass the filters (size, cache, task)
 * and the byte sampling, each with its kernel stack, and the frees of
 * exactly those allocations.
 *
 * kmalloc and kfree fire hundreds of thousands of times a second on a busy
 * machine, so the order of the tests is the order of their cost: the size
 * and the live flag, the cache filter, a failed allocation, the task
 * filter, then the sampling; a free whose address was not recorded is one
 * read of a small array (kml_maybe), or one hash look-up. Slab and percpu
 * events are tp_btf (arguments in registers); page events are classic
 * tracepoints because only they carry the pfn (a struct page's pfn needs
 * vmemmap_base, which BPF cannot read on every kernel). Every kernel from
 * 6.1 to 6.18 has the same prototypes for these tracepoints.
 */
#include "../common/runtime.h"
#include "../common/alloc.h"
#include "kmemleak.h"

/* Dummy instances so the skeleton also generates these types. */
enum kmemleak_kind _kml_kind = 0;
enum kml_what _kml_what = 0;
enum kmemleak_probe _kml_probe = 0;
enum kml_kmalloc_type _kml_kmalloc_type = 0;
struct kml_alloc _kml_alloc = {};
struct kml_free _kml_free = {};

const volatile struct mt_alloc_cfg alloc_cfg = {};
const volatile struct kml_config kml_cfg = {};

/*
 * The address spaces of the tracked hash, in the key's top two bits (a
 * pfn, a __percpu pointer and a slab address can be equal numbers; kernel
 * virtual addresses all have both top bits set, so nothing is lost).
 */
#define KML_SPACE_SHIFT 62
#define KML_SPACE_MASK (3ULL << KML_SPACE_SHIFT)
#define KML_SPACE_SLAB 3ULL
#define KML_SPACE_PAGE 1ULL
#define KML_SPACE_PERCPU 2ULL

static __always_inline __u64 kml_key(__u64 space, __u64 addr)
{
	return (addr & ~KML_SPACE_MASK) | (space << KML_SPACE_SHIFT);
}

/*
 * Recorded allocations not yet freed: key as kml_key, value the enum
 * kml_what. Preallocated, so an insert never allocates (this runs inside
 * the allocator) and a full hash fails the insert, which is counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, __u32);
} kml_tracked SEC(".maps");

/*
 * In front of the hash, for the frees: per slot of a hash of the key, how
 * many tracked allocations it may hold. A free whose slot is 0 was not
 * recorded and returns after one read of a small array, where the hash's
 * look-up would touch its megabytes of buckets: with sampling or filters
 * nearly every free is such a one. A count only errs high (an address
 * tracked again without a free seen counts twice), so no recorded free is
 * missed.
 */
#define KML_MAYBE_BITS 16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << KML_MAYBE_BITS);
	__type(key, __u32);
	__type(value, __u32);
} kml_maybe SEC(".maps");

static __always_inline __u32 *kml_maybe_slot(__u64 key)
{
	/* Fibonacci hashing: spread addresses that differ in a few bits. */
	__u32 i = (key * 0x9E3779B97F4A7C15ULL) >> (64 - KML_MAYBE_BITS);

	return bpf_map_lookup_elem(&kml_maybe, &i);
}

/*
 * Per CPU, the record being built, one per allocating program: the kernel
 * never runs a program inside itself on one CPU, but an interrupt's
 * allocation can run another one in the middle of a record.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct kml_alloc);
} kml_scratch SEC(".maps");

/*
 * A tp_btf argument that is a pointer to void. 6.1's verifier refuses a
 * direct read of such an argument from the context ("arg1 type UNKNOWN is
 * not a struct"; later kernels take it as a scalar), so it is copied out
 * of the context with a probe read, which every kernel takes. The other
 * arguments are read directly.
 */
static __always_inline __u64 kml_void_arg(__u64 *ctx, int i)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), ctx + i);
	return v;
}

/* Whether --kmem-cache was given: then pages and percpu areas are left out. */
static __always_inline bool kml_cache_filter(void)
{
	return kml_cfg.nr_caches || kml_cfg.nr_kmalloc;
}

static __always_inline bool kml_name_wanted(const char *name)
{
	for (int i = 0; i < KML_MAX_CACHES; i++) {
		if (i >= kml_cfg.nr_caches)
			return false;
		for (int j = 0; j < KML_NAME_LEN; j++) {
			if (name[j] != kml_cfg.caches[i][j])
				break;
			if (!name[j])
				return true;
		}
	}
	return false;
}

/* The kmalloc cache an allocation came from: its type and object size. */
static __always_inline bool kml_kmalloc_wanted(__u32 gfp, __u64 bytes_alloc)
{
	__u64 type = KML_KMALLOC_NORMAL, key;

	if (gfp & kml_cfg.gfp_dma)
		type = KML_KMALLOC_DMA;
	else if (gfp & kml_cfg.gfp_reclaimable)
		type = KML_KMALLOC_RECLAIM;
	else if (gfp & kml_cfg.gfp_account)
		type = KML_KMALLOC_CGROUP;
	key = type << 32 | bytes_alloc;
	for (int i = 0; i < KML_MAX_CACHES; i++) {
		if (i >= kml_cfg.nr_kmalloc)
			return false;
		if (kml_cfg.kmalloc[i] == key)
			return true;
	}
	return false;
}

/* The first tests every allocation passes: recording, and big enough. */
static __always_inline bool kml_wanted(__u64 bytes)
{
	return bytes >= alloc_cfg.min_size && mt_live();
}

static __always_inline struct kml_alloc *kml_scratch_for(__u32 what)
{
	__u32 i = what - 1;

	return bpf_map_lookup_elem(&kml_scratch, &i);
}

/*
 * Frames of the tracing itself at the top of a stack. Always there, and
 * left out by bpf_get_stack: the program and bpf_trace_run<N> for tp_btf;
 * none for a classic tracepoint (its registers are taken where the event
 * is raised). Then the tracepoint's iterator, __traceiter_<event>, is
 * there only while more than one probe is attached to the tracepoint (with
 * one, the kernel calls it directly): its return address is recognized by
 * the iterator's own address (a short function; the kernel symbol through
 * libbpf, 0 where kallsyms hides it) and the record's `first` skips it.
 */
#define KML_SKIP_TP_BTF 2
#define KML_SKIP_TP 0
#define KML_ITER_SIZE 0x100

extern const void __traceiter_kmalloc __ksym __weak;
extern const void __traceiter_kmem_cache_alloc __ksym __weak;
extern const void __traceiter_mm_page_alloc __ksym __weak;
extern const void __traceiter_percpu_alloc_percpu __ksym __weak;

/*
 * After the filters: the task filter, the sampling, the tracking, and the
 * record with its stack. A full tracking hash or ring leaves the
 * allocation out, counted, and untracked (its free is then not recorded
 * either). `cache_name`, when not NULL, is read into the record here, only
 * for the allocations recorded.
 */
static __always_inline void kml_emit(void *ctx, __u32 probe, struct kml_alloc *r, __u64 key,
				     __u64 skip, __u64 iter, const char *cache_name)
{
	__u32 what = r->what, *maybe;
	struct mt_stat *st;
	__u64 size;
	long n = 0;

	if (!mt_current_selected())
		return;
	if (!mt_alloc_sampled(&alloc_cfg, r->bytes_alloc))
		return;
	/* A full hash: not recorded, since its free could not be; counted as
	 * lost in the program's slot, as a full ring is. */
	maybe = kml_maybe_slot(key);
	if (!maybe || bpf_map_update_elem(&kml_tracked, &key, &what, BPF_ANY)) {
		mt_count_lost(probe);
		return;
	}
	__sync_fetch_and_add(maybe, 1);
	mt_fill_hdr(&r->hdr, KML_ALLOC, probe);
	if (cache_name)
		bpf_probe_read_kernel_str(r->cache, sizeof(r->cache), cache_name);
	r->sample_bytes = alloc_cfg.sample_bytes;
	r->stacks = alloc_cfg.stacks;
	r->stack_err = 0;
	r->first = 0;
	if (alloc_cfg.stacks) {
		n = bpf_get_stack(ctx, r->ips, sizeof(r->ips), skip & BPF_F_SKIP_FIELD_MASK);
		if (n < 0) {
			r->stack_err = n;
			n = 0;
		}
	}
	if (n > (long)sizeof(r->ips))
		n = sizeof(r->ips);
	r->nr = n / sizeof(__u64);
	if (r->nr > 1 && iter && r->ips[0] - iter < KML_ITER_SIZE)
		r->first = 1;
	size = __builtin_offsetof(struct kml_alloc, ips) + (__u64)(n & ~7L);
	if (bpf_ringbuf_output(&events, r, size,
			       bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes
				       ? BPF_RB_FORCE_WAKEUP
				       : BPF_RB_NO_WAKEUP)) {
		if (!bpf_map_delete_elem(&kml_tracked, &key))
			__sync_fetch_and_add(maybe, -1);
		mt_count_lost(probe);
		return;
	}
	st = mt_stat_slot(probe);
	if (st)
		st->events++;
}

/* A free: recorded only when its allocation was, and then untracked. */
static __always_inline void kml_free(__u32 probe, __u64 key, __u64 address, __u64 call_site)
{
	__u32 *maybe = kml_maybe_slot(key), *tracked;
	struct kml_free *e;
	__u32 what;

	if (!maybe || !*maybe)
		return;
	tracked = bpf_map_lookup_elem(&kml_tracked, &key);
	if (!tracked)
		return;
	what = *tracked;
	if (!bpf_map_delete_elem(&kml_tracked, &key))
		__sync_fetch_and_add(maybe, -1);
	e = mt_reserve(probe, sizeof(*e));
	if (!e)
		return;
	mt_fill_hdr(&e->hdr, KML_FREE, probe);
	e->address = address;
	e->call_site = call_site;
	e->what = what;
	e->_pad = 0;
	mt_submit(e);
}

/* (call_site, ptr, bytes_req, bytes_alloc, gfp_flags, node) */
SEC("tp_btf/kmalloc")
int kml_kmalloc(__u64 *ctx)
{
	__u64 call_site = ctx[0], bytes_req = ctx[2], bytes_alloc = ctx[3], ptr;
	__u32 gfp_flags = ctx[4];
	__s32 node = ctx[5];
	struct kml_alloc *r;

	if (!kml_wanted(bytes_alloc))
		return 0;
	ptr = kml_void_arg(ctx, 1);
	if (!ptr)
		return 0;
	if (kml_cache_filter() && !kml_kmalloc_wanted(gfp_flags, bytes_alloc))
		return 0;
	r = kml_scratch_for(KML_KMALLOC);
	if (!r)
		return 0;
	r->what = KML_KMALLOC;
	r->address = ptr;
	r->bytes_req = bytes_req;
	r->bytes_alloc = bytes_alloc;
	r->call_site = call_site;
	r->gfp = gfp_flags;
	r->node = node;
	r->order = 0;
	r->cache[0] = 0;
	kml_emit(ctx, KML_PROBE_KMALLOC, r, kml_key(KML_SPACE_SLAB, ptr),
		 KML_SKIP_TP_BTF, (__u64)&__traceiter_kmalloc, NULL);
	return 0;
}

/* (call_site, ptr, s, gfp_flags, node) */
SEC("tp_btf/kmem_cache_alloc")
int kml_cache_alloc(__u64 *ctx)
{
	struct kmem_cache *s = (struct kmem_cache *)ctx[2];
	__u64 call_site = ctx[0], ptr, bytes;
	__u32 gfp_flags = ctx[3];
	__s32 node = ctx[4];
	struct kml_alloc *r;
	const char *name;

	if (!s)
		return 0;
	bytes = s->size;
	if (!kml_wanted(bytes))
		return 0;
	if (kml_cfg.nr_kmalloc && !kml_cfg.nr_caches)
		return 0;
	ptr = kml_void_arg(ctx, 1);
	if (!ptr)
		return 0;
	r = kml_scratch_for(KML_CACHE);
	if (!r)
		return 0;
	/* The name is read before the other filters only when it is one. */
	name = s->name;
	if (kml_cfg.nr_caches) {
		bpf_probe_read_kernel_str(r->cache, sizeof(r->cache), name);
		if (!kml_name_wanted(r->cache))
			return 0;
		name = NULL;
	}
	r->what = KML_CACHE;
	r->address = ptr;
	r->bytes_req = s->object_size;
	r->bytes_alloc = bytes;
	r->call_site = call_site;
	r->gfp = gfp_flags;
	r->node = node;
	r->order = 0;
	kml_emit(ctx, KML_PROBE_CACHE_ALLOC, r, kml_key(KML_SPACE_SLAB, ptr),
		 KML_SKIP_TP_BTF, (__u64)&__traceiter_kmem_cache_alloc, name);
	return 0;
}

/* (call_site, ptr) */
SEC("tp_btf/kfree")
int kml_kfree(__u64 *ctx)
{
	__u64 ptr = kml_void_arg(ctx, 1);

	if (ptr)
		kml_free(KML_PROBE_KFREE, kml_key(KML_SPACE_SLAB, ptr), ptr, ctx[0]);
	return 0;
}

/* (call_site, ptr, s) */
SEC("tp_btf/kmem_cache_free")
int kml_cache_free(__u64 *ctx)
{
	__u64 ptr = kml_void_arg(ctx, 1);

	if (ptr)
		kml_free(KML_PROBE_CACHE_FREE, kml_key(KML_SPACE_SLAB, ptr), ptr, ctx[0]);
	return 0;
}

SEC("tp/kmem/mm_page_alloc")
int kml_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	__u64 pfn = ctx->pfn;
	__u32 order = ctx->order;
	struct kml_alloc *r;
	__u64 bytes;

	/* A failed allocation has pfn -1 (paf records those). */
	if (pfn == ~0ULL || kml_cache_filter())
		return 0;
	bytes = 1ULL << ((kml_cfg.page_shift + order) & 63);
	if (!kml_wanted(bytes))
		return 0;
	r = kml_scratch_for(KML_PAGE);
	if (!r)
		return 0;
	r->what = KML_PAGE;
	r->address = pfn;
	r->bytes_req = 0;
	r->bytes_alloc = bytes;
	r->call_site = 0;
	r->gfp = ctx->gfp_flags;
	r->node = -1;
	r->order = order;
	r->cache[0] = 0;
	kml_emit(ctx, KML_PROBE_PAGE_ALLOC, r, kml_key(KML_SPACE_PAGE, pfn),
		 KML_SKIP_TP, (__u64)&__traceiter_mm_page_alloc, NULL);
	return 0;
}

SEC("tp/kmem/mm_page_free")
int kml_page_free(struct trace_event_raw_mm_page_free *ctx)
{
	__u64 pfn = ctx->pfn;

	kml_free(KML_PROBE_PAGE_FREE, kml_key(KML_SPACE_PAGE, pfn), pfn, 0);
	return 0;
}

/* Pages freed from a list also fire mm_page_free first on the kernels
 * here; whichever comes first finds the page tracked. */
SEC("tp/kmem/mm_page_free_batched")
int kml_page_free_batched(struct trace_event_raw_mm_page_free_batched *ctx)
{
	__u64 pfn = ctx->pfn;

	kml_free(KML_PROBE_PAGE_FREE_BATCHED, kml_key(KML_SPACE_PAGE, pfn), pfn, 0);
	return 0;
}

/* (call_site, reserved, is_atomic, size, align, base_addr, off, ptr, bytes_alloc, gfp_flags) */
SEC("tp_btf/percpu_alloc_percpu")
int kml_percpu_alloc(__u64 *ctx)
{
	__u64 call_site = ctx[0], size = ctx[3], bytes_alloc = ctx[8], ptr;
	__u32 gfp_flags = ctx[9];
	struct kml_alloc *r;

	if (kml_cache_filter() || !kml_wanted(bytes_alloc))
		return 0;
	ptr = kml_void_arg(ctx, 7);
	if (!ptr)
		return 0;
	r = kml_scratch_for(KML_PERCPU);
	if (!r)
		return 0;
	r->what = KML_PERCPU;
	r->address = ptr;
	r->bytes_req = size;
	r->bytes_alloc = bytes_alloc;
	r->call_site = call_site;
	r->gfp = gfp_flags;
	r->node = -1;
	r->order = 0;
	r->cache[0] = 0;
	kml_emit(ctx, KML_PROBE_PERCPU_ALLOC, r, kml_key(KML_SPACE_PERCPU, ptr),
		 KML_SKIP_TP_BTF, (__u64)&__traceiter_percpu_alloc_percpu, NULL);
	return 0;
}

/* (base_addr, off, ptr) */
SEC("tp_btf/percpu_free_percpu")
int kml_percpu_free(__u64 *ctx)
{
	__u64 ptr = kml_void_arg(ctx, 2);

	if (ptr)
		kml_free(KML_PROBE_PERCPU_FREE, kml_key(KML_SPACE_PERCPU, ptr), ptr, 0);
	return 0;
}
