/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layouts shared by every probe group. This header is the one definition of
 * these structs: the Rust side gets them from the skeleton's generated types.
 * Only fixed-width types, so the layout is the same in BPF and in user space.
 */
#ifndef MT_EVENT_H
#define MT_EVENT_H

#define MT_COMM_LEN 16
/* Zones per node in a snapshot; the kernel has at most 6 (__MAX_NR_ZONES). */
#define MT_MAX_ZONES 6
/* Buddy orders kept per zone: NR_PAGE_ORDERS (MAX_ORDER before 6.4) is 11 on x86-64. */
#define MT_MAX_ORDERS 11
/* Stat slots per probe group (one per attached program). */
#define MT_MAX_PROBES 32

/* Every record starts with this header. */
struct mt_hdr {
	__u64 ts_ns;     /* CLOCK_BOOTTIME, ns */
	__u64 cgroup_id; /* memory-controller cgroup of the current task */
	__u32 pid;       /* thread id of the current task */
	__u32 tgid;      /* process id of the current task */
	__u32 cpu;
	__u16 kind;      /* record type within the probe group */
	__u16 probe;     /* stat slot of the program that wrote it */
	char comm[MT_COMM_LEN];
};

/* Per-probe counters kept in the kernel, summed over CPUs by user space. */
struct mt_stat {
	__u64 events; /* records written to the ring buffer */
	__u64 lost;   /* records dropped because the ring buffer was full */
};

/* Settings written into .rodata before load. */
struct mt_config {
	__u32 filter_tgid;           /* 0: any process */
	__u32 filter_comm_set;       /* 1: compare comm */
	char filter_comm[MT_COMM_LEN];
	__u64 filter_cgroup_id;      /* 0: any cgroup */
	__u32 memory_subsys_id;      /* index of the memory controller in css_set->subsys */
	__u32 nr_cpus;               /* possible CPUs, for per-CPU counter sums */
	__u64 wakeup_bytes;          /* wake the reader once this much is queued */
	__u64 procstat_min_interval_ns;
	__u64 snapshot_min_interval_ns;
	__u32 stack_every;           /* user stack of one event in this many per CPU; 0: none (stacks.h) */
	__u32 nr_nodes;              /* online node ids in node_ids[] */
	__u32 node_ids[64];
	__u32 filter_follow;         /* 1: only tasks whose tgid is in mt_followed (runtime.h) */
	__u32 _pad_follow;
};

/* One zone in a memory snapshot; values in pages, as in /proc/zoneinfo. */
struct mt_zone {
	__u64 free;
	__u64 free_cma;
	__u64 wmark_min;   /* without boost */
	__u64 wmark_low;
	__u64 wmark_high;
	__u64 wmark_promo;
	__u64 boost;
	__u64 spanned;
	__u64 present;
	__u64 managed;
	__u64 cma;
	__u64 reserved_highatomic;
	__u64 lowmem_reserve[MT_MAX_ZONES];
	__u64 nr_orders;             /* the kernel's number of buddy orders */
	__u64 nr_free[MT_MAX_ORDERS]; /* free blocks per order (free_area[o].nr_free), as /proc/buddyinfo */
};

/* Node state, values in pages as the kernel counts them (THP counts in pages too). */
struct mt_node_stats {
	__u64 nr_free_pages;
	__u64 nr_active_anon;
	__u64 nr_inactive_anon;
	__u64 nr_active_file;
	__u64 nr_inactive_file;
	__u64 nr_unevictable;
	__u64 nr_dirty;
	__u64 nr_writeback;
	__u64 nr_writeback_temp; /* ~0 when this kernel has no such counter */
	__u64 nr_anon_pages;
	__u64 nr_mapped;
	__u64 nr_file_pages;
	__u64 nr_shmem;
	__u64 nr_kernel_misc_reclaimable;
	__u64 nr_slab_reclaimable;
	__u64 nr_slab_unreclaimable;
	__u64 nr_anon_thp_pages;
	__u64 nr_shmem_thp_pages;
};

/* Why a snapshot was taken. */
enum mt_trigger {
	MT_TRIGGER_INTERVAL = 0,
	MT_TRIGGER_START = 1,
	MT_TRIGGER_END = 2,
	MT_TRIGGER_KSWAPD_WAKE = 3,
	MT_TRIGGER_DIRECT_RECLAIM = 4,
	MT_TRIGGER_OOM = 5,
	MT_TRIGGER_ALLOC_FAIL = 6,
};

/* A node and its zones at one moment. */
struct mt_snapshot {
	struct mt_hdr hdr;
	__u32 node;
	__u32 trigger;
	__u32 nr_zones; /* entries used in zones[] */
	__u32 _pad;
	struct mt_node_stats stats;
	struct mt_zone zones[MT_MAX_ZONES];
};

#endif
