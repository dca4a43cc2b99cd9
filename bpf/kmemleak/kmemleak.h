/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_KMEMLEAK_H
#define MT_KMEMLEAK_H

#include "../common/event.h"

/* Frames kept per kernel stack (MT_STACK_MAX in stacks.h). */
#define KML_STACK_MAX 127
/* --kmem-cache names at most, and the bytes kept of a cache's name. */
#define KML_MAX_CACHES 8
#define KML_NAME_LEN 32

enum kmemleak_kind {
	KML_ALLOC = 1, /* struct kml_alloc */
	KML_FREE = 2,  /* struct kml_free */
};

/* What allocated; the `kind` column. */
enum kml_what {
	KML_KMALLOC = 1,
	KML_CACHE = 2,
	KML_PAGE = 3,
	KML_PERCPU = 4,
};

enum kmemleak_probe {
	KML_PROBE_KMALLOC = 0,
	KML_PROBE_CACHE_ALLOC = 1,
	KML_PROBE_KFREE = 2,
	KML_PROBE_CACHE_FREE = 3,
	KML_PROBE_PAGE_ALLOC = 4,
	KML_PROBE_PAGE_FREE = 5,
	KML_PROBE_PAGE_FREE_BATCHED = 6,
	KML_PROBE_PERCPU_ALLOC = 7,
	KML_PROBE_PERCPU_FREE = 8,
};

/* kmalloc cache types, as the kernel's kmalloc_type() picks them from gfp. */
enum kml_kmalloc_type {
	KML_KMALLOC_NORMAL = 0,
	KML_KMALLOC_CGROUP = 1,  /* kmalloc-cg-*: __GFP_ACCOUNT */
	KML_KMALLOC_RECLAIM = 2, /* kmalloc-rcl-*: __GFP_RECLAIMABLE */
	KML_KMALLOC_DMA = 3,     /* dma-kmalloc-*: __GFP_DMA */
};

/* Settings written into .rodata before load (the sampling: alloc.h's). */
struct kml_config {
	/* --kmem-cache: 0 records every allocation; else only these caches
	 * (and no pages or percpu areas). */
	__u32 nr_caches;
	__u32 nr_kmalloc;
	char caches[KML_MAX_CACHES][KML_NAME_LEN]; /* names of non-kmalloc caches */
	__u64 kmalloc[KML_MAX_CACHES];            /* kmalloc caches: type << 32 | object size */
	/* This kernel's gfp bits that pick a kmalloc cache type (from the
	 * tracepoint format: their values differ between kernels). */
	__u32 gfp_dma;
	__u32 gfp_reclaimable;
	__u32 gfp_account;
	__u32 page_shift;
};

/*
 * One recorded allocation; only the first nr entries of ips are sent. The
 * tracked-address hash holds it until its free.
 */
struct kml_alloc {
	struct mt_hdr hdr;    /* the allocating task */
	__u64 address;        /* object address; pfn for pages; the __percpu pointer */
	__u64 bytes_req;      /* 0 for pages */
	__u64 bytes_alloc;
	__u64 call_site;      /* 0 for pages */
	__u64 sample_bytes;   /* the byte sampling period; 0: every allocation */
	__u32 gfp;
	__s32 node;           /* NUMA node asked for; kmalloc and cache only */
	__u32 what;           /* enum kml_what */
	__u32 order;          /* pages only */
	char cache[KML_NAME_LEN]; /* cache only */
	__u32 stacks;         /* 1: a stack was asked for (--no-alloc-stacks: 0) */
	__s32 stack_err;      /* bpf_get_stack's error when nr is 0, else 0 */
	__u32 nr;             /* frames in ips[]; ips[0] is the innermost */
	__u32 first;          /* the stack starts at ips[first]: 1 when ips[0] is the
			       * tracepoint's iterator, 0 when it is the allocator */
	__u64 ips[KML_STACK_MAX];
};

/* The free of a tracked allocation. */
struct kml_free {
	struct mt_hdr hdr; /* the freeing task */
	__u64 address;
	__u64 call_site;   /* 0 for pages and percpu */
	__u32 what;        /* enum kml_what of the allocation */
	__u32 _pad;
};

#endif
