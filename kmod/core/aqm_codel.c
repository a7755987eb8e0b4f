/*
 * CoDel, RFC 8289.  The caller asks about one head packet per call and
 * calls again after a drop, so the RFC's dequeue loop is unrolled across
 * calls: `advance` says the previous call dropped in the dropping state
 * (the RFC then examines the next head and, if it is still above target,
 * moves drop_next on by the control law); `skip_next` says the previous
 * call made the first drop of a dropping episode (the RFC then delivers
 * the next head whatever it is).  With ECN a mark replaces the drop and
 * the marked packet is delivered, as in RFC 8289 s. 5.
 *
 * Residual (target only): CoDel has no signal probability to multiply and
 * no L step, so those knobs are ignored (and counted by the core); the
 * target scale multiplies TARGET and INTERVAL together.  Scaling both keeps
 * their ratio, the RFC's 5-10 % of the interval, and moves the delay CoDel
 * tolerates and the time it tolerates it in step: an "interval-scaled
 * target", the only knob of the control law that is not a probability.
 */
#include "aqm_core.h"

static void
codel_defaults(struct aqm_params *p)
{
	struct aqm_codel_params *par = &p->codel;

	__builtin_memset(par, 0, sizeof(*par));
	par->target_ns = 5 * AQM_NS_PER_MS;
	par->interval_ns = 100 * AQM_NS_PER_MS;
	par->ecn = 1;
	par->mtu = 1514;
}

static int
codel_validate(const struct aqm_params *p)
{
	const struct aqm_codel_params *par = &p->codel;

	if (par->target_ns == 0 || par->interval_ns == 0 ||
	    par->target_ns > par->interval_ns ||
	    par->interval_ns > 10 * AQM_NS_PER_S || par->ecn > 1 ||
	    par->mtu == 0 || par->mtu > 65535)
		return (AQM_EINVAL);
	return (0);
}

static void
codel_init(void *state, const struct aqm_params *p)
{
	struct aqm_codel *s = state;

	__builtin_memset(s, 0, sizeof(*s));
	s->par = p->codel;
	s->target_ns = s->par.target_ns;
	s->interval_ns = s->par.interval_ns;
}

/* floor(sqrt(x)), bit by bit: exact and division-free. */
static uint64_t
isqrt64(uint64_t x)
{
	uint64_t r = 0, bit = 1ULL << 62;

	while (bit > x)
		bit >>= 2;
	while (bit != 0) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else
			r >>= 1;
		bit >>= 2;
	}
	return (r);
}

static void
set_count(struct aqm_codel *s, uint32_t count)
{
	s->count = count == 0 ? 1 : count;
	s->sqrt_count_q16 = (uint32_t)isqrt64((uint64_t)s->count << 32);
}

/* t + interval / sqrt(count) */
static uint64_t
control_law(const struct aqm_codel *s, uint64_t t)
{
	return (t + (s->interval_ns << 16) / s->sqrt_count_q16);
}

/* RFC 8289 dodequeue(): has this head stayed above target long enough? */
static int
ok_to_drop(struct aqm_codel *s, const struct aqm_ctx *c)
{
	uint64_t left = (uint64_t)c->qlen_bytes[0] + c->qlen_bytes[1];

	left = left > c->pkt_len ? left - c->pkt_len : 0;
	if (c->sojourn_ns < s->target_ns || left <= s->par.mtu) {
		s->first_above_time_ns = 0;
		return (0);
	}
	if (s->first_above_time_ns == 0) {
		s->first_above_time_ns = c->now_ns + s->interval_ns;
		return (0);
	}
	return (c->now_ns >= s->first_above_time_ns);
}

static int
codel_signal(struct aqm_codel *s, const struct aqm_ctx *c, int *marked)
{
	*marked = s->par.ecn && aqm_ecn_capable(c->ecn);
	if (*marked) {
		s->marks++;
		return (AQMLLM_ACT_MARK);
	}
	s->drops++;
	return (AQMLLM_ACT_DROP);
}

static int
codel_dequeue(void *state, const struct aqm_ctx *c)
{
	struct aqm_codel *s = state;
	uint32_t left_pkts, delta;
	int ok, act, marked;

	ok = ok_to_drop(s, c);
	left_pkts = c->qlen_pkts[0] + c->qlen_pkts[1];
	left_pkts = left_pkts > 0 ? left_pkts - 1 : 0;
	if (s->skip_next) {
		s->skip_next = 0;
		return (AQMLLM_ACT_PASS);
	}
	if (s->dropping) {
		if (!ok) {
			s->dropping = 0;
			s->advance = 0;
			return (AQMLLM_ACT_PASS);
		}
		if (s->advance) {
			s->advance = 0;
			s->drop_next_ns = control_law(s, s->drop_next_ns);
		}
		if (c->now_ns < s->drop_next_ns)
			return (AQMLLM_ACT_PASS);
		set_count(s, s->count + 1);
		act = codel_signal(s, c, &marked);
		if (marked)
			s->drop_next_ns = control_law(s, s->drop_next_ns);
		else if (left_pkts == 0) {
			/* The RFC finds the queue empty: leave dropping. */
			s->dropping = 0;
			s->first_above_time_ns = 0;
		} else
			s->advance = 1;
		return (act);
	}
	if (!ok)
		return (AQMLLM_ACT_PASS);
	act = codel_signal(s, c, &marked);
	if (!marked) {
		if (left_pkts > 0)
			s->skip_next = 1;
		else
			s->first_above_time_ns = 0;
	}
	s->dropping = 1;
	/* Re-entering soon after the last episode: resume near its rate. */
	delta = s->count - s->lastcount;
	if (delta > 1 && (int64_t)(c->now_ns - s->drop_next_ns) <
	    (int64_t)(16 * s->interval_ns))
		set_count(s, delta);
	else
		set_count(s, 1);
	s->drop_next_ns = control_law(s, c->now_ns);
	s->lastcount = s->count;
	return (act);
}

/* Not a probability: the signal intensity, rising with count. */
static uint32_t
codel_prob(const void *state, int cls)
{
	const struct aqm_codel *s = state;

	(void)cls;
	if (!s->dropping)
		return (0);
	return ((uint32_t)(((uint64_t)s->count << 32) / ((uint64_t)s->count +
	    16)));
}

/* CoDel has no overload of its own: a queue three quarters full is one. */
static int
codel_overloaded(const void *state, const struct aqm_ctx *c)
{
	(void)state;
	return ((uint64_t)(c->qlen_pkts[0] + c->qlen_pkts[1]) * 4 >=
	    (uint64_t)c->limit_pkts * 3);
}

/* The residual: see the head of this file.  NULL restores par's values. */
static void
codel_residual(void *state, const struct aqm_residual *res)
{
	struct aqm_codel *s = state;
	uint32_t f;

	s->target_ns = s->par.target_ns;
	s->interval_ns = s->par.interval_ns;
	if (res == NULL || res->log2_target == 0)
		return;
	f = aqm_exp2_q8(res->log2_target);
	s->target_ns = aqm_time_scale(s->par.target_ns, f);
	s->interval_ns = aqm_time_scale(s->par.interval_ns, f);
}

static void
codel_interval_state(const void *state, uint32_t fb_state[3],
    uint64_t *target_ns)
{
	const struct aqm_codel *s = state;

	fb_state[0] = s->count;
	fb_state[1] = s->dropping != 0;
	fb_state[2] = 0;
	*target_ns = s->target_ns;
}

const struct aqm_alg aqm_codel_alg = {
	.name = "codel",
	.id = AQMLLM_FB_CODEL,
	.defaults = codel_defaults,
	.validate = codel_validate,
	.init = codel_init,
	.tupdate_ns = NULL,
	.update = NULL,
	.enqueue = NULL,
	.dequeue = codel_dequeue,
	.prob = codel_prob,
	.overloaded = codel_overloaded,
	.select = NULL,
	.residual = codel_residual,
	.res_knobs = AQM_RES_K_TARGET,
	.interval_state = codel_interval_state,
};
