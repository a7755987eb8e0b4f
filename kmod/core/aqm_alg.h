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
 */
#ifndef AQM_ALG_H
#define AQM_ALG_H

#include "aqm_fixed.h"
#include "../include/aqmllm_ring.h"

struct aqm_params;

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

#ifndef AQMLLM_CDEF
static inline int
aqm_ecn_capable(uint8_t ecn)
{
	return (ecn != AQMLLM_ECN_NOT_ECT);
}
#endif

#endif /* AQM_ALG_H */
