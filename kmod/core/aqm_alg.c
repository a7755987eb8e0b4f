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

/* 2^(2^j / 256) in Q30, j = 0..7: the fractional part bit by bit. */
static const uint32_t exp2_frac_q30[8] = {
	1076653033, 1079572136, 1085434106, 1097253708,
	1121280436, 1170923762, 1276901417, 1518500250,
};

uint32_t
aqm_exp2_q8(int32_t x)
{
	uint64_t acc = 1ULL << 30;
	int32_t whole;
	int j;

	if (x > AQMLLM_RES_MULT_MAX)
		x = AQMLLM_RES_MULT_MAX;
	if (x < AQMLLM_RES_MULT_MIN)
		x = AQMLLM_RES_MULT_MIN;
	whole = x >= 0 ? x / 256 : -((-x + 255) / 256);	/* floor(x / 256) */
	for (j = 0; j < 8; j++)
		if (((uint32_t)(x - whole * 256) >> j) & 1)
			acc = (acc * exp2_frac_q30[j]) >> 30;
	/* Q30 -> Q24, times 2^whole (whole in -3..3) */
	return ((uint32_t)(whole >= 0 ? (acc << whole) >> 6 : acc >> (6 - whole)));
}
