/*
 * The tunables behind net.inet.ip.dummynet.llm.*: every write is checked
 * against the whole set before it is kept, so a value the ring or the
 * core would refuse never becomes visible, and no writer has to undo
 * anything (an undo raced other writers).
 */
#include "llm_glue.h"

int
llm_tun_valid(const struct llm_tunables *t)
{
	if (t->batch_size < 1 || t->batch_size > LLM_BATCH_MAX ||
	    t->batch_size > t->ring_entries)
		return (0);
	if (t->verdict_timeout_us < 1 ||
	    t->verdict_timeout_us > LLM_TIMEOUT_US_MAX)
		return (0);
	if (t->limit_pkts < 1 || t->limit_pkts > LLM_LIMIT_MAX ||
	    t->limit_pkts != t->defaults.limit_pkts)
		return (0);
	if (aqm_alg_by_id(t->fallback) == NULL ||
	    t->fallback != t->defaults.fb_id)
		return (0);
	if (llm_export_name(t->export_mode) == NULL)
		return (0);
	if (t->interval_us != 0 &&
	    ((uint64_t)t->interval_us * 1000 < AQMLLM_IVL_MIN_NS ||
	    (uint64_t)t->interval_us * 1000 > AQMLLM_IVL_MAX_NS))
		return (0);
	return (aqm_params_validate(&t->defaults) == 0);
}

static int
llm_tun_commit(struct llm_tunables *t, const struct llm_tunables *trial)
{
	if (!llm_tun_valid(trial))
		return (EINVAL);
	*t = *trial;
	return (0);
}

int
llm_tun_set_u32(struct llm_tunables *t, int which, uint64_t v)
{
	struct llm_tunables trial = *t;

	if (v > 0xffffffffULL)
		return (EINVAL);
	switch (which) {
	case LLM_TUN_BATCH:
		trial.batch_size = (uint32_t)v;
		break;
	case LLM_TUN_TIMEOUT:
		trial.verdict_timeout_us = (uint32_t)v;
		break;
	case LLM_TUN_LIMIT:
		trial.limit_pkts = (uint32_t)v;
		trial.defaults.limit_pkts = (uint32_t)v;
		break;
	case LLM_TUN_INTERVAL:
		trial.interval_us = (uint32_t)v;
		break;
	default:
		return (EINVAL);
	}
	return (llm_tun_commit(t, &trial));
}

int
llm_tun_set_fallback(struct llm_tunables *t, const char *name)
{
	struct llm_tunables trial = *t;
	const struct aqm_alg *a;

	if ((a = aqm_alg_by_name(name)) == NULL)
		return (EINVAL);
	trial.fallback = a->id;
	trial.defaults.fb_id = a->id;
	return (llm_tun_commit(t, &trial));
}

/* The header's AQMLLM_EXPORT_* order. */
static const char *const llm_export_names[] = {
	[AQMLLM_EXPORT_PACKETS] = "packets",
	[AQMLLM_EXPORT_INTERVALS] = "intervals",
	[AQMLLM_EXPORT_BOTH] = "both",
};

const char *
llm_export_name(uint32_t mode)
{
	if (mode >= sizeof(llm_export_names) / sizeof(llm_export_names[0]))
		return (NULL);
	return (llm_export_names[mode]);
}

int
llm_tun_set_export(struct llm_tunables *t, const char *name)
{
	struct llm_tunables trial = *t;
	uint32_t mode;

	for (mode = AQMLLM_EXPORT_PACKETS; mode <= AQMLLM_EXPORT_BOTH; mode++)
		if (__builtin_strcmp(name, llm_export_names[mode]) == 0)
			break;
	if (mode > AQMLLM_EXPORT_BOTH)
		return (EINVAL);
	trial.export_mode = mode;
	return (llm_tun_commit(t, &trial));
}

int
llm_tun_set_param(struct llm_tunables *t, size_t off, int in_us, uint64_t v)
{
	struct llm_tunables trial = *t;
	char *base = (char *)&trial.defaults;
	uint64_t ns;
	uint32_t u;

	if (v > 0xffffffffULL)
		return (EINVAL);
	if (in_us) {
		if (off > sizeof(trial.defaults) - sizeof(ns) ||
		    off % sizeof(ns) != 0)
			return (EINVAL);
		ns = v * 1000;
		__builtin_memcpy(base + off, &ns, sizeof(ns));
	} else {
		if (off > sizeof(trial.defaults) - sizeof(u) ||
		    off % sizeof(u) != 0)
			return (EINVAL);
		u = (uint32_t)v;
		__builtin_memcpy(base + off, &u, sizeof(u));
	}
	return (llm_tun_commit(t, &trial));
}
