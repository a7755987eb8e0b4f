/*
 * The one table of fallback AQMs, indexed by the ring's AQMLLM_FB_* id,
 * and what is common to all of them: lookup and the lazy Tupdate tick.
 * Adding an algorithm: its aqm_<name>.[ch], its id in aqmllm_ring.h, its
 * parameters and state in aqm_core.h, one line here.
 */
#include "aqm_core.h"

static const struct aqm_alg *const aqm_algs[] = {
	[AQMLLM_FB_DUALPI2] = &aqm_dualpi2_alg,
	[AQMLLM_FB_PIE] = &aqm_pie_alg,
	[AQMLLM_FB_CODEL] = &aqm_codel_alg,
};

_Static_assert(sizeof(aqm_algs) / sizeof(aqm_algs[0]) == AQMLLM_FB_COUNT,
    "one descriptor per AQMLLM_FB_* id");

const struct aqm_alg *
aqm_alg_by_id(uint32_t id)
{
	return (id < AQMLLM_FB_COUNT ? aqm_algs[id] : NULL);
}

static int
same_name(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return (*a == *b);
}

const struct aqm_alg *
aqm_alg_by_name(const char *name)
{
	uint32_t id;

	if (name == NULL)
		return (NULL);
	for (id = 0; id < AQMLLM_FB_COUNT; id++)
		if (same_name(aqm_algs[id]->name, name))
			return (aqm_algs[id]);
	return (NULL);
}

void
aqm_alg_tick(const struct aqm_alg *a, void *state, uint64_t *next_ns,
    const struct aqm_ctx *c)
{
	uint64_t qdelay, period;
	int n = 0;

	if (a->update == NULL || c->now_ns < *next_ns)
		return;
	/* Both controllers see one queue: its delay is the older head's. */
	qdelay = c->qdelay_ns[0] > c->qdelay_ns[1] ? c->qdelay_ns[0] :
	    c->qdelay_ns[1];
	period = a->tupdate_ns(state);
	while (c->now_ns >= *next_ns) {
		if (n++ == AQM_TICK_MAX_CATCHUP) {
			/* Long idle: the controller has long since settled. */
			*next_ns = c->now_ns + period;
			break;
		}
		a->update(state, qdelay);
		*next_ns += period;
	}
}
