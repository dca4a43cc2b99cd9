/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_FAULTS_H
#define MT_FAULTS_H

#include "../common/event.h"

#define FAULTS_FILE_LEN 32

/*
 * Record kinds, at the offset of mt_hdr.kind (28) in every layout, so that
 * records of this ring with and without an mt_hdr are told apart.
 */
enum faults_kind {
	FAULTS_FAULT = 1,     /* struct faults_fault: the task's context as in its last FAULTS_FAULT_CTX */
	FAULTS_FAULT_CTX = 2, /* struct faults_fault_ctx: a fault and its task's context */
};

/*
 * A task's context is sent again at least this often, so the decoder can
 * forget tasks that went quiet (it keeps one context per thread id).
 */
#define FAULTS_CTX_REFRESH_NS 1000000000ULL

enum faults_probe {
	FAULTS_PROBE_MIN = 0,
	FAULTS_PROBE_MAJ = 1,
	FAULTS_PROBE_EXC_USER = 2,
	FAULTS_PROBE_EXC_KERNEL = 3,
};

/* The kind of VMA a fault hit. */
enum faults_vma {
	FAULTS_VMA_UNKNOWN = 0, /* no VMA found (the mm was busy, or it went away) */
	FAULTS_VMA_ANON = 1,
	FAULTS_VMA_FILE = 2,
	FAULTS_VMA_SHMEM = 3,   /* tmpfs, memfd, shared anonymous, SysV shm */
	FAULTS_VMA_STACK = 4,   /* the main stack (VM_GROWSDOWN) */
	FAULTS_VMA_HEAP = 5,    /* the brk area */
	FAULTS_VMA_HUGETLB = 6,
	FAULTS_VMA_IO = 7,      /* VM_IO / VM_PFNMAP: device memory */
};

/* Bits of faults_fault.flags. */
enum faults_flag {
	FAULTS_F_MAJOR = 1,
	FAULTS_F_USER = 2,      /* the faulting instruction ran in user mode */
	FAULTS_F_ERROR_CODE = 4,/* error_code is the exception's (x86) */
};

/*
 * One page fault, written when the kernel accounts it (the page-fault
 * software perf events fire in mm_account_fault()). error_code is the
 * exception's, stashed per task at fault entry where the exceptions
 * tracepoints exist.
 *
 * No mt_hdr: a storm of faults comes from few tasks, so what stays the
 * same from one fault of a task to the next (comm, memory cgroup, the file
 * of the VMA it keeps hitting) is sent in a FAULTS_FAULT_CTX record only
 * when it changes, and a plain fault is 48 bytes instead of 104 (measured:
 * ~90 ns less per fault in the program, kernel.bpf_stats_enabled).
 */
struct faults_fault {
	__u64 ts_ns;      /* CLOCK_BOOTTIME, ns */
	__u64 address;
	__u32 pid;        /* thread id of the faulting task */
	__u32 tgid;
	__u16 cpu;
	__u8 flags;       /* enum faults_flag */
	__u8 vma;         /* enum faults_vma */
	__u16 kind;       /* enum faults_kind, at mt_hdr.kind's offset */
	__u16 probe;      /* stat slot of the program, at mt_hdr.probe's offset */
	__u64 ip;
	__u32 error_code;
	__u32 _pad2;
};

/* What a task's plain faults take from its last FAULTS_FAULT_CTX record. */
struct faults_ctx {
	__u64 cgroup_id;            /* memory-controller cgroup, as mt_hdr.cgroup_id */
	char comm[MT_COMM_LEN];     /* as mt_hdr.comm */
	char file[FAULTS_FILE_LEN]; /* dentry name of the file of the VMA this fault hit (file-backed VMAs) */
};

/*
 * A fault that also sets its task's context: the task's first fault, a
 * fault on another VMA than the task's last, after comm or cgroup changed,
 * after a lost record, and at least every FAULTS_CTX_REFRESH_NS.
 */
struct faults_fault_ctx {
	struct faults_fault fault;
	struct faults_ctx ctx;
};

#endif
