/*
 * aqmllm device ABI: the ioctls of /dev/aqmllm.  Shared by the kernel
 * module and, through cffi, by the daemon and aqmllmctl.  The request
 * numbers are FreeBSD _IOR/_IOW encodings; Python computes them from the
 * struct sizes cffi reports (bridge/freebsd_dev.py), so only the group
 * letter and the command numbers below are restated there.
 */
#ifndef AQMLLM_DEV_H
#define AQMLLM_DEV_H

#include "aqmllm_ring.h"

#if !defined(AQMLLM_CDEF) && (defined(_KERNEL) || defined(__FreeBSD__))
#include <sys/ioccom.h>
#endif

#define AQMLLM_DEV_NAME		"aqmllm"
#define AQMLLM_IOC_GROUP	'L'
#define AQMLLM_IOC_INFO_NR	1
#define AQMLLM_IOC_ATTACH_NR	2
#define AQMLLM_IOC_DETACH_NR	3
#define AQMLLM_IOC_STATS_NR	4
#define AQMLLM_IOC_MAP_NR	5

/* AQMLLM_IOC_INFO: geometry of the region to mmap. */
struct aqmllm_info {
	uint32_t abi_version;
	uint32_t rec_entries;
	uint32_t vd_entries;
	uint32_t nqueues;
	uint64_t region_size;
	uint32_t batch_size;
	uint32_t fallback;		/* AQMLLM_FB_* */
	uint32_t verdict_timeout_us;
	uint32_t attached;		/* a daemon holds the ring */
	uint32_t ivl_entries;		/* interval ring (ABI 2) */
	uint32_t export_mode;		/* AQMLLM_EXPORT_* */
	uint32_t interval_us;		/* 0: each fallback's Tupdate */
	uint32_t pad;
};

/* AQMLLM_IOC_ATTACH: the caller becomes the daemon. */
struct aqmllm_attach {
	uint32_t abi_version;		/* in: what the daemon speaks */
	uint32_t flags;			/* in: must be 0 */
};

/* AQMLLM_IOC_STATS: the authoritative counters (AQMLLM_CNT_*). */
struct aqmllm_stats {
	uint64_t counters[AQMLLM_CNT_SLOTS];
	uint64_t queues;		/* queues currently using the ring */
	uint64_t wakeups_sent;
};

/*
 * AQMLLM_IOC_MAP: map the region into the caller, read/write and never
 * executable (the maximum protection too, which mmap(2) of a device
 * cannot cap: the device refuses mmap(2)).  The attached daemon only.
 */
struct aqmllm_map {
	uint64_t addr;			/* out: where it is mapped */
	uint64_t size;			/* out: bytes mapped */
};

#if !defined(AQMLLM_CDEF) && (defined(_KERNEL) || defined(__FreeBSD__))
#define AQMLLM_IOC_INFO	_IOR(AQMLLM_IOC_GROUP, AQMLLM_IOC_INFO_NR, struct aqmllm_info)
#define AQMLLM_IOC_ATTACH _IOW(AQMLLM_IOC_GROUP, AQMLLM_IOC_ATTACH_NR, \
    struct aqmllm_attach)
#define AQMLLM_IOC_DETACH _IO(AQMLLM_IOC_GROUP, AQMLLM_IOC_DETACH_NR)
#define AQMLLM_IOC_STATS _IOR(AQMLLM_IOC_GROUP, AQMLLM_IOC_STATS_NR, \
    struct aqmllm_stats)
#define AQMLLM_IOC_MAP _IOR(AQMLLM_IOC_GROUP, AQMLLM_IOC_MAP_NR, \
    struct aqmllm_map)
#endif

#ifndef AQMLLM_CDEF
_Static_assert(sizeof(struct aqmllm_info) == 56, "info ABI");
_Static_assert(sizeof(struct aqmllm_attach) == 8, "attach ABI");
_Static_assert(sizeof(struct aqmllm_map) == 16, "map ABI");
_Static_assert(sizeof(struct aqmllm_stats) == AQMLLM_CNT_SLOTS * 8 + 16,
    "stats ABI");
#endif

#endif /* AQMLLM_DEV_H */
