/*
 * DualPI2, the DualQ Coupled AQM of RFC 9332, with the defaults of the
 * Linux implementation: one PI2 controller computes the base probability
 * p' from the larger of the two queues' head sojourn times; Classic
 * traffic sees p_C = p'^2 (two independent rolls of p'), L4S traffic the
 * coupled p_CL = k * p' or the native step on its own sojourn, whichever
 * fires.  A credit-based weighted round robin serves the L queue first
 * while guaranteeing the Classic queue its protection share.
 *
 * Residual (every knob): the C multiplier scales p' before squaring,
 * p_C = (m_C p')^2, each of the two rolls on min(1, m_C p'); the L
 * multiplier scales it before coupling, p_CL = min(1, k m_L p'); the step
 * replaces the L step threshold; the target scale multiplies the PI2
 * target.  Overload stays a property of the controller (k p' > 1, bare),
 * so the multipliers never turn marks into overload drops.
 */
#include "aqm_core.h"
#include "aqm_pi.h"

static void
dualpi2_defaults(struct aqm_params *p)
{
	struct aqm_dualpi2_params *par = &p->dualpi2;

	__builtin_memset(par, 0, sizeof(*par));
	par->target_ns = 15 * AQM_NS_PER_MS;
	par->tupdate_ns = 16 * AQM_NS_PER_MS;
	par->step_ns = 1 * AQM_NS_PER_MS;
	par->alpha_q16 = 10486;		/* 0.16 Hz */
	par->beta_q16 = 209715;		/* 3.2 Hz */
	par->k = 2;
	par->wc_pct = 10;
	par->min_qlen_step = 0;
	par->drop_on_overload = 1;
	par->mtu = 1514;
}

static int
dualpi2_validate(const struct aqm_params *p)
{
	const struct aqm_dualpi2_params *par = &p->dualpi2;

	if (par->target_ns == 0 || par->target_ns > 10 * AQM_NS_PER_S ||
	    par->tupdate_ns < AQM_NS_PER_US || par->tupdate_ns > AQM_NS_PER_S ||
	    par->step_ns > AQM_NS_PER_S ||
	    par->alpha_q16 > AQM_PI_MAX_GAIN_Q16 ||
	    par->beta_q16 > AQM_PI_MAX_GAIN_Q16 ||
	    par->k == 0 || par->k > 64 || par->wc_pct > 100 ||
	    par->drop_on_overload > 1 || par->mtu == 0 || par->mtu > 65535)
		return (AQM_EINVAL);
	return (0);
}

static void
dualpi2_init(void *state, const struct aqm_params *p)
{
	struct aqm_dualpi2 *s = state;

	__builtin_memset(s, 0, sizeof(*s));
	s->par = p->dualpi2;
	s->target_ns = s->par.target_ns;
	s->step_ns = s->par.step_ns;
	/* Start in debt so L is served first after idle (as Linux does). */
	s->credit = -(int64_t)s->par.mtu * (100 - 2 * (int64_t)s->par.wc_pct);
}

static uint64_t
dualpi2_tupdate(const void *state)
{
	const struct aqm_dualpi2 *s = state;

	return (s->par.tupdate_ns);
}

/* One PI2 step: p' += alpha (q - target) + beta (q - q_old). */
static void
dualpi2_update(void *state, uint64_t qdelay_ns)
{
	struct aqm_dualpi2 *s = state;
	int64_t delta;

	delta = aqm_pi_term(s->par.alpha_q16,
	    aqm_delay_diff(qdelay_ns, s->target_ns));
	delta += aqm_pi_term(s->par.beta_q16,
	    aqm_delay_diff(qdelay_ns, s->qdelay_old_ns));
	s->p_prime = aqm_prob_add(s->p_prime, delta);
	s->qdelay_old_ns = qdelay_ns;
}

/* k p', saturated; *overload: the bare controller is past one. */
static uint32_t
coupled_prob(const struct aqm_dualpi2 *s, int *overload)
{
	uint64_t v = (uint64_t)s->p_prime * s->par.k;

	*overload = v > AQM_PROB_ONE;
	if (s->mult_q24[AQMLLM_CLASS_L] != 0)
		v = (uint64_t)aqm_prob_scale(s->p_prime,
		    s->mult_q24[AQMLLM_CLASS_L]) * s->par.k;
	return (aqm_sat_u32(v));
}

/* p' as the Classic queue sees it: the C multiplier applied, if any. */
static uint32_t
classic_base(const struct aqm_dualpi2 *s)
{
	if (s->mult_q24[AQMLLM_CLASS_C] == 0)
		return (s->p_prime);
	return (aqm_prob_scale(s->p_prime, s->mult_q24[AQMLLM_CLASS_C]));
}

/* p_C realised as two independent rolls of p'. */
static int
classic_roll(struct aqm_dualpi2 *s, struct aqm_prng *rng)
{
	uint32_t p = classic_base(s);

	return (aqm_roll(rng, p) && aqm_roll(rng, p));
}

static int
dualpi2_dequeue(void *state, const struct aqm_ctx *c)
{
	struct aqm_dualpi2 *s = state;
	uint32_t p_cl;
	int overload;

	p_cl = coupled_prob(s, &overload);
	/* Never signal with less than two packets' worth queued. */
	if ((uint64_t)c->qlen_bytes[0] + c->qlen_bytes[1] <
	    2 * (uint64_t)s->par.mtu) {
		if (c->cls == AQMLLM_CLASS_L && c->sojourn_ns >=
		    s->step_ns && c->qlen_pkts[AQMLLM_CLASS_L] >
		    s->par.min_qlen_step) {
			s->step_marks++;
			return (AQMLLM_ACT_MARK);
		}
		return (AQMLLM_ACT_PASS);
	}
	if (c->cls == AQMLLM_CLASS_C) {
		if (!classic_roll(s, c->rng))
			return (AQMLLM_ACT_PASS);
		s->classic_signals++;
		/* Overload: Classic ECN traffic is dropped, not marked. */
		if (overload || !aqm_ecn_capable(c->ecn)) {
			if (overload)
				s->overload_drops++;
			return (AQMLLM_ACT_DROP);
		}
		return (AQMLLM_ACT_MARK);
	}
	if (overload) {
		/* L traffic under overload: p_C drops, every survivor marked. */
		if (s->par.drop_on_overload && classic_roll(s, c->rng)) {
			s->overload_drops++;
			return (AQMLLM_ACT_DROP);
		}
		return (AQMLLM_ACT_MARK);
	}
	if (aqm_roll(c->rng, p_cl)) {
		s->coupled_marks++;
		return (AQMLLM_ACT_MARK);
	}
	/* The native L4S AQM: a step on the packet's own sojourn. */
	if (c->sojourn_ns >= s->step_ns &&
	    c->qlen_pkts[AQMLLM_CLASS_L] > s->par.min_qlen_step) {
		s->step_marks++;
		return (AQMLLM_ACT_MARK);
	}
	return (AQMLLM_ACT_PASS);
}

static int
dualpi2_select(void *state, int l_backlogged, int c_backlogged,
    uint32_t head_len_l, uint32_t head_len_c)
{
	struct aqm_dualpi2 *s = state;
	int64_t wc = s->par.wc_pct, wl = 100 - (int64_t)s->par.wc_pct;

	if (!l_backlogged && !c_backlogged) {
		s->credit = -(int64_t)s->par.mtu * (wl - wc);
		return (-1);
	}
	/* L goes first unless C has earned its protected share. */
	if (l_backlogged && (!c_backlogged || s->credit <= 0)) {
		if (c_backlogged)
			s->credit += wc * head_len_l;
		return (AQMLLM_CLASS_L);
	}
	if (l_backlogged)
		s->credit -= wl * head_len_c;
	else
		s->credit = -(int64_t)s->par.mtu * (wl - wc);
	return (AQMLLM_CLASS_C);
}

static uint32_t
dualpi2_prob(const void *state, int cls)
{
	const struct aqm_dualpi2 *s = state;
	int overload;

	if (cls == AQMLLM_CLASS_L)
		return (coupled_prob(s, &overload));
	return (aqm_prob_mul(classic_base(s), classic_base(s)));
}

/* The residual: see the head of this file.  NULL restores par's values. */
static void
dualpi2_residual(void *state, const struct aqm_residual *res)
{
	struct aqm_dualpi2 *s = state;

	aqm_residual_mult_target(res, s->mult_q24, s->par.target_ns,
	    &s->target_ns);
	s->step_ns = s->par.step_ns;
	if (res != NULL && res->step_us != 0)
		s->step_ns = (uint64_t)res->step_us * AQM_NS_PER_US;
}

static void
dualpi2_interval_state(const void *state, uint32_t fb_state[3],
    uint64_t *target_ns)
{
	const struct aqm_dualpi2 *s = state;

	fb_state[0] = s->p_prime;
	fb_state[1] = dualpi2_prob(s, AQMLLM_CLASS_C);
	fb_state[2] = dualpi2_prob(s, AQMLLM_CLASS_L);
	*target_ns = s->target_ns;
}

/* k p' above one: the coupled probability saturates. */
static int
dualpi2_overloaded(const void *state, const struct aqm_ctx *c)
{
	int overload;

	(void)c;
	(void)coupled_prob(state, &overload);
	return (overload);
}

const struct aqm_alg aqm_dualpi2_alg = {
	.name = "dualpi2",
	.id = AQMLLM_FB_DUALPI2,
	.defaults = dualpi2_defaults,
	.validate = dualpi2_validate,
	.init = dualpi2_init,
	.tupdate_ns = dualpi2_tupdate,
	.update = dualpi2_update,
	.enqueue = NULL,
	.dequeue = dualpi2_dequeue,
	.prob = dualpi2_prob,
	.overloaded = dualpi2_overloaded,
	.select = dualpi2_select,
	.residual = dualpi2_residual,
	.res_knobs = AQM_RES_K_MULT_C | AQM_RES_K_MULT_L | AQM_RES_K_STEP |
	    AQM_RES_K_TARGET,
	.interval_state = dualpi2_interval_state,
};
