/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_PROCSTAT_H
#define MT_PROCSTAT_H

#include "../common/event.h"

enum procstat_kind {
	PROCSTAT_SAMPLE = 1,
};

enum procstat_probe {
	PROCSTAT_PROBE_SWITCH = 0,
	PROCSTAT_PROBE_EXIT = 1,
	PROCSTAT_PROBE_RSS = 2,
	PROCSTAT_PROBE_TICK = 3,
	PROCSTAT_PROBE_SYNTHETIC = 4,
	PROCSTAT_PROBE_EXIT_MM = 5,
	PROCSTAT_PROBE_SWEEP = 6,
	/* Before the process may unmap memory (before_unmap()). */
	PROCSTAT_PROBE_MUNMAP = 7,
	PROCSTAT_PROBE_MREMAP = 8,
	PROCSTAT_PROBE_BRK = 9,
	PROCSTAT_PROBE_MADVISE = 10,
	PROCSTAT_PROBE_SHMDT = 11,
	PROCSTAT_PROBE_MMAP = 12,
};

/* task_struct->flags bit of a task in do_exit() (stable since 2.6). */
#define MT_PF_EXITING 0x00000004

/* task_struct->flags bit of kernel threads (stable since 2.6). */
#define MT_PF_KTHREAD 0x00200000

enum procstat_reason {
	PROCSTAT_REASON_SWITCH = 0, /* the task left the CPU */
	PROCSTAT_REASON_EXIT = 1,   /* the process is exiting */
	PROCSTAT_REASON_RSS = 2,    /* its RSS changed while it ran (kmem:rss_stat) */
	PROCSTAT_REASON_TICK = 3,   /* it was running when the per-CPU timer fired */
	PROCSTAT_REASON_SYNTHETIC = 4, /* written by memrec's load test, not by the kernel */
	PROCSTAT_REASON_SWEEP = 5,     /* it changed since, found by memrec's periodic sweep */
};

/* Counters of one process's mm, in pages except pgtables_bytes. */
struct procstat_event {
	struct mt_hdr hdr;
	__u32 reason;
	__u32 _pad;
	__u64 total_vm;
	__u64 rss_peak; /* max(hiwater_rss, current RSS, exact peak seen), as VmHWM */
	__u64 rss_anon;
	__u64 rss_file;
	__u64 rss_shmem;
	__u64 swap_ents;
	__u64 data_vm;
	__u64 stack_vm;
	__u64 pgtables_bytes;
};

#endif
