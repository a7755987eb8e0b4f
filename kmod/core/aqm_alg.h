/*
 * The AQM descriptor: everything the queue logic (aqm_queue.c) knows of a
 * fallback AQM.  Each algorithm lives in aqm_<name>.c with its parameters
 * and state in aqm_<name>.h, and describes itself with one const struct
 * aqm_alg.  aqm_alg.c holds the one table of them, indexed by the ring's
 * AQMLLM_FB_* id; nothing outside that table chooses by the id, and every
 * name (sysctl, aqmllmctl, the simulators' command lines, Python through
 * cffi) comes from it.
 *
 * An algorithm never touches packets or queues: the queue logic hands it
 * an aqm_ctx describing the packet and the backlog, and it answers with an
 * action.  Its periodic controller update (Tupdate) runs lazily from these
 * calls, in aqm_alg_tick(), catching up on the intervals that passed while
 * nothing happened, so no timer is needed.
 *
 * A residual (the interval tier, aqmllm_ring.h VK_RESIDUAL) reaches an
 * algorithm through its `residual` hook only: the core validates and clamps
 * it, zeroes the knobs the algorithm does not use (res_knobs), and hands it
 * over when it changes, or NULL when it ends.  The algorithm keeps what it
 * derives in its own state; with no residual its decisions run the bare
 * code on the bare parameters, bit for bit.
 */
#ifndef AQM_ALG_H
#define AQM_ALG_H

#include "aqm_fixed.h"
#include "../include/aqmllm_ring.h"

struct aqm_params;

/*
 * A residual as the core applies it: clamped to the AQMLLM_RES_* bounds, in
 * the ABI's units.  All zero is no residual.
 */
struct aqm_residual {
	int16_t log2_mult[2];	/* per class (AQMLLM_CLASS_*), Q8 */
	uint16_t step_us;	/* DualPI2's L step; 0 keeps the configured one */
	int16_t log2_target;	/* classic target, Q8 */
};

/* The knobs of a residual, for aqm_alg.res_knobs. */
#define	AQM_RES_K_MULT_C	0x1
#define	AQM_RES_K_MULT_L	0x2
#define	AQM_RES_K_STEP		0x4
#define	AQM_RES_K_TARGET	0x8

/* What an algorithm sees of a packet and its queue. */
struct aqm_ctx {
	uint64_t now_ns;
	uint64_t sojourn_ns;	/* this packet's sojourn (dequeue only) */
	uint64_t qdelay_ns[2];	/* head-of-queue sojourn per class, 0 if empty */
	uint32_t qlen_pkts[2];	/* backlog per class, this packet included */
	uint32_t qlen_bytes[2];
	uint32_t pkt_len;
	uint32_t limit_pkts;	/* the queue's tail-drop limit */
	uint8_t ecn;		/* AQMLLM_ECN_* */
	uint8_t cls;		/* AQMLLM_CLASS_* */
	uint8_t pad[6];
	struct aqm_prng *rng;
};

/*
 * One fallback AQM.  `state` is the algorithm's own struct (one member of
 * union aqm_alg_state in every queue); `par` is the whole parameter set,
 * of which each algorithm reads and writes only its own member.  Hooks that
 * an algorithm does not need are NULL, as documented per hook.
 */
struct aqm_alg {
	const char *name;	/* what operators type: "dualpi2" */
	uint32_t id;		/* AQMLLM_FB_*: the records' fb_id, the table index */
	uint32_t pad;
	void	(*defaults)(struct aqm_params *par);
	int	(*validate)(const struct aqm_params *par);	/* 0 or AQM_EINVAL */
	void	(*init)(void *state, const struct aqm_params *par);
	/*
	 * The periodic controller update, run by aqm_alg_tick() once for each
	 * tupdate_ns() that passed, with the older of the two class heads'
	 * sojourn.  Both NULL: the algorithm has no periodic update.
	 */
	uint64_t (*tupdate_ns)(const void *state);
	void	(*update)(void *state, uint64_t qdelay_ns);
	/* Decision on arrival (RFC 8033); NULL: none, every packet is queued. */
	int	(*enqueue)(void *state, const struct aqm_ctx *c);
	/*
	 * Decision at dequeue for the head packet of class c->cls, called again
	 * for the next head after a drop; NULL: the decision on arrival stands.
	 */
	int	(*dequeue)(void *state, const struct aqm_ctx *c);
	/* The current signal probability for class cls, 2^-32 units. */
	uint32_t (*prob)(const void *state, int cls);
	/* In overload: the records say so, and model drops are not softened. */
	int	(*overloaded)(const void *state, const struct aqm_ctx *c);
	/*
	 * The class to serve next (a DualQ's scheduler: it serves L ahead of
	 * C, so an L packet waits behind L only), given which classes are
	 * backlogged and their heads' lengths; -1 if neither.  NULL: one FIFO
	 * across both classes, oldest head first.
	 */
	int	(*select)(void *state, int l_backlogged, int c_backlogged,
		    uint32_t head_len_l, uint32_t head_len_c);
	/*
	 * Apply a residual (its unused knobs already zero, not all zero) or,
	 * with res NULL, go back to the bare algorithm.  NULL: the algorithm
	 * takes no residual (res_knobs is then 0).
	 */
	void	(*residual)(void *state, const struct aqm_residual *res);
	uint32_t res_knobs;	/* AQM_RES_K_* the residual hook uses */
	uint32_t pad2;
	/*
	 * The interval record's view of the state: fb_state[3] (see struct
	 * aqmllm_interval) and the effective classic target in ns.
	 */
	void	(*interval_state)(const void *state, uint32_t fb_state[3],
		    uint64_t *target_ns);
};

/* At most this many updates run in one catch-up (a long idle period). */
#define	AQM_TICK_MAX_CATCHUP	64

/* The algorithm of an id or a name; NULL if there is none. */
const struct aqm_alg *aqm_alg_by_id(uint32_t id);
const struct aqm_alg *aqm_alg_by_name(const char *name);

/*
 * The lazy tick: run every update due by c->now_ns, *next_ns being the
 * next interval boundary (advanced here).
 */
void	aqm_alg_tick(const struct aqm_alg *a, void *state, uint64_t *next_ns,
	    const struct aqm_ctx *c);

/*
 * 2^(x/256) in Q24 fixed point, for x within the residual bounds (|x| <=
 * 768): what a Q8 log2 scale multiplies by.
 */
uint32_t aqm_exp2_q8(int32_t x);

#ifndef AQMLLM_CDEF
static inline int
aqm_ecn_capable(uint8_t ecn)
{
	return (ecn != AQMLLM_ECN_NOT_ECT);
}

/* A 2^-32 probability times a Q24 factor, saturated at one. */
static inline uint32_t
aqm_prob_scale(uint32_t p, uint32_t factor_q24)
{
	return (aqm_sat_u32(((uint64_t)p * factor_q24) >> 24));
}

/* A time times a Q24 factor (t below 2^36 ns, factor below 2^28). */
static inline uint64_t
aqm_time_scale(uint64_t t_ns, uint32_t factor_q24)
{
	return ((t_ns * factor_q24) >> 24);
}

/*
 * What DualPI2 and PIE take of a residual alike: the per-class multipliers
 * in Q24 (0: none) and the classic target scaled from base_ns.  res NULL:
 * none of either.
 */
static inline void
aqm_residual_mult_target(const struct aqm_residual *res, uint32_t mult_q24[2],
    uint64_t base_ns, uint64_t *target_ns)
{
	int k;

	*target_ns = base_ns;
	mult_q24[0] = mult_q24[1] = 0;
	if (res == NULL)
		return;
	for (k = 0; k < 2; k++)
		if (res->log2_mult[k] != 0)
			mult_q24[k] = aqm_exp2_q8(res->log2_mult[k]);
	if (res->log2_target != 0)
		*target_ns = aqm_time_scale(base_ns, aqm_exp2_q8(res->log2_target));
}
#endif

#endif /* AQM_ALG_H */
