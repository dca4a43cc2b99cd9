// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* oom: OOM-killer victims, through the oom:mark_victim tracepoint. */
#include "../common/runtime.h"
#include "oom.h"

/* Dummy instances so the skeleton also generates these enums. */
enum oom_kind _oom_kind = 0;
enum oom_probe _oom_probe = 0;

struct oom_victim _oom_victim = {};

SEC("tp/oom/mark_victim")
int oom_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	/* Never filtered: a kill matters whoever triggered it. */
	struct oom_victim *e = mt_reserve(OOM_PROBE_MARK_VICTIM, sizeof(*e));

	if (!e)
		return 0;
	mt_fill_hdr(&e->hdr, OOM_VICTIM, OOM_PROBE_MARK_VICTIM);
	e->victim_pid = BPF_CORE_READ(ctx, pid);
	if (bpf_core_field_exists(ctx->total_vm)) {
		__u32 loc = BPF_CORE_READ(ctx, __data_loc_comm);

		bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm),
					  (void *)((__u64)ctx + (loc & 0xffff)));
		e->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		e->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		e->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
		e->uid = BPF_CORE_READ(ctx, uid);
		e->pgtables_kb = BPF_CORE_READ(ctx, pgtables);
		e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
		e->has_details = 1;
	}
	mt_submit(e);
	return 0;
}
