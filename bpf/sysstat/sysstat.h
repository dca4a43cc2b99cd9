/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef MT_SYSSTAT_H
#define MT_SYSSTAT_H

#include "../common/event.h"

enum sysstat_kind {
	SYSSTAT_SNAPSHOT = 1, /* struct mt_snapshot */
};

enum sysstat_probe {
	SYSSTAT_PROBE_TIMER = 0,
	SYSSTAT_PROBE_KSWAPD_WAKE = 1,
	SYSSTAT_PROBE_DIRECT_RECLAIM = 2,
	SYSSTAT_PROBE_OOM = 3,
};

#endif
