/*
 * The residual on a queue's fallback: the ring keeps the last validated,
 * clamped residual per queue (aqm_ring.c); the queue takes it at its next
 * call, drops the knobs its algorithm has no use for (counted), hands the
 * rest to the algorithm's residual hook, and goes back to the bare
 * algorithm when the residual expires, is withdrawn, or the daemon dies.
 * Nothing is computed while no residual is in effect: the bare fallback's
 * decisions are unchanged, bit for bit.
 */
#include "aqm_queue_int.h"

static uint32_t
knobs_of(const struct aqm_residual *res)
{
	return ((res->log2_mult[AQMLLM_CLASS_C] != 0 ? AQM_RES_K_MULT_C : 0) |
	    (res->log2_mult[AQMLLM_CLASS_L] != 0 ? AQM_RES_K_MULT_L : 0) |
	    (res->step_us != 0 ? AQM_RES_K_STEP : 0) |
	    (res->log2_target != 0 ? AQM_RES_K_TARGET : 0));
}

/* Back to the bare fallback. */
static void
res_end(struct aqm_queue *q)
{
	if (!q->res_on)
		return;
	q->alg->residual(&q->fb, NULL);
	__builtin_memset(&q->res, 0, sizeof(q->res));
	q->res_on = 0;
	q->res_expiry_ns = 0;
	q->ivl_flags |= AQMLLM_IF_RES_ENDED;
}

static void
res_take(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns)
{
	const struct aqm_res_slot *s = &r->res[q->id];
	struct aqm_residual res = s->res;
	uint32_t unused;

	q->res_gen = s->gen;
	unused = knobs_of(&res) & ~q->alg->res_knobs;
	if (unused != 0) {
		r->cnt[AQMLLM_CNT_RES_IGNORED]++;
		if (unused & AQM_RES_K_MULT_C)
			res.log2_mult[AQMLLM_CLASS_C] = 0;
		if (unused & AQM_RES_K_MULT_L)
			res.log2_mult[AQMLLM_CLASS_L] = 0;
		if (unused & AQM_RES_K_STEP)
			res.step_us = 0;
		if (unused & AQM_RES_K_TARGET)
			res.log2_target = 0;
	}
	if (knobs_of(&res) == 0 || s->expiry_ns <= now_ns) {
		res_end(q);	/* zero or withdrawn: the bare fallback */
		return;
	}
	q->res = res;
	q->res_on = 1;
	q->res_expiry_ns = s->expiry_ns;
	q->alg->residual(&q->fb, &q->res);
}

void
aqm_res_update(struct aqm_queue *q, struct aqm_ring *r, uint64_t now_ns)
{
	if (r != NULL && q->id < r->nqueues && r->res[q->id].gen != q->res_gen)
		res_take(q, r, now_ns);
	if (q->res_on && (r == NULL || now_ns >= q->res_expiry_ns ||
	    !aqm_ring_daemon_alive(r, now_ns))) {
		res_end(q);
		if (r != NULL)
			r->cnt[AQMLLM_CNT_RES_EXPIRED]++;
	}
}

void
aqm_queue_residual(const struct aqm_queue *q, struct aqm_residual *out)
{
	*out = q->res;
}
