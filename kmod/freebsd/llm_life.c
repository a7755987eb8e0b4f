/*
 * Module registration bookkeeping for dn_aqm_llm.
 *
 * The kernel sends MOD_UNLOAD after a failed MOD_LOAD (kern_module.c),
 * and dummynet's unregistration of something never registered answers
 * 0 (AQM) or EINVAL (scheduler): an unload that trusted those answers
 * re-registered a descriptor into dummynet's lists just before the file
 * was freed.  So a load records what it registered, an unload undoes only
 * that, and an unload never registers anything: a step that fails leaves
 * what remains registered recorded, for the next unload to finish.
 */
#include "llm_glue.h"

int
llm_life_load(struct llm_life *l, const struct llm_life_ops *ops)
{
	int error;

	l->have = 0;
	if ((error = ops->ring_create()) != 0)
		goto fail;
	l->have |= LLM_HAVE_RING;
	if ((error = ops->dev_create()) != 0)
		goto fail;
	l->have |= LLM_HAVE_DEV;
	if ((error = ops->sched_register()) != 0)
		goto fail;
	l->have |= LLM_HAVE_SCHED;
	if ((error = ops->aqm_register()) != 0)
		goto fail;
	l->have |= LLM_HAVE_AQM;
	return (0);
fail:
	/* Nothing uses a half-loaded module yet: unwinding cannot be refused. */
	if (l->have & LLM_HAVE_SCHED)
		(void)ops->sched_unregister();
	if (l->have & LLM_HAVE_DEV)
		ops->dev_destroy();
	if (l->have & LLM_HAVE_RING)
		ops->ring_destroy();
	l->have = 0;
	return (error);
}

int
llm_life_unload(struct llm_life *l, const struct llm_life_ops *ops)
{
	int error;

	if (l->have == 0)
		return (0);	/* the load failed and undid itself */
	if ((error = ops->close_gate()) != 0)
		return (error);
	if (l->have & LLM_HAVE_SCHED) {
		if ((error = ops->sched_unregister()) != 0)
			goto refused;
		l->have &= ~LLM_HAVE_SCHED;
		/*
		 * A configuration that looked us up before we left the list
		 * has finished by now (dummynet waits for the network epoch)
		 * and holds our scheduler: stay loaded.  The scheduler stays
		 * out of the list until the next unload, which finds nothing
		 * to unregister for it.
		 */
		if (ops->sched_busy()) {
			error = EBUSY;
			goto refused;
		}
	}
	if (l->have & LLM_HAVE_AQM) {
		if ((error = ops->aqm_unregister()) != 0)
			goto refused;
		l->have &= ~LLM_HAVE_AQM;
	}
	if (l->have & LLM_HAVE_DEV) {
		ops->dev_destroy();
		l->have &= ~LLM_HAVE_DEV;
	}
	if (l->have & LLM_HAVE_RING) {
		ops->ring_destroy();
		l->have &= ~LLM_HAVE_RING;
	}
	return (0);
refused:
	ops->open_gate();
	return (error);
}

int
llm_gate_open_p(const struct llm_gate *g)
{
	return (!g->closing);
}

void
llm_gate_close(struct llm_gate *g)
{
	g->closing = 1;
}

int
llm_gate_decide(struct llm_gate *g, int users)
{
	if (users == 0)
		return (0);
	g->closing = 0;
	return (EBUSY);
}

void
llm_gate_open(struct llm_gate *g)
{
	g->closing = 0;
}
