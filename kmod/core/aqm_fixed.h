/*
 * Fixed-point helpers and the per-queue PRNG of the portable core.
 * No floating point anywhere: this code runs in the FreeBSD kernel.
 *
 * Probabilities are u32 scaled to 2^32 (AQM_PROB_ONE is "always").
 * Controller gains are Q16 fixed point (value * 65536).
 */
#ifndef AQM_FIXED_H
#define AQM_FIXED_H

#include "aqm_types.h"

#define AQM_PROB_ONE	0xffffffffU
#define AQM_NS_PER_US	1000ULL
#define AQM_NS_PER_MS	1000000ULL
#define AQM_NS_PER_S	1000000000ULL

/* xorshift64*: a tiny, good-enough PRNG whose state the caller seeds. */
struct aqm_prng {
	uint64_t s;
};

#ifndef AQMLLM_CDEF

static inline void
aqm_prng_seed(struct aqm_prng *r, uint64_t seed)
{
	/* splitmix64 step so that seeds 0, 1, 2 give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	r->s = z != 0 ? z : 0x2545f4914f6cdd1dULL;
}

static inline uint32_t
aqm_prng_next(struct aqm_prng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return ((uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32));
}

/* One Bernoulli trial with probability p / 2^32. */
static inline int
aqm_roll(struct aqm_prng *r, uint32_t p)
{
	if (p == 0)
		return (0);
	if (p == AQM_PROB_ONE)
		return (1);
	return (aqm_prng_next(r) < p);
}

/* p * q for two 2^-32 probabilities. */
static inline uint32_t
aqm_prob_mul(uint32_t p, uint32_t q)
{
	return ((uint32_t)(((uint64_t)p * q) >> 32));
}

static inline uint32_t
aqm_sat_u32(uint64_t v)
{
	return (v > 0xffffffffULL ? 0xffffffffU : (uint32_t)v);
}

#endif /* !AQMLLM_CDEF */

#endif /* AQM_FIXED_H */
