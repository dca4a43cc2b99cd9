/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_MEMLEAK_H
#define MT_MEMLEAK_H

#include "../common/event.h"

/* Frames kept per allocation stack: as MT_STACK_MAX (common/stacks.h). */
#define MEMLEAK_STACK_MAX 127

enum memleak_kind {
	MEMLEAK_ALLOC = 1, /* struct memleak_alloc */
	MEMLEAK_FREE = 2,  /* struct memleak_free */
};

/* The C library calls, in the order of the `call` column's names. */
enum memleak_call {
	MEMLEAK_MALLOC = 0,
	MEMLEAK_CALLOC = 1,
	MEMLEAK_REALLOC = 2,
	MEMLEAK_REALLOCARRAY = 3,
	MEMLEAK_POSIX_MEMALIGN = 4,
	MEMLEAK_ALIGNED_ALLOC = 5,
	MEMLEAK_MEMALIGN = 6,
	MEMLEAK_VALLOC = 7,
	MEMLEAK_PVALLOC = 8,
	MEMLEAK_MMAP = 9,
	MEMLEAK_FREE_CALL = 10,
	MEMLEAK_MUNMAP = 11,
};

/*
 * Stat slots, one per program: the entry of each call (free and munmap
 * count their records there), then the return of each allocating call
 * (its records, and its losses: a full ring or a full tracking table).
 */
enum memleak_probe {
	MEMLEAK_PROBE_MALLOC = 0,
	MEMLEAK_PROBE_CALLOC = 1,
	MEMLEAK_PROBE_REALLOC = 2,
	MEMLEAK_PROBE_REALLOCARRAY = 3,
	MEMLEAK_PROBE_POSIX_MEMALIGN = 4,
	MEMLEAK_PROBE_ALIGNED_ALLOC = 5,
	MEMLEAK_PROBE_MEMALIGN = 6,
	MEMLEAK_PROBE_VALLOC = 7,
	MEMLEAK_PROBE_PVALLOC = 8,
	MEMLEAK_PROBE_MMAP = 9,
	MEMLEAK_PROBE_FREE = 10,
	MEMLEAK_PROBE_MUNMAP = 11,
	MEMLEAK_PROBE_MALLOC_RET = 12,
	MEMLEAK_PROBE_CALLOC_RET = 13,
	MEMLEAK_PROBE_REALLOC_RET = 14,
	MEMLEAK_PROBE_REALLOCARRAY_RET = 15,
	MEMLEAK_PROBE_POSIX_MEMALIGN_RET = 16,
	MEMLEAK_PROBE_ALIGNED_ALLOC_RET = 17,
	MEMLEAK_PROBE_MEMALIGN_RET = 18,
	MEMLEAK_PROBE_VALLOC_RET = 19,
	MEMLEAK_PROBE_PVALLOC_RET = 20,
	MEMLEAK_PROBE_MMAP_RET = 21,
};

/* The return slot of an allocating call: this plus its enum memleak_call. */
#define MEMLEAK_PROBE_RET 12

/* Bits of memleak_alloc.flags. */
enum memleak_flag {
	MEMLEAK_F_ALIGN = 1,     /* align is the alignment asked for */
	MEMLEAK_F_OLD = 2,       /* old_address is realloc's block (maybe 0) */
	MEMLEAK_F_OLD_FREED = 4, /* old_address was tracked and is freed by this call */
	MEMLEAK_F_STACK = 8,     /* a stack was asked for (nr, stack_err) */
};

/*
 * One allocation that returned memory and was sampled, written at the
 * call's return in the calling thread. Only the first nr entries of ips
 * are sent: the record's length is the offset of ips plus 8 * nr.
 */
struct memleak_alloc {
	struct mt_hdr hdr;
	__u64 address;
	__u64 size;         /* bytes asked for */
	__u64 align;        /* with MEMLEAK_F_ALIGN */
	__u64 old_address;  /* with MEMLEAK_F_OLD */
	__u64 sample_bytes; /* the byte sampling period; 0: every allocation */
	__u32 call;         /* enum memleak_call */
	__u32 flags;        /* enum memleak_flag */
	__s32 stack_err;    /* bpf_get_stack's error when nr is 0, else 0 */
	__u32 nr;           /* frames in ips; ips[0] is the return address in the caller */
	__u64 ips[MEMLEAK_STACK_MAX];
};

/* A free of a tracked address (free, munmap, or realloc's old block). */
struct memleak_free {
	struct mt_hdr hdr;
	__u64 address;
	__u32 call; /* enum memleak_call */
	__u32 _pad;
};

#endif
