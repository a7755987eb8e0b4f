/*
 * Shared arithmetic of the PI controllers (DualPI2's PI2 base and PIE):
 * a gain in Hz (Q16) applied to a delay difference in nanoseconds gives a
 * change of probability in 2^-32 units.
 *
 *   dp = gain * d_ns / 1e9 * 2^32 = gain_q16 * d_ns * 2^16 / 1e9
 *      = gain_q16 * d_ns * 128 / 1953125          (1e9 = 2^9 * 1953125)
 *
 * With gain_q16 <= AQM_PI_MAX_GAIN_Q16 (2^20, i.e. 16 Hz) and |d_ns|
 * clamped to AQM_PI_MAX_DELAY_NS (2^32 ns) the product stays below 2^59.
 */
#ifndef AQM_PI_H
#define AQM_PI_H

#include "aqm_fixed.h"

#define	AQM_PI_MAX_GAIN_Q16	(1U << 20)
#define	AQM_PI_MAX_DELAY_NS	(1LL << 32)

static inline int64_t
aqm_pi_clamp_delay(int64_t d)
{
	if (d > AQM_PI_MAX_DELAY_NS)
		return (AQM_PI_MAX_DELAY_NS);
	if (d < -AQM_PI_MAX_DELAY_NS)
		return (-AQM_PI_MAX_DELAY_NS);
	return (d);
}

static inline int64_t
aqm_pi_term(uint32_t gain_q16, int64_t d_ns)
{
	return ((int64_t)gain_q16 * aqm_pi_clamp_delay(d_ns) * 128 / 1953125);
}

/* p + delta, saturated to [0, AQM_PROB_ONE]. */
static inline uint32_t
aqm_prob_add(uint32_t p, int64_t delta)
{
	int64_t v = (int64_t)p + delta;

	if (v < 0)
		return (0);
	if (v > (int64_t)AQM_PROB_ONE)
		return (AQM_PROB_ONE);
	return ((uint32_t)v);
}

static inline int64_t
aqm_delay_diff(uint64_t a, uint64_t b)
{
	return (a >= b ? aqm_pi_clamp_delay((int64_t)(a - b > (uint64_t)
	    AQM_PI_MAX_DELAY_NS ? (uint64_t)AQM_PI_MAX_DELAY_NS : a - b)) :
	    -aqm_pi_clamp_delay((int64_t)(b - a > (uint64_t)
	    AQM_PI_MAX_DELAY_NS ? (uint64_t)AQM_PI_MAX_DELAY_NS : b - a)));
}

#endif /* AQM_PI_H */
