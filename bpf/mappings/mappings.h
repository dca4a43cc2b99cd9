/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_MAPPINGS_H
#define MT_MAPPINGS_H

#include "../common/event.h"

/* Path components kept for a file-backed mapping, and their length. */
#define MAPPINGS_PATH_PARTS 6
#define MAPPINGS_PATH_LEN 64

enum mappings_kind {
	MAPPINGS_CALL = 1,      /* struct mappings_call */
	MAPPINGS_CALL_FILE = 2, /* struct mappings_call_file: an mmap of a file */
};

/* Stat slots: one per program, entry (writes no record) and return per call. */
enum mappings_probe {
	MAPPINGS_PROBE_ENTER_MMAP = 0,
	MAPPINGS_PROBE_ENTER_MUNMAP = 1,
	MAPPINGS_PROBE_ENTER_MREMAP = 2,
	MAPPINGS_PROBE_ENTER_BRK = 3,
	MAPPINGS_PROBE_ENTER_MADVISE = 4,
	MAPPINGS_PROBE_ENTER_MPROTECT = 5,
	MAPPINGS_PROBE_ENTER_SHMGET = 6,
	MAPPINGS_PROBE_ENTER_SHMAT = 7,
	MAPPINGS_PROBE_ENTER_SHMDT = 8,
	MAPPINGS_PROBE_ENTER_SHMCTL = 9,
	MAPPINGS_PROBE_EXIT_MMAP = 10,
	MAPPINGS_PROBE_EXIT_MUNMAP = 11,
	MAPPINGS_PROBE_EXIT_MREMAP = 12,
	MAPPINGS_PROBE_EXIT_BRK = 13,
	MAPPINGS_PROBE_EXIT_MADVISE = 14,
	MAPPINGS_PROBE_EXIT_MPROTECT = 15,
	MAPPINGS_PROBE_EXIT_SHMGET = 16,
	MAPPINGS_PROBE_EXIT_SHMAT = 17,
	MAPPINGS_PROBE_EXIT_SHMDT = 18,
	MAPPINGS_PROBE_EXIT_SHMCTL = 19,
};

/* The calls recorded, in the order of the `call` column's names. */
enum mappings_call_id {
	MAPPINGS_MMAP = 0,
	MAPPINGS_MUNMAP = 1,
	MAPPINGS_MREMAP = 2,
	MAPPINGS_BRK = 3,
	MAPPINGS_MADVISE = 4,
	MAPPINGS_MPROTECT = 5,
	MAPPINGS_SHMGET = 6,
	MAPPINGS_SHMAT = 7,
	MAPPINGS_SHMDT = 8,
	MAPPINGS_SHMCTL = 9,
};

/*
 * One call, written at its return (syscalls:sys_exit_<call>) with the
 * arguments saved at its entry on the same thread. hdr.ts_ns is the return.
 */
struct mappings_call {
	struct mt_hdr hdr;
	__u64 duration_ns; /* entry to return */
	__u64 args[6];     /* the syscall's arguments, raw */
	__s64 ret;         /* raw return value: -errno on failure */
	__u64 prev_brk;    /* brk: mm->brk at entry */
	/*
	 * shmat: the VMA at the returned address; shmdt: the VMA at shmaddr
	 * at entry. Both the segment's attached size.
	 */
	__u64 vma_start;
	__u64 vma_end;
	__u32 call; /* enum mappings_call_id */
	__u32 has_vma;
};

/*
 * One path component, NUL-terminated within its 64 bytes. Two halves
 * because the Rust side derives Default, which arrays over 32 lack.
 */
struct mappings_name {
	char head[MAPPINGS_PATH_LEN / 2];
	char tail[MAPPINGS_PATH_LEN / 2];
};

/*
 * An mmap that returned a file-backed mapping: the file's name as dentry
 * names from the file up to the root of its mount, and on through the
 * mounts it sits under (parts[0] is the file's own name).
 */
struct mappings_call_file {
	struct mappings_call c;
	__u64 ino;
	__u32 nparts;   /* entries used in parts[] */
	__u32 complete; /* 1: the walk reached the root; 0: the name is cut at its top */
	struct mappings_name parts[MAPPINGS_PATH_PARTS];
};

#endif
