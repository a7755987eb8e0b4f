/*
 * DualPI2 (RFC 9332): parameters and per-queue state; see aqm_dualpi2.c.
 * The defaults are those of the Linux sch_dualpi2.
 */
#ifndef AQM_DUALPI2_H
#define AQM_DUALPI2_H

#include "aqm_alg.h"

struct aqm_dualpi2_params {
	uint64_t target_ns;	/* 15 ms */
	uint64_t tupdate_ns;	/* 16 ms */
	uint64_t step_ns;	/* 1 ms: L4S step threshold on sojourn */
	uint32_t alpha_q16;	/* 0.16 Hz */
	uint32_t beta_q16;	/* 3.20 Hz */
	uint32_t k;		/* coupling factor, 2 */
	uint32_t wc_pct;	/* classic protection, 10 % */
	uint32_t min_qlen_step;	/* L backlog below which no step mark, 0 */
	uint32_t drop_on_overload;	/* 1 */
	uint32_t mtu;		/* scheduler quantum, bytes */
};

struct aqm_dualpi2 {
	struct aqm_dualpi2_params par;
	/* What the controller uses: par's, or a residual's (aqm_dualpi2.c). */
	uint64_t target_ns;
	uint64_t step_ns;
	uint32_t mult_q24[2];	/* per class; 0: no multiplier (bare) */
	uint32_t p_prime;	/* base probability p', 2^-32 */
	uint64_t qdelay_old_ns;
	int64_t credit;		/* WRR credit, bytes; >0 favours C */
	uint64_t step_marks;
	uint64_t coupled_marks;
	uint64_t classic_signals;
	uint64_t overload_drops;
};

#ifndef AQMLLM_CDEF
extern const struct aqm_alg aqm_dualpi2_alg;
#endif

#endif /* AQM_DUALPI2_H */
