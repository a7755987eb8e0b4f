/*
 * llm's dummynet AQM configuration, without the kernel: which flowsets
 * use it, and the queue parameters a configuration asks for.
 */
#include "llm_glue.h"

int
llm_fs_use(const void *aqmfp, const void *ours, const void *aqmcfg)
{
	if (aqmfp == ours)
		return (LLM_FS_LIVE);
	if (aqmcfg != NULL &&
	    ((const struct llm_aqm_cfg *)aqmcfg)->magic == LLM_CFG_MAGIC)
		return (LLM_FS_STALE);
	return (LLM_FS_OTHER);
}

int
llm_aqm_parse(const struct llm_aqm_args *a, const struct aqm_params *defaults,
    struct aqm_params *out)
{
	struct aqm_params par;

	if (a->ep_len < a->ep_min)
		return (EINVAL);
	if (a->fallback < -1 ||
	    (a->fallback >= 0 && aqm_alg_by_id((uint32_t)a->fallback) == NULL))
		return (EINVAL);
	par = *defaults;
	if (a->fallback >= 0)
		par.fb_id = (uint32_t)a->fallback;
	/* dummynet's own queue size is the limit, when given in packets */
	if (!a->qsize_bytes && a->qsize > 0)
		par.limit_pkts = (uint32_t)a->qsize;
	if (aqm_params_validate(&par) != 0)
		return (EINVAL);
	*out = par;
	return (0);
}
