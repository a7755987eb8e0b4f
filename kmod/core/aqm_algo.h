/*
 * The interface between the queue logic (aqm_queue.c) and the three
 * fallback AQMs (aqm_dualpi2.c, aqm_pie.c, aqm_codel.c).
 *
 * An algorithm never touches packets: the queue logic hands it an
 * aqm_ctx describing the packet and the backlog, and the algorithm
 * answers with an action.  Periodic controller updates (Tupdate) are run
 * lazily from these calls, catching up on intervals that passed while
 * nothing happened, so no timer is needed.
 */
#ifndef AQM_ALGO_H
#define AQM_ALGO_H

#include "aqm_fixed.h"
#include "../include/aqmllm_ring.h"

/* What an algorithm sees of a packet and its queue. */
struct aqm_ctx {
	uint64_t now_ns;
	uint64_t sojourn_ns;	/* this packet's sojourn (dequeue only) */
	uint64_t qdelay_ns[2];	/* head-of-queue sojourn per class, 0 if empty */
	uint32_t qlen_pkts[2];	/* backlog per class, this packet included */
	uint32_t qlen_bytes[2];
	uint32_t pkt_len;
	uint8_t ecn;		/* AQMLLM_ECN_* */
	uint8_t cls;		/* AQMLLM_CLASS_* */
	struct aqm_prng *rng;
};

#ifndef AQMLLM_CDEF
static inline int
aqm_ecn_capable(uint8_t ecn)
{
	return (ecn != AQMLLM_ECN_NOT_ECT);
}
#endif

/* ---- DualPI2, RFC 9332 (Linux sch_dualpi2 defaults) ---- */
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
	uint32_t p_prime;	/* base probability p', 2^-32 */
	uint64_t qdelay_old_ns;
	uint64_t next_update_ns;
	int64_t credit;		/* WRR credit, bytes; >0 favours C */
	uint64_t step_marks;
	uint64_t coupled_marks;
	uint64_t classic_signals;
	uint64_t overload_drops;
};

void	aqm_dualpi2_defaults(struct aqm_dualpi2_params *par);
int	aqm_dualpi2_validate(const struct aqm_dualpi2_params *par);
void	aqm_dualpi2_init(struct aqm_dualpi2 *s,
	    const struct aqm_dualpi2_params *par, uint64_t now_ns);
/* Run the PI2 update for every Tupdate boundary up to now. */
void	aqm_dualpi2_tick(struct aqm_dualpi2 *s, const struct aqm_ctx *c);
/* Decision at dequeue for the head packet of class c->cls. */
int	aqm_dualpi2_dequeue(struct aqm_dualpi2 *s, const struct aqm_ctx *c);
/* Which class to serve next (both given as backlogged or not). */
int	aqm_dualpi2_select(struct aqm_dualpi2 *s, int l_backlogged,
	    int c_backlogged, uint32_t head_len_l, uint32_t head_len_c);
uint32_t aqm_dualpi2_prob(const struct aqm_dualpi2 *s, int cls);
int	aqm_dualpi2_overloaded(const struct aqm_dualpi2 *s);

/* ---- PIE, RFC 8033 ---- */
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
	uint32_t p;		/* drop probability, 2^-32 */
	uint64_t qdelay_old_ns;
	uint64_t next_update_ns;
	int64_t burst_allowance_ns;
	uint64_t accu_prob;	/* derandomisation accumulator, 2^-32 */
	uint32_t in_measurement;
	uint64_t drops;
	uint64_t marks;
};

void	aqm_pie_defaults(struct aqm_pie_params *par);
int	aqm_pie_validate(const struct aqm_pie_params *par);
void	aqm_pie_init(struct aqm_pie *s, const struct aqm_pie_params *par,
	    uint64_t now_ns);
void	aqm_pie_tick(struct aqm_pie *s, const struct aqm_ctx *c);
/* Decision at enqueue (RFC 8033 drops on arrival). */
int	aqm_pie_enqueue(struct aqm_pie *s, const struct aqm_ctx *c);
uint32_t aqm_pie_prob(const struct aqm_pie *s);

/* ---- CoDel, RFC 8289 ---- */
struct aqm_codel_params {
	uint64_t target_ns;	/* 5 ms */
	uint64_t interval_ns;	/* 100 ms */
	uint32_t ecn;		/* 1: mark ECT packets instead of dropping */
	uint32_t mtu;		/* bytes: never drop with <= 1 MTU queued */
};

struct aqm_codel {
	struct aqm_codel_params par;
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

void	aqm_codel_defaults(struct aqm_codel_params *par);
int	aqm_codel_validate(const struct aqm_codel_params *par);
void	aqm_codel_init(struct aqm_codel *s, const struct aqm_codel_params *par,
	    uint64_t now_ns);
/* Decision at dequeue for the head packet; call again for the next head
 * after a drop, which reproduces RFC 8289's dequeue loop. */
int	aqm_codel_dequeue(struct aqm_codel *s, const struct aqm_ctx *c);
uint32_t aqm_codel_prob(const struct aqm_codel *s);

#endif /* AQM_ALGO_H */
