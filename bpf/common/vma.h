/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* VMA flags, and the mm's VMA sequence for per-task caches of the last VMA a fault hit. */
#ifndef MT_VMA_H
#define MT_VMA_H

#include "runtime.h"

/* vm_flags bits (include/linux/mm.h), unchanged since 2.6. */
#define MT_VM_SHARED 0x00000008UL
#define MT_VM_GROWSDOWN 0x00000100UL
#define MT_VM_PFNMAP 0x00000400UL
#define MT_VM_IO 0x00004000UL
#define MT_VM_HUGETLB 0x00400000UL
/* include/uapi/linux/magic.h */
#define MT_TMPFS_MAGIC 0x01021994

/*
 * The mm's VMA sequence: changed by every write-locked change of its VMAs
 * (6.12+: a seqcount, odd while write-locked; 6.4-6.11: an int bumped at
 * each write unlock). False where the kernel has none (before 6.4) or a
 * change is under way: then every fault looks its VMA up.
 */
struct mm_struct___seqcount {
	seqcount_t mm_lock_seq;
} __attribute__((preserve_access_index));

struct mm_struct___intseq {
	int mm_lock_seq;
} __attribute__((preserve_access_index));

static __always_inline bool mm_vma_seq(struct mm_struct *mm, __u32 *seq)
{
	struct mm_struct___seqcount *a = (void *)mm;
	struct mm_struct___intseq *b = (void *)mm;

	if (!mm)
		return false;
	/* Plain loads through the mm's BTF type, not probe reads (~20 ns less a fault). */
	if (bpf_core_field_exists(a->mm_lock_seq.sequence)) {
		*seq = a->mm_lock_seq.sequence;
		return !(*seq & 1);
	}
	if (bpf_core_field_exists(b->mm_lock_seq)) {
		*seq = b->mm_lock_seq;
		return true;
	}
	return false;
}

#endif
