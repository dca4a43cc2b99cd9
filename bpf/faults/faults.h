/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_FAULTS_H
#define MT_FAULTS_H

#include "../common/event.h"

#define FAULTS_FILE_LEN 32

enum faults_kind {
	FAULTS_FAULT = 1, /* struct faults_fault */
};

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
 */
struct faults_fault {
	struct mt_hdr hdr;
	__u64 address;
	__u64 ip;
	__u32 error_code;
	__u8 flags; /* enum faults_flag */
	__u8 vma;   /* enum faults_vma */
	__u16 _pad;
	char file[FAULTS_FILE_LEN]; /* dentry name of a file-backed VMA's file */
};

#endif
