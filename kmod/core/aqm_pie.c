/*
 * PIE, RFC 8033: a PI controller on queue delay (measured with
 * timestamps, RFC 8033 s. 5.2) updated every T_UPDATE, with the RFC's
 * auto-tuning of the gains by the size of p, the 2 % step cap, the burst
 * allowance, the enqueue safeguards and optional derandomisation
 * (s. 5.1).  Drops (or marks) are decided on arrival.
 *
 * Residual (multipliers and target; no step, ignored): the packet's class
 * multiplier scales p where it becomes a signal (the random roll and the
 * derandomisation accumulator), p itself, the controller's integrator,
 * unchanged; the target scale multiplies QDELAY_REF everywhere the RFC uses
 * it (the PI update, the burst reset, the early-exit safeguard).  Whether
 * ECT traffic is marked or dropped (mark_ecn_th) stays a property of the
 * bare p, as does the reset of the accumulator.
 */
#include "aqm_core.h"
#include "aqm_pi.h"

#define	PIE_PROB(num, den)	((uint32_t)(((uint64_t)(num) << 32) / (den)))
#define	PIE_2PCT		PIE_PROB(2, 100)
#define	PIE_10PCT		PIE_PROB(10, 100)
#define	PIE_20PCT		PIE_PROB(20, 100)
#define	PIE_HIGH_DELAY_NS	(250 * AQM_NS_PER_MS)

static void
pie_defaults(struct aqm_params *p)
{
	struct aqm_pie_params *par = &p->pie;

	__builtin_memset(par, 0, sizeof(*par));
	par->target_ns = 15 * AQM_NS_PER_MS;
	par->tupdate_ns = 15 * AQM_NS_PER_MS;
	par->max_burst_ns = 150 * AQM_NS_PER_MS;
	par->alpha_q16 = 8192;		/* 0.125 */
	par->beta_q16 = 81920;		/* 1.25 */
	par->mark_ecn_th = PIE_10PCT;
	par->ecn = 1;
	par->derand = 1;
	par->mtu = 1514;
}

static int
pie_validate(const struct aqm_params *p)
{
	const struct aqm_pie_params *par = &p->pie;

	if (par->target_ns == 0 || par->target_ns > 10 * AQM_NS_PER_S ||
	    par->tupdate_ns < AQM_NS_PER_US || par->tupdate_ns > AQM_NS_PER_S ||
	    par->max_burst_ns > 10 * AQM_NS_PER_S ||
	    par->alpha_q16 > AQM_PI_MAX_GAIN_Q16 ||
	    par->beta_q16 > AQM_PI_MAX_GAIN_Q16 ||
	    par->ecn > 1 || par->derand > 1 || par->mtu == 0 ||
	    par->mtu > 65535)
		return (AQM_EINVAL);
	return (0);
}

static void
pie_init(void *state, const struct aqm_params *p)
{
	struct aqm_pie *s = state;

	__builtin_memset(s, 0, sizeof(*s));
	s->par = p->pie;
	s->target_ns = s->par.target_ns;
	s->burst_allowance_ns = (int64_t)s->par.max_burst_ns;
}

static uint64_t
pie_tupdate(const void *state)
{
	const struct aqm_pie *s = state;

	return (s->par.tupdate_ns);
}

/* RFC 8033 s. 4.2: smaller steps while p is small, for stability. */
static int64_t
autotune(uint32_t p, int64_t delta)
{
	if (p < PIE_PROB(1, 1000000))
		return (delta / 2048);
	if (p < PIE_PROB(1, 100000))
		return (delta / 512);
	if (p < PIE_PROB(1, 10000))
		return (delta / 128);
	if (p < PIE_PROB(1, 1000))
		return (delta / 32);
	if (p < PIE_PROB(1, 100))
		return (delta / 8);
	if (p < PIE_PROB(1, 10))
		return (delta / 2);
	return (delta);
}

/* One T_UPDATE step; the queue is one FIFO: its delay is the older head's. */
static void
pie_update(void *state, uint64_t qdelay)
{
	struct aqm_pie *s = state;
	int64_t delta;
	uint64_t half = s->target_ns / 2;

	delta = aqm_pi_term(s->par.alpha_q16,
	    aqm_delay_diff(qdelay, s->target_ns));
	delta += aqm_pi_term(s->par.beta_q16,
	    aqm_delay_diff(qdelay, s->qdelay_old_ns));
	delta = autotune(s->p, delta);
	/* Never more than 2 % per update once p is above 10 %. */
	if (s->p >= PIE_10PCT && delta > (int64_t)PIE_2PCT)
		delta = PIE_2PCT;
	/* A very long queue gets an extra push. */
	if (qdelay > PIE_HIGH_DELAY_NS)
		delta += PIE_2PCT;
	s->p = aqm_prob_add(s->p, delta);
	/* Decay while the queue stays empty: p *= 0.98. */
	if (qdelay == 0 && s->qdelay_old_ns == 0)
		s->p -= (uint32_t)((uint64_t)s->p * 2 / 100);
	if (s->burst_allowance_ns > 0)
		s->burst_allowance_ns -= (int64_t)s->par.tupdate_ns;
	if (s->burst_allowance_ns < 0)
		s->burst_allowance_ns = 0;
	if (s->p == 0 && qdelay < half && s->qdelay_old_ns < half)
		s->burst_allowance_ns = (int64_t)s->par.max_burst_ns;
	s->qdelay_old_ns = qdelay;
}

static int
pie_signal(struct aqm_pie *s, const struct aqm_ctx *c)
{
	s->accu_prob = 0;
	if (s->par.ecn && aqm_ecn_capable(c->ecn) &&
	    s->p <= s->par.mark_ecn_th) {
		s->marks++;
		return (AQMLLM_ACT_MARK);
	}
	s->drops++;
	return (AQMLLM_ACT_DROP);
}

static int
pie_enqueue(void *state, const struct aqm_ctx *c)
{
	struct aqm_pie *s = state;
	uint64_t backlog;
	uint32_t p;

	if (s->burst_allowance_ns > 0)
		return (AQMLLM_ACT_PASS);
	if (s->qdelay_old_ns < s->target_ns / 2 && s->p < PIE_20PCT)
		return (AQMLLM_ACT_PASS);
	/* The backlog before this packet: never drop into a tiny queue. */
	backlog = (uint64_t)c->qlen_bytes[0] + c->qlen_bytes[1] - c->pkt_len;
	if (backlog <= 2 * (uint64_t)s->par.mtu)
		return (AQMLLM_ACT_PASS);
	p = s->mult_q24[c->cls & 1] != 0 ?
	    aqm_prob_scale(s->p, s->mult_q24[c->cls & 1]) : s->p;
	if (s->par.derand) {
		if (s->p == 0)
			s->accu_prob = 0;
		s->accu_prob += p;
		/* accu < 0.85: too early; accu >= 8.5: overdue */
		if (s->accu_prob < (uint64_t)PIE_PROB(85, 100))
			return (AQMLLM_ACT_PASS);
		if (s->accu_prob >= ((uint64_t)85 << 32) / 10)
			return (pie_signal(s, c));
	}
	if (aqm_roll(c->rng, p))
		return (pie_signal(s, c));
	return (AQMLLM_ACT_PASS);
}

/* One probability for both classes, each class's multiplier applied. */
static uint32_t
pie_prob(const void *state, int cls)
{
	const struct aqm_pie *s = state;

	if (s->mult_q24[cls & 1] == 0)
		return (s->p);
	return (aqm_prob_scale(s->p, s->mult_q24[cls & 1]));
}

/* The residual: see the head of this file.  NULL restores par's values. */
static void
pie_residual(void *state, const struct aqm_residual *res)
{
	struct aqm_pie *s = state;

	aqm_residual_mult_target(res, s->mult_q24, s->par.target_ns,
	    &s->target_ns);
}

static void
pie_interval_state(const void *state, uint32_t fb_state[3],
    uint64_t *target_ns)
{
	const struct aqm_pie *s = state;

	fb_state[0] = s->p;
	fb_state[1] = pie_prob(s, AQMLLM_CLASS_C);
	fb_state[2] = pie_prob(s, AQMLLM_CLASS_L);
	*target_ns = s->target_ns;
}

/* RFC 8033: above mark_ecn_th PIE stops marking and drops. */
static int
pie_overloaded(const void *state, const struct aqm_ctx *c)
{
	const struct aqm_pie *s = state;

	(void)c;
	return (s->p > s->par.mark_ecn_th);
}

const struct aqm_alg aqm_pie_alg = {
	.name = "pie",
	.id = AQMLLM_FB_PIE,
	.defaults = pie_defaults,
	.validate = pie_validate,
	.init = pie_init,
	.tupdate_ns = pie_tupdate,
	.update = pie_update,
	.enqueue = pie_enqueue,
	.dequeue = NULL,
	.prob = pie_prob,
	.overloaded = pie_overloaded,
	.select = NULL,
	.residual = pie_residual,
	.res_knobs = AQM_RES_K_MULT_C | AQM_RES_K_MULT_L | AQM_RES_K_TARGET,
	.interval_state = pie_interval_state,
};
