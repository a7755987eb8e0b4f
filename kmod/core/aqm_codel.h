/* CoDel (RFC 8289): parameters and per-queue state; see aqm_codel.c. */
#ifndef AQM_CODEL_H
#define AQM_CODEL_H

#include "aqm_alg.h"

struct aqm_codel_params {
	uint64_t target_ns;	/* 5 ms */
	uint64_t interval_ns;	/* 100 ms */
	uint32_t ecn;		/* 1: mark ECT packets instead of dropping */
	uint32_t mtu;		/* bytes: never drop with <= 1 MTU queued */
};

struct aqm_codel {
	struct aqm_codel_params par;
	/* par's, or both scaled by a residual's target scale (aqm_codel.c) */
	uint64_t target_ns;
	uint64_t interval_ns;
	uint64_t first_above_time_ns;
	uint64_t drop_next_ns;
	uint32_t count;
	uint32_t lastcount;
	uint32_t dropping;
	uint32_t sqrt_count_q16;	/* sqrt(count) * 2^16, cached */
	uint32_t skip_next;	/* deliver the next head (after a first drop) */
	uint32_t advance;	/* move drop_next on at the next head */
	uint64_t drops;
	uint64_t marks;
};

#ifndef AQMLLM_CDEF
extern const struct aqm_alg aqm_codel_alg;
#endif

#endif /* AQM_CODEL_H */
