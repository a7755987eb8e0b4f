/* PIE (RFC 8033): parameters and per-queue state; see aqm_pie.c. */
#ifndef AQM_PIE_H
#define AQM_PIE_H

#include "aqm_alg.h"

struct aqm_pie_params {
	uint64_t target_ns;	/* QDELAY_REF 15 ms */
	uint64_t tupdate_ns;	/* 15 ms */
	uint64_t max_burst_ns;	/* 150 ms */
	uint32_t alpha_q16;	/* 0.125 */
	uint32_t beta_q16;	/* 1.25 */
	uint32_t mark_ecn_th;	/* mark ECT only below this p, 10 % */
	uint32_t ecn;		/* 1: mark ECT packets instead of dropping */
	uint32_t derand;	/* 1: derandomised drops (RFC 8033 s. 5.1) */
	uint32_t mtu;		/* bytes, for the small-backlog safeguard */
};

struct aqm_pie {
	struct aqm_pie_params par;
	uint64_t target_ns;	/* par's, or a residual's (aqm_pie.c) */
	uint32_t mult_q24[2];	/* per class; 0: no multiplier (bare) */
	uint32_t p;		/* drop probability, 2^-32 */
	uint64_t qdelay_old_ns;
	int64_t burst_allowance_ns;
	uint64_t accu_prob;	/* derandomisation accumulator, 2^-32 */
	uint64_t drops;
	uint64_t marks;
};

#ifndef AQMLLM_CDEF
extern const struct aqm_alg aqm_pie_alg;
#endif

#endif /* AQM_PIE_H */
