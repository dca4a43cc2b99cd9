/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_OOM_H
#define MT_OOM_H

#include "../common/event.h"

enum oom_kind {
	OOM_VICTIM = 1, /* struct oom_victim */
};

enum oom_probe {
	OOM_PROBE_MARK_VICTIM = 0,
};

/* oom:mark_victim. Sizes in kB, exactly as the tracepoint and the kernel log give them. */
struct oom_victim {
	struct mt_hdr hdr; /* the task that ran the OOM killer */
	__s32 victim_pid;
	__u32 uid;
	char victim_comm[MT_COMM_LEN];
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u64 pgtables_kb;
	__s32 oom_score_adj;
	__u32 has_details; /* 0 on kernels whose mark_victim has only the pid */
};

#endif
