/*
 * Who may do what on /dev/aqmllm.  The device is root's (0600), but a
 * descriptor opened read-only (aqmllmctl stats) must not attach, detach
 * or map the ring, and only the attached daemon maps it.
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
