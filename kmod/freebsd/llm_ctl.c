/*
 * Who may do what on /dev/aqmllm, and what INFO and STATS answer.  The
 * device is root's (0600), but a descriptor opened read-only (aqmllmctl
 * stats) must not attach, detach or map the ring, and only the attached
 * daemon maps it.
 */
#include "llm_glue.h"

int
llm_ioctl_access(unsigned nr, int can_read, int can_write)
{
	switch (nr) {
	case AQMLLM_IOC_INFO_NR:
	case AQMLLM_IOC_STATS_NR:
		return (can_read ? 0 : EBADF);
	case AQMLLM_IOC_ATTACH_NR:
	case AQMLLM_IOC_DETACH_NR:
	case AQMLLM_IOC_MAP_NR:
		return (can_read && can_write ? 0 : EBADF);
	default:
		return (ENOTTY);
	}
}

int
llm_attach_decide(const struct aqmllm_attach *at, int owner)
{
	if (at->abi_version != AQMLLM_ABI_VERSION)
		return (EPROGMISMATCH);
	if (at->flags != 0)
		return (EINVAL);
	if (owner == LLM_OWNER_OTHER)
		return (EBUSY);
	return (0);
}

int
llm_detach_decide(int owner)
{
	return (owner == LLM_OWNER_SELF ? 0 : EPERM);
}

int
llm_map_decide(int owner)
{
	return (owner == LLM_OWNER_SELF ? 0 : EPERM);
}

void
llm_info_fill(struct aqmllm_info *info, const struct llm_dev_view *v)
{
	const struct aqm_ring *r = v->ring;

	__builtin_memset(info, 0, sizeof(*info));
	info->abi_version = AQMLLM_ABI_VERSION;
	info->rec_entries = r->rec_entries;
	info->vd_entries = r->vd_entries;
	info->nqueues = r->nqueues;
	info->region_size = v->region_size;
	info->batch_size = r->batch_size;
	info->fallback = v->fallback;
	info->verdict_timeout_us = v->verdict_timeout_us;
	info->attached = v->attached != 0;
	info->ivl_entries = r->ivl_entries;
	info->export_mode = r->export_mode;
	info->interval_us = (uint32_t)(r->interval_ns / 1000);
}

void
llm_stats_fill(struct aqmllm_stats *st, const struct llm_dev_view *v)
{
	int i;

	__builtin_memset(st, 0, sizeof(*st));
	for (i = 0; i < AQMLLM_CNT_COUNT; i++)
		st->counters[i] = v->ring->cnt[i];
	st->queues = v->queues;
	st->wakeups_sent = v->wakeups;
}
