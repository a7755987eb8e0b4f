/*
 * What the packet path must keep of the interval tier whatever the daemon
 * writes, checked after every operation by the ring target
 * tests/fuzz/fuzz_ring.c (under libFuzzer, and standalone through
 * fuzz_standalone.c):
 *
 *   - every open interval's counts close, per class: arrivals = departures
 *     + drops (enqueue, dequeue, limit) + backlog change since it opened;
 *   - a residual in effect lies within the AQMLLM_RES_* bounds, uses only
 *     its algorithm's knobs and ends no later than RES_MAX_TTL_NS ahead;
 *     none is kept while none is in effect.
 *
 * Each check answers NULL, or the invariant it found broken.
 */
#ifndef RING_INVARIANTS_H
#define RING_INVARIANTS_H

#include "aqm_core.h"

/* What a queue's open interval must account for, per class. */
struct ivl_shadow {
	uint64_t start_ns;
	uint32_t backlog0[2];	/* the backlog when it opened */
	uint32_t before[2];	/* the backlog before the last operation */
};

static inline void
ivl_shadow_init(struct ivl_shadow *sh, const struct aqm_queue *q)
{
	sh->start_ns = q->ivl_start_ns;
	sh->backlog0[0] = sh->before[0] = q->qlen_pkts[0];
	sh->backlog0[1] = sh->before[1] = q->qlen_pkts[1];
}

/*
 * An interval closes at the start of a call, before the call's packet is
 * counted: the new interval opens with the backlog from before the call.
 */
static inline const char *
ivl_check(const struct aqm_queue *q, struct ivl_shadow *sh)
{
	const struct aqm_ivl_acc *a;
	int64_t lhs, rhs;
	int k;

	if (q->ivl_start_ns != sh->start_ns) {
		sh->start_ns = q->ivl_start_ns;
		sh->backlog0[0] = sh->before[0];
		sh->backlog0[1] = sh->before[1];
	}
	sh->before[0] = q->qlen_pkts[0];
	sh->before[1] = q->qlen_pkts[1];
	for (k = 0; k < 2; k++) {
		a = &q->acc[k];
		lhs = a->arr_pkts;
		rhs = (int64_t)a->dep_pkts + a->drop_enq + a->drop_deq +
		    a->drop_limit + q->qlen_pkts[k] - sh->backlog0[k];
		if (lhs != rhs)
			return ("an interval's counts do not close");
	}
	return (NULL);
}

static inline const char *
residual_check(const struct aqm_queue *q, uint64_t now)
{
	const struct aqm_residual *r = &q->res;
	uint32_t used = 0;
	int k;

	if (!q->res_on) {
		if (r->log2_mult[0] || r->log2_mult[1] || r->step_us ||
		    r->log2_target)
			return ("a residual kept without being in effect");
		return (NULL);
	}
	for (k = 0; k < 2; k++)
		if (r->log2_mult[k] < AQMLLM_RES_MULT_MIN ||
		    r->log2_mult[k] > AQMLLM_RES_MULT_MAX)
			return ("a multiplier outside its bounds");
	if (r->log2_target < AQMLLM_RES_TARGET_MIN ||
	    r->log2_target > AQMLLM_RES_TARGET_MAX)
		return ("a target scale outside its bounds");
	if (r->step_us != 0 && (r->step_us < AQMLLM_RES_STEP_MIN_US ||
	    r->step_us > AQMLLM_RES_STEP_MAX_US))
		return ("a step outside its bounds");
	if (q->res_expiry_ns > now + AQMLLM_RES_MAX_TTL_NS)
		return ("a residual outlives RES_MAX_TTL_NS");
	used |= r->log2_mult[0] ? AQM_RES_K_MULT_C : 0;
	used |= r->log2_mult[1] ? AQM_RES_K_MULT_L : 0;
	used |= r->step_us ? AQM_RES_K_STEP : 0;
	used |= r->log2_target ? AQM_RES_K_TARGET : 0;
	if (used == 0 || (used & ~q->alg->res_knobs) != 0)
		return ("a residual knob its algorithm does not use");
	return (NULL);
}

#endif /* RING_INVARIANTS_H */
