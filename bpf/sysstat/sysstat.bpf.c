// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sysstat: node and zone memory state. User space runs snapshot_now at a
 * fixed interval (and at start and end); pressure events add snapshots,
 * rate-limited per node by snapshot_min_interval_ns.
 */
#include "../common/runtime.h"
#include "../common/snapshot.h"
#include "sysstat.h"

/* Dummy instances so the skeleton also generates these enums. */
enum sysstat_kind _sysstat_kind = 0;
enum sysstat_probe _sysstat_probe = 0;
enum mt_trigger _mt_trigger = 0;

/* Run by user space through BPF_PROG_TEST_RUN; args[0] is the trigger. */
SEC("raw_tp")
int snapshot_now(struct bpf_raw_tracepoint_args *ctx)
{
	mt_emit_snapshots(SYSSTAT_SNAPSHOT, SYSSTAT_PROBE_TIMER, (__u32)ctx->args[0], 0, 0);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_kswapd_wake")
int sysstat_kswapd_wake(void *ctx)
{
	mt_emit_snapshots(SYSSTAT_SNAPSHOT, SYSSTAT_PROBE_KSWAPD_WAKE, MT_TRIGGER_KSWAPD_WAKE,
			  cfg.snapshot_min_interval_ns, 0);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int sysstat_direct_reclaim(void *ctx)
{
	mt_emit_snapshots(SYSSTAT_SNAPSHOT, SYSSTAT_PROBE_DIRECT_RECLAIM,
			  MT_TRIGGER_DIRECT_RECLAIM, cfg.snapshot_min_interval_ns, 0);
	return 0;
}

SEC("tp/oom/mark_victim")
int sysstat_oom(void *ctx)
{
	/* Always: an OOM kill is rare and the state at that moment matters. */
	mt_emit_snapshots(SYSSTAT_SNAPSHOT, SYSSTAT_PROBE_OOM, MT_TRIGGER_OOM, 0, 0);
	return 0;
}
